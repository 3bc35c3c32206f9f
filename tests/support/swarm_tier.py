"""A real Docker Swarm on one machine for the swarm tier: Docker-in-Docker nodes built from the
local Debian base (tests/swarm/node.Dockerfile), one manager and workers on a private network,
each node's engine reachable from the tests at tcp://NODE:2375. Images reach the nodes by
`docker save | docker load`; nodes get their devices as the `trainer-workshop.gpus` label,
the way provisioning writes it."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import docker

from tests.support.helpers import ROOT, wait_until
from tests.support.hub_tier import Hub

# The node and stand-in attendee images are built from the swarm tier's folder.
SWARM_TIER = ROOT / "tests" / "swarm"
NODE_IMAGE = "trainer-workshop-swarm-node:test"
ATTENDEE_IMAGE = "trainer-workshop-swarm-attendee:test"


def build_tier_images(base_image: str) -> None:
    """The node and the stand-in attendee image, FROM the local base (cached after the first run)."""
    for image, dockerfile in ((NODE_IMAGE, "node.Dockerfile"), (ATTENDEE_IMAGE, "attendee.Dockerfile")):
        subprocess.run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base_image}", "-t", image,
                        "-f", str(SWARM_TIER / dockerfile), str(SWARM_TIER)], check=True, capture_output=True, cwd=ROOT)


@dataclass
class Node:
    container: object
    host: str
    address: str
    engine: docker.DockerClient | None = None
    id: str = ""


@dataclass
class Swarm:
    client: docker.DockerClient
    name: str = field(default_factory=lambda: f"twswarm-{uuid.uuid4().hex[:6]}")
    nodes: list[Node] = field(default_factory=list)
    # A folder at the same path on this machine and inside every node (TLS files for the hub).
    shared: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="twswarm-")))

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    def start(self, hosts: list[str], timeout: float = 240) -> Swarm:
        self.client.networks.create(self.name, driver="bridge")
        for host in hosts:
            container = self.client.containers.run(
                NODE_IMAGE, detach=True, privileged=True, name=f"{self.name}-{host}", hostname=host,
                network=self.name, volumes={str(self.shared): {"bind": str(self.shared), "mode": "rw"}},
            )
            container.reload()
            address = container.attrs["NetworkSettings"]["Networks"][self.name]["IPAddress"]
            self.nodes.append(Node(container, host, address))
        for node in self.nodes:
            wait_until(lambda n=node: self._answers(n), timeout, f"the engine of swarm node {node.host}")
            node.engine = docker.DockerClient(base_url=f"tcp://{node.address}:2375", timeout=120)
        self.manager.engine.swarm.init(advertise_addr=self.manager.address)
        token = self.manager.engine.swarm.attrs["JoinTokens"]["Worker"]
        for node in self.nodes[1:]:
            node.engine.swarm.join([f"{self.manager.address}:2377"], token, advertise_addr=node.address)
        for node in self.nodes:
            node.id = node.engine.info()["Swarm"]["NodeID"]
        wait_until(lambda: all(n.attrs["Status"]["State"] == "ready" for n in self.manager.engine.nodes.list())
                   and len(self.manager.engine.nodes.list()) == len(self.nodes), timeout, "every node ready")
        return self

    @staticmethod
    def _answers(node: Node) -> bool:
        try:
            with socket.create_connection((node.address, 2375), timeout=2):
                return True
        except OSError:  # not listening yet
            return False

    def node(self, host: str) -> Node:
        return next(n for n in self.nodes if n.host == host)

    def label(self, host: str, devices: str) -> None:
        """What provisioning writes from the host's `nvidia-smi -L` (ansible role docker_swarm)."""
        swarm_node = self.manager.engine.nodes.get(self.node(host).id)
        spec = swarm_node.attrs["Spec"]
        spec["Labels"] = {**spec.get("Labels", {}), "trainer-workshop.gpus": devices}
        swarm_node.update(spec)

    def load(self, image: str, hosts: list[str] | None = None) -> None:
        """`docker save IMAGE | docker -H NODE load` into each node."""
        for node in self.nodes if hosts is None else [self.node(h) for h in hosts]:
            save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
            subprocess.run(["docker", "-H", f"tcp://{node.address}:2375", "load", "-q"], stdin=save.stdout,
                           check=True, capture_output=True)
            save.stdout.close()
            assert save.wait() == 0, f"docker save {image} failed"

    def stop_node(self, host: str) -> None:
        """The host is gone: its engine and everything on it stop at once."""
        self.node(host).container.kill()

    def services(self, hub: str) -> list[dict]:
        return self.manager.engine.api.services(filters={"label": f"trainer-workshop.hub={hub}"})

    def task_of(self, service_name: str) -> dict | None:
        tasks = self.manager.engine.api.tasks(filters={"service": service_name, "desired-state": "running"})
        return tasks[0] if tasks else None

    def task_history(self, service_name: str) -> str:
        """Every task of a service, as `docker service ps` shows them: for a failure's message."""
        hosts = {node.id: node.host for node in self.nodes}
        return "; ".join(
            f"{hosts.get(task.get('NodeID'), task.get('NodeID') or 'no node')}: {task['Status'].get('State')} "
            f"({task['Status'].get('Message', '')}{', ' + task['Status']['Err'] if task['Status'].get('Err') else ''})"
            for task in self.manager.engine.api.tasks(filters={"service": service_name})) or "no task"

    def remove(self) -> None:
        for container in self.client.containers.list(all=True, filters={"name": f"{self.name}-"}):
            container.remove(force=True, v=True)
        for network in self.client.networks.list(names=[self.name]):
            network.remove()
        subprocess.run(["rm", "-rf", str(self.shared)], check=False)


