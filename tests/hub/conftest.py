"""The hub tier: a real hub started through hub/compose.yaml, real attendee containers, the
GPU stand-in. GPU device requests need the engine started with `nvidia-container-runtime-hook`
on its PATH (.ci/run puts a stand-in there on test hosts). The engine check and the images
come from tests/conftest.py (SKIP without an engine, FAIL with REQUIRE_DOCKER=1).

Environment:
  HUB_TEST_IMAGE=NAME       the attendee image (default: the Docker tier's offline cpu image)
  HUB_TEST_HUB_IMAGE=NAME   use this hub image instead of building the target `hub`
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.helpers import BUILD
from tests.support.hub_tier import POOL, ROSTER, Hub


@pytest.fixture(scope="session")
def attendee_image(docker_client, request) -> str:
    """The CPU workshop image attendees get (jupyterhub-singleuser, user jovyan, work/labs)."""
    wanted = os.environ.get("HUB_TEST_IMAGE")
    if not wanted:
        return request.getfixturevalue("cpu_image")
    try:
        docker_client.images.get(wanted)
    except Exception:  # noqa: BLE001
        pytest.fail(f"HUB_TEST_IMAGE={wanted} is not on this engine", pytrace=False)
    return wanted


@pytest.fixture(scope="session")
def hub(docker_client, hub_image, attendee_image):
    """A hub with a pool of 3 stand-in GPUs and a roster, for the whole session."""
    h = Hub(
        docker_client,
        f"twtest-{uuid.uuid4().hex[:6]}",
        hub_image,
        attendee_image,
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
    (BUILD / "hub").mkdir(parents=True, exist_ok=True)
    (BUILD / "hub" / "hub.log").write_text(h.logs())
    h.remove()
