"""docker-bake.hcl declares each image's default base; the solo compose files, which build
without bake, must name the same ones."""

from __future__ import annotations

import re

from tests.support.helpers import ROOT


def bake_default(variable: str) -> str:
    text = (ROOT / "docker-bake.hcl").read_text(encoding="utf-8")
    (value,) = re.findall(rf'^variable "{variable}" {{ default = "([^"]*)" }}', text, flags=re.MULTILINE)
    return value


def compose_default(file: str) -> str:
    """The build arg's fallback, `BASE_IMAGE: ${VAR:-default}` (compose.gpu.yaml's `!reset` tag
    keeps a YAML loader out)."""
    (value,) = re.findall(
        r"^\s+BASE_IMAGE: \$\{\w+:-([^}]+)\}$", (ROOT / file).read_text(encoding="utf-8"), re.MULTILINE
    )
    return value


def test_solo_compose_builds_from_the_bake_files_bases():
    assert compose_default("compose.yaml") == bake_default("CPU_BASE_IMAGE")
    assert compose_default("compose.gpu.yaml") == bake_default("GPU_BASE_IMAGE")
