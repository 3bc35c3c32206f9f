"""Fixtures the tiers share: one definition of "a usable Docker engine", and the images the
Docker and hub tiers run, built once per session through docker/build.py.

Without an engine the tests that need one SKIP, saying why, unless REQUIRE_DOCKER=1 (set by
.ci/run), where they FAIL instead.

Environment:
  REQUIRE_DOCKER=1             a missing engine is a failure, not a skip
  WORKSHOP_BASE_IMAGE=NAME     the local base docker/build.py falls back to (default
                               trainer-workshop-base:bookworm; .ci/run builds it)
  WORKSHOP_TEST_IMAGE=NAME     use this already built workshop image instead of building one
  WORKSHOP_TEST_GPU_IMAGE=1    also build and test the gpu flavour (make test-gpu-image)
  HUB_TEST_HUB_IMAGE=NAME      use this hub image instead of building one
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support.helpers import TEST_HUB_IMAGE, TEST_IMAGE, TEST_IMAGE_NAME, build_test_images


def unavailable(reason: str):
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(f"skipped: {reason} (set REQUIRE_DOCKER=1 to make this a failure)")


@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker
    except ImportError:
        unavailable("the docker Python package is not installed (make venv)")
    if shutil.which("docker") is None:
        unavailable("no docker command on PATH")
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means no usable engine
        unavailable(f"no Docker engine answers ({type(error).__name__}: {error})")
    for plugin in ("buildx", "compose"):
        if subprocess.run(["docker", plugin, "version"], capture_output=True).returncode != 0:
            unavailable(f"`docker {plugin}` is missing")
    return client


def build_test_image(target: str, name: str) -> str:
    """One docker-bake.hcl target with the offline test models baked in; returns its tag."""
    try:
        build_test_images(target)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    return name


@pytest.fixture(scope="session")
def cpu_image(docker_client) -> str:
    """The cpu flavour with the offline test models baked in, built once per session."""
    if os.environ.get("WORKSHOP_TEST_IMAGE"):
        return os.environ["WORKSHOP_TEST_IMAGE"]
    return build_test_image("workshop-cpu", TEST_IMAGE)


@pytest.fixture(scope="session")
def gpu_image(docker_client) -> str:
    if os.environ.get("WORKSHOP_TEST_GPU_IMAGE") != "1":
        pytest.skip("the gpu flavour (2.6 GB of CUDA wheels) is built by `make test-gpu-image`, not by `make test`")
    return build_test_image("workshop-gpu", f"{TEST_IMAGE_NAME}:gpu")


@pytest.fixture(scope="session")
def hub_image(docker_client) -> str:
    if os.environ.get("HUB_TEST_HUB_IMAGE"):
        return os.environ["HUB_TEST_HUB_IMAGE"]
    return build_test_image("hub", TEST_HUB_IMAGE)
