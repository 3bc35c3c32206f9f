"""The Docker tier: builds the workshop image (cpu flavour) once per session and runs it.

Needs a Docker engine with buildx and compose v2. Without one these tests SKIP,
saying why, unless REQUIRE_DOCKER=1 (set by .ci/run), where they FAIL instead.
The image bakes the offline test models (build/testdata, `make testdata`): no model hub.

Environment:
  REQUIRE_DOCKER=1             a missing engine is a failure, not a skip
  WORKSHOP_BASE_IMAGE=NAME     base image to build FROM (default: trainer-workshop-base:bookworm
                               when present, else docker/build.sh's default)
  WORKSHOP_TEST_IMAGE=NAME     use this already built image instead of building one
  WORKSHOP_TEST_GPU_IMAGE=1    also build and test the gpu flavour (make test-gpu-image)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docker_tier import ROOT, TESTDATA

TEST_IMAGE_NAME = "trainer-workshop-test"
LOCAL_BASE = "trainer-workshop-base:bookworm"
TEST_SETTINGS = {
    "WORKSHOP_DATA": str(TESTDATA),
    "WORKSHOP_MODEL": "/opt/workshop/data/models/minilm",
    "WORKSHOP_CAUSAL_MODEL": "/opt/workshop/data/models/tiny-gpt2",
    "WORKSHOP_DATASET": "/opt/workshop/data/sentiment",
}


def _unavailable(reason: str):
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(f"Docker tier skipped: {reason} (set REQUIRE_DOCKER=1 to make this a failure)")


@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker
    except ImportError:
        _unavailable("the docker Python package is not installed (make venv)")
    if shutil.which("docker") is None:
        _unavailable("no docker command on PATH")
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means no usable engine
        _unavailable(f"no Docker engine answers ({type(error).__name__}: {error})")
    for plugin in ("buildx", "compose"):
        if subprocess.run(["docker", plugin, "version"], capture_output=True).returncode != 0:
            _unavailable(f"`docker {plugin}` is missing")
    return client


def base_image(client) -> str | None:
    if os.environ.get("WORKSHOP_BASE_IMAGE"):
        return os.environ["WORKSHOP_BASE_IMAGE"]
    try:
        client.images.get(LOCAL_BASE)
        return LOCAL_BASE
    except Exception:  # noqa: BLE001
        return None


def torch_cpu_wheelhouse() -> str:
    configured = os.environ.get("TORCH_CPU_WHEELHOUSE")
    if not configured:
        configured = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True, text=True
        ).stdout.strip()
    return configured


def build_image(client, flavor: str, log: Path) -> str:
    if not (TESTDATA / "models" / "minilm").is_dir():
        pytest.fail(f"{TESTDATA} is missing: run `make testdata` (make test does)", pytrace=False)
    env = dict(os.environ, FLAVOR=flavor, IMAGE_NAME=TEST_IMAGE_NAME, SKIP_SIZE="1", WORKSHOP_VERSION="test",
               **TEST_SETTINGS)
    env.pop("PYTHONPATH", None)
    if flavor == "cpu":
        env["TORCH_CPU_WHEELHOUSE"] = torch_cpu_wheelhouse()
    base = base_image(client)
    if base:
        env["BASE_IMAGE"] = base
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        result = subprocess.run(["docker/build.sh"], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        pytest.fail(f"building the {flavor} image failed (log: {log}):\n{tail}", pytrace=False)
    return f"{TEST_IMAGE_NAME}:{flavor}"


@pytest.fixture(scope="session")
def cpu_image(docker_client) -> str:
    """The cpu flavour with the offline test models baked in, built once per session."""
    if os.environ.get("WORKSHOP_TEST_IMAGE"):
        return os.environ["WORKSHOP_TEST_IMAGE"]
    return build_image(docker_client, "cpu", ROOT / "build" / "docker" / "build-cpu.log")


@pytest.fixture(scope="session")
def gpu_image(docker_client) -> str:
    if os.environ.get("WORKSHOP_TEST_GPU_IMAGE") != "1":
        pytest.skip("the gpu flavour (2.6 GB of CUDA wheels) is built by `make test-gpu-image`, not by `make test`")
    return build_image(docker_client, "gpu", ROOT / "build" / "docker" / "build-gpu.log")

