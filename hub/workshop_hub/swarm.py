"""SwarmSpawner that places each attendee on one GPU of one host of a Docker Swarm.

The multi-host twin of `spawner.WorkshopSpawner` (one config, HUB_MODE=swarm switches):
- Each attendee's server is a swarm service pinned to its node (`node.id==…`) that holds
  one device. Swarm services take no device requests, so the device reaches the container
  as NVIDIA_VISIBLE_DEVICES, which the NVIDIA runtime, the default runtime on every GPU
  node (provisioning sets it), honours.
- The slot comes from the same rule, under the same lock, as on one host
  (`placement.SlotPlacement`); what is held is read from this hub's services' labels plus
  in-flight reservations, nothing else, so a hub restart sees exactly what runs, and removing
  the service (stop, cull, pool check) frees the slot.
- Work: a named volume per attendee on the node where the server ran (fast local disk).
  The spawner remembers that node (`work_node`, in JupyterHub's own spawner state) and
  sends the attendee back there; when that node is down the spawn fails saying so, and the
  work stays where it is. With HUB_WORK_NFS the volume is an NFS directory instead: any
  node will do, and there is no home node.
- A server whose node goes down is reported stopped at the next poll, so the hub removes
  its service (freeing the slot once) and the attendee sees why on their next start.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import docker
from docker.types import DriverConfig, Mount
from dockerspawner import SwarmSpawner
from traitlets import Integer, Unicode

from . import LABEL_GPU, LABEL_HUB, LABEL_NODE, LABEL_STARTED, LABEL_USER
from .placement import SlotPlacement
from .servicedns import name_resolves
from .slots import Node, Slot, held_slots, nfs_volume_options, nodes_from_swarm

WORK_MOUNT = "/home/jovyan/work"


class WorkshopSwarmSpawner(SlotPlacement, SwarmSpawner):
    work_nfs = Unicode("", config=True, help="SERVER:/EXPORT holding every attendee's work; '' = a volume on the node.")
    work_nfs_mount = Unicode("", config=True, help="Where the hub itself has work_nfs mounted (to make the folders).")
    name_timeout = Integer(30, config=True, help=(
        "Seconds a running server's service name may take to resolve at the hub before its task is started "
        "again, once (a task the swarm's DNS never learned of: see servicedns)."))

    slot_node = Unicode("", help="Node id of the running server's slot.")
    slot_host = Unicode("", help="Host name of that node.")
    slot_device = Unicode("", help="Device of the running server's slot.")
    work_node = Unicode("", help="Node id holding this attendee's work volume ('' before the first start).")

    @property
    def work_volume(self) -> str:
        """This attendee's work volume: the one `volumes` mounts at WORK_MOUNT, named as on one host."""
        return next(source for source, bind in self.volume_binds.items() if bind["bind"] == WORK_MOUNT)

    @property
    def mounts(self):
        """The work volume (node-local, or NFS through the local driver's nfs options) and /dev/shm,
        a tmpfs of the size `extra_host_config` gives one host (services take no host config)."""
        driver = None
        if self.work_nfs:
            driver = DriverConfig("local", nfs_volume_options(self.work_nfs, self.escaped_name))
        shm_size = self.extra_host_config["shm_size"].lower()
        return [
            Mount(target=WORK_MOUNT, source=self.work_volume, type="volume", driver_config=driver),
            Mount(target="/dev/shm", source=None, type="tmpfs", tmpfs_size=shm_size),
        ]

    async def pool_nodes(self) -> list[Node]:
        return nodes_from_swarm(await self.docker("nodes"))

    async def held_by_others(self) -> Counter:
        """Slots held by this hub's other services."""
        services = await self.docker("services", filters={"label": f"{LABEL_HUB}={self.hub_name}"})
        return held_slots((s for s in services if s["Spec"].get("Name") != self.service_name), self.hub_name)

    def home_node(self) -> str | None:
        return None if self.work_nfs else (self.work_node or None)

    async def start(self):
        async with self.reserved_slot() as slot:
            self.log.info("%s gets %s on %s", self.user.name, slot.device, slot.host)
            try:
                if self.work_nfs_mount:
                    self._make_nfs_folder()
                self._configure_service(slot)
                address = await super().start()
            except Exception:
                self.slot_node = self.slot_host = self.slot_device = ""
                raise
        if not self.work_nfs:
            self.work_node = slot.node
        await self._until_the_hub_resolves_the_server()
        return address

    async def _until_the_hub_resolves_the_server(self):
        """The hub reaches the server by its service name: wait for it; if it does not come, start the
        service's task again once (the swarm publishes a new task's name); still none, the spawn fails."""
        if await name_resolves(self.service_name, self.port, self.name_timeout):
            return
        self.log.warning("%s's server runs on %s but %s does not resolve after %d s: starting its task again",
                         self.user.name, self.slot_host, self.service_name, self.name_timeout)
        service = await self.get_object()
        template = service["Spec"]["TaskTemplate"]
        template = {**template, "ForceUpdate": template.get("ForceUpdate", 0) + 1}
        await self.docker("update_service", self.object_id, service["Version"]["Index"], task_template=template,
                          fetch_current_spec=True)
        await self.start_object()
        if not await name_resolves(self.service_name, self.port, self.name_timeout):
            raise RuntimeError(f"{self.service_name} runs on {self.slot_host} but the hub cannot resolve its name, "
                               "even after a restart of its task: check the overlay network between the hub's node "
                               f"and {self.slot_host} (ports 7946/tcp+udp and 4789/udp open)")

    def _make_nfs_folder(self):
        """The attendee's folder on the NFS export, owned by jovyan (uid 1000), before the mount."""
        folder = Path(self.work_nfs_mount) / self.escaped_name
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, 1000, 1000)

    def _configure_service(self, slot: Slot):
        """Placement, labels and the device for this start (the slot differs per start)."""
        self.slot_node, self.slot_host, self.slot_device = slot.node, slot.host, slot.device
        labels = {
            LABEL_HUB: self.hub_name,
            LABEL_USER: self.user.name,
            LABEL_NODE: slot.node,
            LABEL_GPU: slot.device,
            LABEL_STARTED: datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self.extra_placement_spec = {**self.extra_placement_spec, "constraints": [f"node.id=={slot.node}"]}
        self.extra_create_kwargs = {**self.extra_create_kwargs, "labels": labels}
        self.extra_container_spec = {**self.extra_container_spec, "labels": labels}
        self.environment = {**self.environment, "NVIDIA_VISIBLE_DEVICES": slot.device, "WORKSHOP_GPU": slot.device}

    async def poll(self):
        """Stopped when the slot's node is down. JupyterHub does not stop a server that is
        already stopped, so the service (and with it the slot) is removed here, once."""
        if self.slot_node:
            nodes = {node.id: node for node in nodes_from_swarm(await self.docker("nodes"))}
            node = nodes.get(self.slot_node)
            if node is None or node.problem.startswith("node is"):
                why = node.problem if node else "node left the swarm"
                self.log.warning("%s's server on %s is lost (%s): removing its service", self.user.name,
                                 self.slot_host, why)
                if self.object_id:
                    try:
                        await self.remove_object()
                    except docker.errors.NotFound:
                        pass  # already gone
                return f"{self.slot_host}: {why}"
        return await super().poll()

    async def progress(self):
        device = self.slot_device or "(choosing)"
        where = f" on {self.slot_host}" if self.slot_host else ""
        yield {"progress": 40, "message": f"GPU {device}{where} is yours; starting JupyterLab (a first start takes a minute)"}

    def get_state(self):
        state = super().get_state()
        for key in ("slot_node", "slot_host", "slot_device", "work_node"):
            if getattr(self, key):
                state[key] = getattr(self, key)
        return state

    def load_state(self, state):
        super().load_state(state)
        for key in ("slot_node", "slot_host", "slot_device", "work_node"):
            setattr(self, key, state.get(key, ""))

    def clear_state(self):
        """A stop forgets the slot, never the node that holds the work."""
        super().clear_state()
        self.slot_node = self.slot_host = self.slot_device = ""
