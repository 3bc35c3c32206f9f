"""DockerSpawner that gives each attendee a GPU of their own from the hub's pool (one host).

How a device is chosen, and why it cannot be given twice:
- The host is a one-node pool, placed by the same rule and under the same lock as a swarm
  (`placement.SlotPlacement`): least-held device, pool order breaking ties.
- What is held is read from the engine: every container with the `trainer-workshop.gpu`
  label that is not exited, whichever hub started it (two hubs on one host share its GPUs).
  Nothing else is stored, so after a hub restart the pool is exactly what is running, and a
  server that stops, crashes or is culled frees its device by no longer running.
- The device goes into a per-container DeviceRequest with `device_ids`, never
  `count` (a count of 1 gives every container GPU 0).
- Pool full: the spawn fails with a message the attendee sees in the browser,
  before any container is created; no GPU-less container is started silently.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import nullcontext
from datetime import datetime, timezone

from dockerspawner import DockerSpawner
from traitlets import List, Unicode

from . import LABEL_GPU, LABEL_HUB, LABEL_STARTED, LABEL_USER
from .placement import SlotPlacement
from .slots import Node, held_on_one_host, one_host


class WorkshopSpawner(SlotPlacement, DockerSpawner):
    gpu_pool = List(Unicode(), config=True, help="Device IDs to hand out; empty = CPU-only hub.")

    gpu_device = Unicode("", help="The device this server holds ('' when CPU-only or stopped).")

    async def pool_nodes(self) -> list[Node]:
        return one_host(self.gpu_pool)

    async def held_by_others(self) -> Counter:
        """Devices held by the other containers on this engine (any hub)."""
        containers = await self.docker("containers", all=True, filters={"label": LABEL_GPU})
        # Our own leftover is not counted: start() removes it before creating a new one.
        return held_on_one_host(
            c for c in containers if self.container_name not in [n.lstrip("/") for n in c.get("Names") or []]
        )

    async def start(self):
        await self._wait_gone()
        async with self.reserved_slot() if self.gpu_pool else nullcontext() as slot:
            self.gpu_device = slot.device if slot else ""
            if slot:
                self.log.info("GPU %s assigned to %s", self.gpu_device, self.user.name)
            try:
                self._configure_container()
                return await super().start()
            except Exception:
                self.gpu_device = ""
                raise

    def _configure_container(self):
        """Labels, device request and env for this start (the device differs per start)."""
        labels = {
            LABEL_HUB: self.hub_name,
            LABEL_USER: self.user.name,
            LABEL_STARTED: datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        host = {k: v for k, v in dict(self.extra_host_config).items() if k != "device_requests"}
        if self.gpu_device:
            labels[LABEL_GPU] = self.gpu_device
            host["device_requests"] = [
                {"driver": "nvidia", "device_ids": [self.gpu_device], "capabilities": [["gpu"]]}
            ]
        kwargs = dict(self.extra_create_kwargs)
        kwargs["labels"] = {**kwargs.get("labels", {}), **labels}
        self.extra_create_kwargs = kwargs
        self.extra_host_config = host
        self.environment = {**self.environment, "WORKSHOP_GPU": self.gpu_device or "none"}

    async def _wait_gone(self, timeout: float = 60):
        """A stopped server's container may still be being removed: wait for it."""
        for _ in range(int(timeout * 2)):
            obj = await self.get_object()
            if obj is None or obj["State"].get("Running") or not obj["State"].get("Status") == "removing":
                return
            await asyncio.sleep(0.5)

    async def progress(self):
        if self.gpu_pool:
            device = self.gpu_device or "(choosing)"
            yield {"progress": 40, "message": f"GPU {device} is yours; starting JupyterLab (a first start takes a minute)"}
        else:
            yield {"progress": 40, "message": "CPU-only hub: no GPU is assigned; starting JupyterLab"}

    def get_state(self):
        state = super().get_state()
        if self.gpu_device:
            state["gpu_device"] = self.gpu_device
        return state

    def load_state(self, state):
        super().load_state(state)
        self.gpu_device = state.get("gpu_device", "")

    def clear_state(self):
        super().clear_state()
        self.gpu_device = ""
