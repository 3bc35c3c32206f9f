"""GPU slots: which (node, device) pairs the hub may hand out, who holds which, and the one rule
that picks the next attendee's. Pure Python over the Docker API's lists, unit-tested alone.

- The pool: a single host is a one-node pool (`one_host`, the devices of HUB_GPUS). In a swarm
  each node's label `trainer-workshop.gpus` (written by provisioning from the host's
  `nvidia-smi -L`: GPU UUIDs, MIG UUIDs where a GPU is split, or indices) lists its devices;
  a slot is (node, device). Nodes that are down, drained or mislabelled give no slots, and say
  why (the roster shows it).
- What is held is read from what runs, and each mode counts its own: one host, every attendee
  container on the engine with the `trainer-workshop.gpu` label that has not exited, whichever
  hub started it (two hubs on one host share its GPUs; `held_on_one_host`); a swarm, this hub's
  services by their labels `trainer-workshop.node` and `trainer-workshop.gpu` (`held_slots`).
  Nothing else is stored: after a hub restart the held slots are exactly what exists, and
  removing a container or service is the only way to free one.
- Placement (`choose_slot`, both modes): the least-held device, on the node with the most room
  (attendees spread over the hosts), pool order breaking ties; or, for an attendee whose work
  lives on a node, on that node only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from . import LABEL_GPU, LABEL_HUB, LABEL_NODE
from .gpus import parse_pool

# On each swarm node: the devices its attendees may hold ("none": a node for the hub only).
LABEL_NODE_DEVICES = "trainer-workshop.gpus"
# A node's availability, as the roster and the attendee read it.
ADJECTIVE = {"drain": "drained", "pause": "paused"}
# The node id of a single host's one-node pool (it is no swarm node, so it has none).
ONE_HOST = ""


@dataclass(frozen=True)
class Node:
    id: str
    host: str
    devices: tuple[str, ...]
    # Why the node takes no attendees now ("" when it does).
    problem: str = ""

    @property
    def usable(self) -> bool:
        return not self.problem and bool(self.devices)


@dataclass(frozen=True)
class Slot:
    node: str
    host: str
    device: str


class NoSlot(Exception):
    """No slot can be given; `message` is what the attendee reads."""

    reason = "no_slot"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PoolFull(NoSlot):
    reason = "gpu_pool_full"


class HomeNodeFull(NoSlot):
    reason = "home_node_full"


class HomeNodeGone(NoSlot):
    reason = "home_node_gone"


def nodes_from_swarm(api_nodes: Iterable[dict]) -> list[Node]:
    """The Docker API's node list (`docker node inspect`) -> Nodes, sorted by host name."""
    nodes = []
    for raw in api_nodes:
        spec = raw.get("Spec") or {}
        host = (raw.get("Description") or {}).get("Hostname") or raw["ID"][:12]
        state = (raw.get("Status") or {}).get("State", "unknown")
        availability = spec.get("Availability", "active")
        label = (spec.get("Labels") or {}).get(LABEL_NODE_DEVICES)
        devices: tuple[str, ...] = ()
        problem = ""
        if label is None:
            problem = f"no {LABEL_NODE_DEVICES} label (provisioning writes it from nvidia-smi -L)"
        else:
            try:
                devices = tuple(parse_pool(label))
            except ValueError as error:
                problem = f"label {LABEL_NODE_DEVICES}={label!r} is not a device list ({error})"
        if state != "ready":
            problem = f"node is {state}"
        elif availability != "active":
            problem = f"node is {ADJECTIVE.get(availability, availability)}"
        nodes.append(Node(raw["ID"], host, devices, problem))
    return sorted(nodes, key=lambda node: (node.host, node.id))


def one_host(devices: Iterable[str]) -> list[Node]:
    """The pool of a single host: one node, the hub's own engine, holding these devices."""
    return [Node(ONE_HOST, "this host", tuple(devices))]


