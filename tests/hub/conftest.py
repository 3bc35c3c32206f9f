"""The hub tier: a real hub container, real attendee containers, the GPU stand-in.

Needs a Docker engine with buildx; GPU device requests need the engine started
with `nvidia-container-runtime-hook` on its PATH (.ci/run puts a stand-in there
on test hosts). Without an engine these tests SKIP, saying why, unless
REQUIRE_DOCKER=1 (set by .ci/run), where they FAIL instead.

Environment:
  REQUIRE_DOCKER=1          a missing engine is a failure, not a skip
  HUB_TEST_IMAGE=NAME       the attendee image (default: the Docker tier's offline cpu
                            image trainer-workshop-test:cpu, built if missing, else
                            trainer-workshop:cpu)
  HUB_TEST_HUB_IMAGE=NAME   use this hub image instead of building hub/ (trainer-workshop-hub:test)
  WORKSHOP_BASE_IMAGE=NAME  base to build the hub FROM (default: trainer-workshop-base:bookworm if present)
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid

import pytest

from hub_tier import HUB_IMAGE, POOL, ROOT, ROSTER, Hub, build_hub_image


def _load_docker_tier():
    """The Docker tier's conftest (tests/docker), for its engine check and its image build."""
    here = str(ROOT / "tests" / "docker")
    if here not in sys.path:
        sys.path.insert(0, here)
    spec = importlib.util.spec_from_file_location("docker_tier_conftest", ROOT / "tests" / "docker" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DOCKER_TIER = _load_docker_tier()


@pytest.fixture(scope="session")
def hub_docker(docker_client):
    """The same engine check as the Docker tier: SKIP without an engine, FAIL with REQUIRE_DOCKER=1."""
    return docker_client


# The Docker tier's fixture, shared: one definition of "a usable engine".
docker_client = DOCKER_TIER.docker_client


def _image_exists(client, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def attendee_image(hub_docker) -> str:
    """The CPU workshop image attendees get (jupyterhub-singleuser, user jovyan, work/labs)."""
    wanted = os.environ.get("HUB_TEST_IMAGE")
    if wanted:
        if not _image_exists(hub_docker, wanted):
            pytest.fail(f"HUB_TEST_IMAGE={wanted} is not on this engine", pytrace=False)
        return wanted
    if _image_exists(hub_docker, "trainer-workshop-test:cpu"):  # the Docker tier built it this session
        return "trainer-workshop-test:cpu"
    # Build it the way the Docker tier does (offline test models baked in: no model hub).
    return DOCKER_TIER.build_image(hub_docker, "cpu", ROOT / "build" / "docker" / "build-cpu.log")


@pytest.fixture(scope="session")
def hub_image(hub_docker) -> str:
    if os.environ.get("HUB_TEST_HUB_IMAGE"):
        return os.environ["HUB_TEST_HUB_IMAGE"]
    try:
        return build_hub_image(hub_docker, HUB_IMAGE, ROOT / "build" / "hub" / "build-hub.log")
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def hub(hub_docker, hub_image, attendee_image):
    """A hub with a pool of 3 stand-in GPUs and a roster, for the whole session."""
    h = Hub(
        hub_docker, f"twtest-{uuid.uuid4().hex[:6]}", hub_image, attendee_image,
        env={
            "HUB_GPUS": ",".join(POOL),
            "HUB_ROSTER": ",".join(ROSTER),
            "HUB_CPU_LIMIT": "1.5",
            "HUB_MEM_LIMIT": "3G",
            "HUB_SHM_SIZE": "512M",
            "HUB_START_TIMEOUT": "300",
            "HUB_SINGLEUSER_ENV": "WORKSHOP_LAB_SIZE=smoke",
        },
    )
    try:
        h.start()
    except Exception as e:  # noqa: BLE001
        logs = h.logs()[-4000:]
        h.remove()
        pytest.fail(f"the hub did not start: {e}\n{logs}", pytrace=False)
    yield h
    log_dir = ROOT / "build" / "hub"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "hub.log").write_text(h.logs())
    h.remove()
