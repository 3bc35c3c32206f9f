"""The release without a registry or GitHub: the version check, the assets, the workflow's
contract (every command a make target that CI runs too) and its linters, and the builder's
platform rules. The images themselves: tests/docker/test_release_images.py."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support.helpers import ROOT, run_make


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release = load(ROOT / "docker" / "release.py")
builder = load(ROOT / "docker" / "build.py")
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture
def checkout(tmp_path):
    """The files the version check reads, in a scratch copy."""
    for name in ("pyproject.toml", *release.COMPOSE_FILES):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_checkout_agrees_with_itself():
    version = release.check(None)
    assert version == release.project_version()
    assert release.check(f"v{version}") == version


def test_a_compose_default_that_drifted_from_the_version_is_named(checkout):
    compose = checkout / "compose.yaml"
    version = release.project_version(checkout)
    compose.write_text(compose.read_text().replace(f"WORKSHOP_VERSION:-{version}}}", "WORKSHOP_VERSION:-9.9.9}"))
    with pytest.raises(release.ReleaseError, match=rf"compose.yaml: .*-9.9.9.*make it .*-{re.escape(version)}"):
        release.check(None, checkout)


def test_a_release_to_another_owner_than_compose_pulls_from_is_refused(checkout):
    with pytest.raises(release.ReleaseError, match=r"learners pull from .*trainer-workshop.*pushes to a-fork"):
        release.check(None, checkout, owner="A-Fork")
    assert release.check(None, checkout, owner="Trainer-Workshop")


def test_cpu_locks_that_pin_different_versions_are_refused(checkout):
    (checkout / "docker").mkdir()
    amd64 = (ROOT / "docker" / "requirements-cpu-amd64.lock").read_text()
    (checkout / "docker" / "requirements-cpu-amd64.lock").write_text(amd64)
    (checkout / "docker" / "requirements-cpu-arm64.lock").write_text(
        amd64.replace("torch==2.13.0+cpu", "torch==2.13.0+cpu").replace(
            "\ntransformers==5.24.0", "\ntransformers==5.23.0"
        )
    )
    with pytest.raises(release.ReleaseError, match=r"pin different versions of transformers"):
        release.check(None, checkout)


def test_a_tag_that_is_not_the_version_is_refused(checkout):
    with pytest.raises(release.ReleaseError, match=r"tag v0\.0\.0-wrong is not v"):
        release.check("v0.0.0-wrong", checkout)


def test_the_release_targets_check_the_checkout_and_pack_the_labs():
    version = release.project_version()
    checked = run_make("release-check", f"TAG=v{version}")
    assert checked.returncode == 0 and f"release: version {version}" in checked.stdout, checked.stderr
    refused = run_make("release-check", "TAG=v0.0.0-wrong")
    assert refused.returncode == 2 and "tag v0.0.0-wrong is not" in refused.stderr
    packed = run_make("release-assets", timeout=300)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    with zipfile.ZipFile(ROOT / "build" / "release" / f"trainer-workshop-labs-{version}.zip") as archive:
        names = archive.namelist()
    assert f"trainer-workshop-labs-{version}/01_bootstrapping.ipynb" in names
    assert f"trainer-workshop-labs-{version}/notes/reference.md" in names


def test_assets_are_reproducible_zips_of_the_built_labs(tmp_path):
    labs = tmp_path / "labs"
    (labs / "notes").mkdir(parents=True)
    (labs / "01_lab.ipynb").write_text("{}")
    (labs / "notes" / "overview.md").write_text("# notes")
    (labs / "transformers-src").symlink_to(tmp_path)  # the image's link to the installed source: left out
    first = release.assets(labs, tmp_path / "a")
    second = release.assets(labs, tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    version = release.project_version()
    with zipfile.ZipFile(first[0]) as archive:
        assert sorted(archive.namelist()) == [
            f"trainer-workshop-labs-{version}/01_lab.ipynb",
            f"trainer-workshop-labs-{version}/notes/overview.md",
        ]
    sums = first[2].read_text()
    assert first[0].name in sums and first[1].name in sums


def test_assets_without_built_labs_say_to_build_them(tmp_path):
    with pytest.raises(release.ReleaseError, match="make labs"):
        release.assets(tmp_path, tmp_path / "out")


def workflow_commands() -> list[str]:
    commands = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            commands += [step["run"].strip() for step in job["steps"] if "run" in step]
    return commands


def test_every_workflow_command_is_a_make_target_that_ci_runs():
    assert WORKFLOWS, "no workflow in .github/workflows"
    makefile = (ROOT / "Makefile").read_text()
    # What the suite (CI's `make test`) runs through tests.support.helpers.run_make.
    tests_source = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    ran_by_ci = set(re.findall(r'run_make\(\s*"([a-z-]+)"', tests_source))
    targets = []
    for command in workflow_commands():
        # `make TARGET` with NAME=value settings only: no second command, no shell around it.
        assert re.fullmatch(r'make [a-z][a-z0-9-]*( [A-Z][A-Z0-9_]*=("\$[A-Z_]+"|[^\s;&|`$]*))*', command), (
            f"not a single make target: {command!r}"
        )
        target = command.split()[1]
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"{target}: no such Makefile target"
        targets.append(target)
    missing = sorted(set(targets) - ran_by_ci)
    assert not missing, f"the release runs make targets that CI never runs: {missing}"


def test_the_workflows_pass_their_linters():
    result = run_make("lint-workflows", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_workflow_the_schema_refuses_fails_the_lint(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    steps: []\n")  # a job with no runs-on
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "runs-on" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "platforms, push, message",
    [
        ("linux/amd64,linux/arm64", False, "loads one platform at a time"),
        ("linux/riscv64", True, "linux/riscv64 is not built"),
    ],
)
def test_platforms_the_builder_cannot_do_are_refused_with_the_fix(monkeypatch, platforms, push, message):
    monkeypatch.setenv("PLATFORMS", platforms)
    with pytest.raises(builder.BuildError, match=message):
        builder.requested_platforms(push)


def test_one_platform_or_both_when_pushing(monkeypatch):
    monkeypatch.setenv("PLATFORMS", "linux/arm64")
    assert builder.requested_platforms(False) == ["linux/arm64"]
    monkeypatch.setenv("PLATFORMS", "linux/amd64, linux/arm64")
    assert builder.requested_platforms(True) == ["linux/amd64", "linux/arm64"]
