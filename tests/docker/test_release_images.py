"""The release's image path on this amd64 host, through the make targets the release workflow
runs: the locks, linux/arm64 under emulation (qemu-user-static, set up by .ci/run; `make
test-arm64`), the hub image's start check, and the push plan (no registry is reachable here: `make publish
PUBLISH=--print` resolves what would be pushed, and nothing is pushed)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.support.helpers import ROOT, pip_setting, run_make

pytestmark = pytest.mark.timeout(1800)

ARM64_HUB_IMAGE = "trainer-workshop-hub-test-arm64"
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


@pytest.fixture(scope="module")
def arm64(docker_client):
    """An engine that runs linux/arm64 containers (binfmt_misc with qemu-aarch64). The emulated
    builds take about five minutes on two cores: `make test-arm64` runs them, `make test` not
    (CI's time; the release builds arm64 natively and runs the harness there)."""
    if os.environ.get("WORKSHOP_TEST_ARM64") != "1":
        pytest.skip("the emulated linux/arm64 builds run with `make test-arm64`, not `make test`")
    if not BINFMT.is_file() or "enabled" not in BINFMT.read_text():
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(
                "no linux/arm64 emulation (qemu-aarch64 in binfmt_misc): .ci/run prepares it; "
                "something since has unregistered it (a privileged container running systemd-binfmt?)",
                pytrace=False,
            )
        pytest.skip("no linux/arm64 emulation here (apt-get install qemu-user-static binfmt-support)")


def test_the_cpu_lock_is_what_its_sources_resolve_to(tmp_path):
    """`make lock-cpu ARCH=amd64` (the torch wheel from the wheelhouse here, the CPU index in the
    release) reproduces the committed lock byte for byte: its hashes are the files' hashes, and
    its pins still resolve from requirements.in (uv keeps the versions it starts from)."""
    output = tmp_path / "cpu-amd64.lock"
    result = run_make("lock-cpu", "ARCH=amd64", f"LOCK_OUTPUT={output}", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert output.read_text() == (ROOT / "docker" / "requirements-cpu-amd64.lock").read_text()


def test_an_arm64_lock_without_the_arm64_torch_wheel_says_where_to_lock_it(tmp_path):
    """As on the CI hosts: a wheelhouse with torch's amd64 CPU wheel only, and no index."""
    found = sorted(Path(pip_setting("global.find-links") or "/nonexistent").glob("torch-2.13.0+cpu-*_x86_64.whl"))
    if not found:
        pytest.skip("no wheelhouse with torch's amd64 CPU wheel on this host (pip's find-links)")
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    (wheelhouse / found[0].name).symlink_to(found[0])
    output = tmp_path / "cpu-arm64.lock"
    result = run_make(
        "lock-cpu",
        "ARCH=arm64",
        f"LOCK_OUTPUT={output}",
        timeout=300,
        TORCH_CPU_WHEELHOUSE=str(wheelhouse),
        TORCH_CPU_INDEX="http://127.0.0.1:9/whl/cpu",
    )
    said = result.stdout + result.stderr
    assert result.returncode == 2
    assert "torch==2.13.0+cpu has no wheels with a matching platform tag" in said  # uv's own reason
    assert "lock-cpu: uv could not lock the cpu flavour for arm64" in said
    assert "where PyTorch's CPU index is reachable" in said
    assert not output.exists() and not Path(f"{output}.new").exists()


def test_the_hub_image_builds_and_starts_on_arm64(arm64):
    built = run_make(
        "hub-image", PLATFORMS="linux/arm64", HUB_IMAGE_NAME=ARM64_HUB_IMAGE, WORKSHOP_VERSION="test", timeout=1500
    )
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    assert "linux/arm64, load" in built.stdout
    checked = run_make("hub-image-check", f"HUB_IMAGE={ARM64_HUB_IMAGE}:latest", timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "answers /hub/health" in checked.stdout


def test_the_hub_image_check_catches_a_hub_that_does_not_start(hub_image, docker_client):
    good = run_make("hub-image-check", f"HUB_IMAGE={hub_image}", timeout=300)
    assert good.returncode == 0, good.stdout + good.stderr
    # Sabotage: the same image whose hub exits at once.
    broken = docker_client.containers.create(hub_image, entrypoint=["false"])
    try:
        broken.commit("trainer-workshop-hub-test", "no-start", changes=['ENTRYPOINT ["false"]'])
    finally:
        broken.remove()
    try:
        failed = run_make("hub-image-check", "HUB_IMAGE=trainer-workshop-hub-test:no-start", timeout=300)
    finally:
        docker_client.images.remove("trainer-workshop-hub-test:no-start")
    assert failed.returncode != 0
    assert "the hub exited" in failed.stderr


def test_the_cpu_image_on_arm64_builds_its_base_layers_then_asks_for_the_lock(arm64):
    """The workshop image's non-torch layers (Debian, Python, compilers, the user) build under
    emulation; torch's arm64 CPU wheel cannot be locked here, so the build stops there, saying
    how to lock it (the release workflow does, from PyTorch's CPU index)."""
    result = run_make(
        "image",
        "FLAVOR=cpu",
        PLATFORMS="linux/arm64",
        IMAGE_NAME="trainer-workshop-test-arm64",
        WORKSHOP_VERSION="test",
        timeout=1500,
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "linux/arm64, load" in log and "[base 2/2]" in log, log[-4000:]
    # The venv stage runs FROM the base stage: its message means the base layers were built.
    assert "The cpu flavour has no lock for arm64 (docker/requirements-cpu-arm64.lock)." in log
    assert "Fix: make lock-cpu ARCH=arm64 where PyTorch's CPU wheel index is reachable" in log


def test_the_push_plan_covers_every_image_and_platform_with_attestations(docker_client):
    result = run_make("publish", "PUBLISH=--print", "PUBLISH_TO=ghcr.io/Example-Org", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    plans = [json.loads(block) for block in re.findall(r"^\{\n.*?^\}$", result.stdout, re.MULTILINE | re.DOTALL)]
    targets = {name: target for plan in plans for name, target in plan["target"].items()}
    assert set(targets) == {"workshop-cpu", "workshop-gpu", "hub"}
    version = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert f"ghcr.io/example-org/trainer-workshop:{version}-cpu" in targets["workshop-cpu"]["tags"]
    assert f"ghcr.io/example-org/trainer-workshop-hub:{version}" in targets["hub"]["tags"]
    platforms = {name: ",".join(target["platforms"]) for name, target in targets.items()}
    assert platforms == {
        "workshop-cpu": "linux/amd64,linux/arm64",
        "hub": "linux/amd64,linux/arm64",
        "workshop-gpu": "linux/amd64",
    }
    for target in targets.values():
        assert {"type=provenance,mode=max", "type=sbom"} <= set(target["attest"])


def test_publish_without_a_destination_says_where_to_set_it():
    result = run_make("publish", "PUBLISH=--print", PUBLISH_TO="")
    assert result.returncode == 2
    assert "Set PUBLISH_TO=REGISTRY/OWNER" in result.stdout
