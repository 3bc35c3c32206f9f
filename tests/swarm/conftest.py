"""The swarm tier: three Docker-in-Docker nodes (one manager, two workers) form a real swarm;
the hub runs on the manager through hub/compose.yaml + hub/compose.swarm.yaml (HTTPS, since
the tests reach it across the nodes' network); attendees are a small stand-in image on every
node. The engine check and the hub image come from tests/conftest.py."""

from __future__ import annotations

import os

import pytest

from tests.support.helpers import BUILD
from tests.support.swarm_tier import start_swarm, swarm_hub as start_hub

# Each node's devices, in the three forms provisioning writes: GPU UUIDs, MIG UUIDs, indices.
DEVICES = {
    "gpu-a": "GPU-a0000000-0000-4000-8000-000000000001,GPU-a0000000-0000-4000-8000-000000000002",
    "gpu-b": "MIG-b0000000-0000-4000-8000-000000000001,MIG-b0000000-0000-4000-8000-000000000002",
    "gpu-c": "0,1",
}


@pytest.fixture(scope="module")
def swarm(docker_client, hub_image):
    cluster = start_swarm(docker_client, hub_image, DEVICES,
                          os.environ.get("WORKSHOP_BASE_IMAGE", "trainer-workshop-base:bookworm"))
    yield cluster
    cluster.remove()


@pytest.fixture(scope="module")
def swarm_hub(swarm, hub_image):
    hub = start_hub(swarm, hub_image, HUB_START_TIMEOUT="120", HUB_CPU_LIMIT="0.5", HUB_MEM_LIMIT="256M",
                    HUB_SHM_SIZE="64M")
    with pytest.MonkeyPatch.context() as patch:
        # Attendee sessions (tests.support.hub_tier.Attendee) trust the test certificate.
        patch.setenv("REQUESTS_CA_BUNDLE", f"{hub.tls_dir}/fullchain.pem")
        try:
            hub.start(timeout=240)
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"the swarm hub did not start: {error}\n{hub.logs()[-4000:]}", pytrace=False)
        yield hub
        (BUILD / "swarm").mkdir(parents=True, exist_ok=True)
        (BUILD / "swarm" / "hub.log").write_text(hub.logs())