def certificate(folder: Path, address: str) -> Path:
    """A self-signed certificate for the hub at `address`; returns fullchain.pem."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hub",
                    "-addext", f"subjectAltName=IP:{address}", "-keyout", str(folder / "privkey.pem"),
                    "-out", str(folder / "fullchain.pem")], check=True, capture_output=True)
    (folder / "privkey.pem").chmod(0o644)
    return folder / "fullchain.pem"


def start_swarm(client, hub_image: str, devices: dict[str, str], base_image: str) -> Swarm:
    """Nodes named as `devices`' keys, each labelled with its devices, the stand-in attendee
    image on every node and the hub image on the manager."""
    build_tier_images(base_image)
    cluster = Swarm(client)
    try:
        cluster.start(list(devices))
        for host, listed in devices.items():
            cluster.label(host, listed)
        cluster.load(ATTENDEE_IMAGE)
        cluster.load(hub_image, [cluster.manager.host])
    except Exception:
        cluster.remove()
        raise
    return cluster


def swarm_hub(cluster: Swarm, hub_image: str, **settings: str) -> Hub:
    """The hub on the manager as ops start it there (hub/compose.yaml + compose.swarm.yaml),
    HTTPS on every address so the tests reach it across the nodes' network. Attendee sessions
    need REQUESTS_CA_BUNDLE set to `hub.tls_dir`/fullchain.pem."""
    tls = cluster.shared / "tls"
    certificate(tls, cluster.manager.address)
    return Hub(cluster.manager.engine, f"twswarm{uuid.uuid4().hex[:6]}", hub_image, ATTENDEE_IMAGE, env={
        "HUB_PUBLISH_IP": "0.0.0.0", "HUB_SSL_CERT": "/srv/tls/fullchain.pem", "HUB_SSL_KEY": "/srv/tls/privkey.pem",
        **settings,
    }, scheme="https", tls_dir=str(tls), address=cluster.manager.address,
        compose_files=("compose.yaml", "compose.swarm.yaml"),
        engine_env={"DOCKER_HOST": f"tcp://{cluster.manager.address}:2375"})
