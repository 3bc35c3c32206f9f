"""The ops path without Docker: ansible-lint at the production profile (offline) and a
syntax check of every playbook, with the Ansible that `make provision` installs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import ROOT

ANSIBLE_DIR = ROOT / "ansible"
BIN = Path(sys.executable).parent
PLAYBOOKS = ["provision.yml", "readiness.yml"]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=ANSIBLE_DIR,
        capture_output=True,
        text=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(Path.home())},
    )


def test_roles_and_playbooks_pass_ansible_lint_at_the_production_profile():
    result = run(str(BIN / "ansible-lint"), "--offline", "--profile", "production", "--nocolor")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax(playbook):
    result = run(str(BIN / "ansible-playbook"), "--syntax-check", "-i", "inventory.example", playbook)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_every_role_setting_is_listed_in_the_example_inventory_with_its_default():
    """inventory.example/group_vars/all.yml shows ops every setting (commented out, with
    its default); roles/*/defaults/main.yml is where they are declared."""
    import yaml

    listed_lines: list[str] = []
    for line in (ANSIBLE_DIR / "inventory.example" / "group_vars" / "all.yml").read_text().splitlines():
        if re.match(r"^# [a-z_]+:", line) or (
            listed_lines and re.match(r"^#   ", line) and not listed_lines[-1].startswith("\n")
        ):
            listed_lines.append(line[2:])
        elif listed_lines and not listed_lines[-1].startswith("\n"):
            listed_lines.append("\n")  # prose or a blank line ends a setting
    listed = yaml.safe_load("\n".join(line for line in listed_lines if line != "\n")) or {}
    declared = {}
    for defaults in sorted(ANSIBLE_DIR.glob("roles/*/defaults/main.yml")):
        declared.update(yaml.safe_load(defaults.read_text()) or {})
    assert {name: listed.get(name) for name in declared} == declared
    assert set(listed) <= set(declared), f"listed but declared by no role: {set(listed) - set(declared)}"
