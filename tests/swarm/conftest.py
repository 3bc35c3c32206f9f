"""The swarm tier: three Docker-in-Docker nodes (one manager, two workers) form a real swarm;
the hub runs on the manager through hub/compose.yaml + hub/compose.swarm.yaml (HTTPS, since
the tests reach it across the nodes' network); attendees are a small stand-in image on every
node. The engine check and the hub image come from tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from tests.helpers import BUILD
from tests.hub.hub_tier import Hub
from tests.swarm.swarm_tier import ATTENDEE_IMAGE, Swarm, build_tier_images

# Each node's devices, in the three forms provisioning writes: GPU UUIDs, MIG UUIDs, indices.
DEVICES = {
    "gpu-a": "GPU-a0000000-0000-4000-8000-000000000001,GPU-a0000000-0000-4000-8000-000000000002",
    "gpu-b": "MIG-b0000000-0000-4000-8000-000000000001,MIG-b0000000-0000-4000-8000-000000000002",
    "gpu-c": "0,1",
}


def certificate(folder, address: str) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hub",
                    "-addext", f"subjectAltName=IP:{address}", "-keyout", str(folder / "privkey.pem"),
                    "-out", str(folder / "fullchain.pem")], check=True, capture_output=True)
    (folder / "privkey.pem").chmod(0o644)


@pytest.fixture(scope="module")
def swarm(docker_client, hub_image):
    build_tier_images(os.environ.get("WORKSHOP_BASE_IMAGE", "trainer-workshop-base:bookworm"))
    cluster = Swarm(docker_client)
    try:
        cluster.start(list(DEVICES))
        for host, devices in DEVICES.items():
            cluster.label(host, devices)
        cluster.load(ATTENDEE_IMAGE)
        cluster.load(hub_image, [cluster.manager.host])
    except Exception:
        cluster.remove()
        raise
    yield cluster
    cluster.remove()


@pytest.fixture(scope="module")
def swarm_hub(swarm, hub_image, monkeypatch_module):
    tls = swarm.shared / "tls"
    tls.mkdir()
    certificate(tls, swarm.manager.address)
    # Attendee sessions (tests.hub.hub_tier.Attendee) trust the test certificate.
    monkeypatch_module.setenv("REQUESTS_CA_BUNDLE", str(tls / "fullchain.pem"))
    hub = Hub(swarm.manager.engine, f"twswarm{uuid.uuid4().hex[:6]}", hub_image, ATTENDEE_IMAGE, env={
        "HUB_PUBLISH_IP": "0.0.0.0",
        "HUB_SSL_CERT": "/srv/tls/fullchain.pem", "HUB_SSL_KEY": "/srv/tls/privkey.pem",
        "HUB_START_TIMEOUT": "120", "HUB_CPU_LIMIT": "0.5", "HUB_MEM_LIMIT": "256M", "HUB_SHM_SIZE": "64M",
    }, scheme="https", tls_dir=str(tls), address=swarm.manager.address,
        compose_files=("compose.yaml", "compose.swarm.yaml"),
        engine_env={"DOCKER_HOST": f"tcp://{swarm.manager.address}:2375"})
    try:
        hub.start()
    except Exception as error:  # noqa: BLE001
        logs = hub.logs()[-4000:]
        pytest.fail(f"the swarm hub did not start: {error}\n{logs}", pytrace=False)
    yield hub
    (BUILD / "swarm").mkdir(parents=True, exist_ok=True)
    (BUILD / "swarm" / "hub.log").write_text(hub.logs())


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch
