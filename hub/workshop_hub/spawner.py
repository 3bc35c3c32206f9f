"""DockerSpawner that gives each attendee a GPU of their own from the hub's pool.

How a device is chosen, and why it cannot be given twice:
- What is in use is read from the engine: every container with the
  `trainer-workshop.gpu` label that is not exited. Nothing else is stored, so
  after a hub restart the pool is exactly what is running, and a server that
  stops, crashes or is culled frees its device by no longer running.
- One asyncio lock (the hub is one process) covers "read what is in use, pick a
  device, reserve it"; the reservation is kept in memory until the container
  exists with its label, so two spawns at the same moment never see the same
  free device.
- The device goes into a per-container DeviceRequest with `device_ids`, never
  `count` (a count of 1 gives every container GPU 0).
- Pool full: the spawn fails with a message the attendee sees in the browser,
  before any container is created; no GPU-less container is started silently.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone

from dockerspawner import DockerSpawner
from jupyterhub.spawner import SpawnException
from traitlets import Integer, List, Unicode

from . import LABEL_GPU, LABEL_HUB, LABEL_STARTED, LABEL_USER
from .gpus import PoolFull, choose_device

_alloc_lock: asyncio.Lock | None = None
# container name -> device, for spawns that hold a device but have no container yet
_reserved: dict[str, str] = {}


def allocation_lock() -> asyncio.Lock:
    """The hub's one lock around choosing a GPU slot (the swarm spawner's too), created in
    the hub's event loop on first use."""
    global _alloc_lock
    if _alloc_lock is None:
        _alloc_lock = asyncio.Lock()
    return _alloc_lock


class WorkshopSpawner(DockerSpawner):
    gpu_pool = List(Unicode(), config=True, help="Device IDs to hand out; empty = CPU-only hub.")
    users_per_gpu = Integer(1, config=True, help="Attendees sharing one device (1 = exclusive).")
    hub_name = Unicode("trainer-workshop", config=True, help="Value of the trainer-workshop.hub label.")

    gpu_device = Unicode("", help="The device this server holds ('' when CPU-only or stopped).")

    async def devices_in_use(self) -> Counter:
        """Devices held by containers on this engine (any hub), plus in-flight reservations."""
        containers = await self.docker("containers", all=True, filters={"label": LABEL_GPU})
        used: Counter = Counter()
        for c in containers:
            names = [n.lstrip("/") for n in c.get("Names") or []]
            if self.container_name in names:
                continue  # our own leftover: start() removes it before creating a new one
            if c.get("State") in ("exited", "dead"):
                continue
            for device in (c.get("Labels") or {}).get(LABEL_GPU, "").split(","):
                if device:
                    used[device] += 1
        for name, device in _reserved.items():
            if name != self.container_name:
                used[device] += 1
        return used

    def _pool_full(self, used: Counter) -> SpawnException:
        n = len(self.gpu_pool)
        sharing = f" ({self.users_per_gpu} attendees per GPU)" if self.users_per_gpu > 1 else ""
        message = (
            f"No GPU is free: all {n} GPUs on this hub are in use{sharing}. No server was started. "
            "Ask your instructor, or try again when someone stops their server."
        )
        exc = SpawnException(
            message, reason="gpu_pool_full", status_code=503,
            log_message=f"GPU pool full for {self.user.name}: {dict(used)}",
        )
        exc.jupyterhub_message = message  # shown on the spawn page and in the progress stream
        return exc

    async def start(self):
        await self._wait_gone()
        name = self.container_name
        if self.gpu_pool:
            async with allocation_lock():
                used = await self.devices_in_use()
                try:
                    self.gpu_device = choose_device(self.gpu_pool, used, self.users_per_gpu)
                except PoolFull:
                    raise self._pool_full(used) from None
                _reserved[name] = self.gpu_device
            self.log.info("GPU %s assigned to %s", self.gpu_device, self.user.name)
        else:
            self.gpu_device = ""
        try:
            self._configure_container()
            return await super().start()
        except Exception:
            self.gpu_device = ""
            raise
        finally:
            _reserved.pop(name, None)

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