def held_on_one_host(api_containers: Iterable[dict]) -> Counter:
    """(ONE_HOST, device) -> how many attendee containers on the engine hold it, any hub's."""
    held: Counter = Counter()
    for container in api_containers:
        if container.get("State") in ("exited", "dead"):
            continue
        for device in (container.get("Labels") or {}).get(LABEL_GPU, "").split(","):
            if device:
                held[(ONE_HOST, device)] += 1
    return held


def held_slots(api_services: Iterable[dict], hub: str) -> Counter:
    """(node id, device) -> how many of this hub's attendee services hold it."""
    held: Counter = Counter()
    for service in api_services:
        labels = (service.get("Spec") or {}).get("Labels") or {}
        if labels.get(LABEL_HUB) == hub and labels.get(LABEL_NODE) and labels.get(LABEL_GPU):
            held[(labels[LABEL_NODE], labels[LABEL_GPU])] += 1
    return held


def _room(node: Node, held: Counter, users_per_gpu: int) -> int:
    return sum(users_per_gpu - held.get((node.id, device), 0) for device in node.devices)


def choose_slot(nodes: list[Node], held: Counter, users_per_gpu: int = 1, home: str | None = None) -> Slot:
    """The slot for the next attendee (see the module's doc); NoSlot says why there is none.

    `home`: the id of the node that holds this attendee's work, or None (new attendee, or
    work on shared storage)."""
    if home is not None:
        node = next((n for n in nodes if n.id == home), None)
        if node is None or not node.usable:
            where = node.host if node else f"a node no longer in the swarm ({home[:12]})"
            why = f" ({node.problem})" if node and node.problem else ""
            raise HomeNodeGone(
                f"Your work is on {where}{why}, which cannot take servers now. No server was started, "
                "and your work is kept there. Ask your instructor: they can bring the node back, or move you."
            )
        candidates = [node]
    else:
        candidates = [n for n in nodes if n.usable]
    free = [
        (node, device)
        for node in candidates
        for device in node.devices
        if held.get((node.id, device), 0) < users_per_gpu
    ]
    if not free:
        sharing = f" ({users_per_gpu} attendees per GPU)" if users_per_gpu > 1 else ""
        if home is not None:
            raise HomeNodeFull(
                f"Your work is on {candidates[0].host}, and all its {len(candidates[0].devices)} GPUs are in use"
                f"{sharing}. No server was started. Try again when someone there stops, or ask your instructor."
            )
        usable = [n for n in nodes if n.usable]
        where = "on this hub" if [n.id for n in nodes] == [ONE_HOST] else f"on {len(usable)} hosts of this hub"
        raise PoolFull(
            f"No GPU is free: all {sum(len(n.devices) for n in usable)} GPUs {where} are in use{sharing}. "
            "No server was started. Ask your instructor, or try again when someone stops their server."
        )
    order = {node.id: index for index, node in enumerate(nodes)}

    def preference(pair):
        node, device = pair
        # Least-held device first, then the node with the most room left, then a stable order.
        return (held.get((node.id, device), 0), -_room(node, held, users_per_gpu), order[node.id],
                node.devices.index(device))

    node, device = min(free, key=preference)
    return Slot(node.id, node.host, device)


def capacity(nodes: list[Node], held: Counter, users_per_gpu: int = 1) -> list[dict]:
    """Per node: host, devices, slots used / total, and why it takes no attendees (if so)."""
    return [
        {
            "node": node.id,
            "host": node.host,
            "devices": list(node.devices),
            "used": sum(held.get((node.id, device), 0) for device in node.devices),
            "total": len(node.devices) * users_per_gpu,
            "problem": node.problem,
        }
        for node in nodes
    ]


def nfs_volume_options(nfs: str, subdir: str) -> dict[str, str]:
    """Docker's local volume driver options for SERVER:/EXPORT/subdir over NFSv4 (HUB_WORK_NFS):
    work every node can mount, so an attendee has no home node."""
    server, _, export = nfs.partition(":")
    return {"type": "nfs", "o": f"addr={server},rw,nfsvers=4,hard", "device": f":{export.rstrip('/')}/{subdir}"}
