"""What both spawners share: their common settings, and taking a GPU slot for a server.

One host and a swarm place attendees by one rule, `slots.choose_slot` (a single host is a
one-node pool). Each spawner says only what its pool is (`pool_nodes`), what its mode counts
as held (`held_by_others`) and where this attendee's work lives (`home_node`);
`reserved_slot` does the rest:
- One asyncio lock (the hub is one process) covers "read what is held, choose, reserve"; the
  reservation is kept in memory until the container or service exists with its labels, so
  two spawns at the same moment never see the same free slot.
- No slot: the spawn fails with the message the attendee sees in the browser (`slots.NoSlot`),
  before anything is created; no GPU-less server is started silently.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from jupyterhub.spawner import SpawnException
from traitlets import Integer, Unicode
from traitlets.config import LoggingConfigurable

from .slots import Node, NoSlot, Slot, choose_slot

_allocation_lock: asyncio.Lock | None = None
# container or service name -> slot, for spawns that hold a slot but have no container or service yet
_reserved: dict[str, Slot] = {}


def allocation_lock() -> asyncio.Lock:
    """The hub's one lock around choosing a slot, created in the hub's event loop on first use."""
    global _allocation_lock
    if _allocation_lock is None:
        _allocation_lock = asyncio.Lock()
    return _allocation_lock


class SlotPlacement(LoggingConfigurable):
    """Mixed into both spawners, ahead of DockerSpawner; its settings are configured once, as
    `c.SlotPlacement.…`, for whichever spawner the hub runs."""

    users_per_gpu = Integer(1, config=True, help="Attendees sharing one device (1 = exclusive).")
    hub_name = Unicode("trainer-workshop", config=True, help="Value of the trainer-workshop.hub label.")

    async def pool_nodes(self) -> list[Node]:
        """The nodes whose devices this hub hands out."""
        raise NotImplementedError

    async def held_by_others(self) -> Counter:
        """(node id, device) -> how many servers other than this one hold it, by this mode's rule."""
        raise NotImplementedError

    def home_node(self) -> str | None:
        """The id of the node that holds this attendee's work, or None (any node will do)."""
        return None

    @asynccontextmanager
    async def reserved_slot(self) -> AsyncIterator[Slot]:
        """The slot for this start, reserved until the block ends (by then the server's container
        or service carries it); SpawnException with the attendee's message when there is none."""
        name = self.object_name
        async with allocation_lock():
            held = await self.held_by_others()
            for other, slot in _reserved.items():
                if other != name:
                    held[(slot.node, slot.device)] += 1
            try:
                slot = choose_slot(await self.pool_nodes(), held, self.users_per_gpu, self.home_node())
            except NoSlot as no_slot:
                raise self._refusal(no_slot, held) from None
            _reserved[name] = slot
        try:
            yield slot
        finally:
            _reserved.pop(name, None)

    def _refusal(self, no_slot: NoSlot, held: Counter) -> SpawnException:
        exc = SpawnException(no_slot.message, reason=no_slot.reason, status_code=503,
                             log_message=f"no slot for {self.user.name}: {no_slot.reason}, held: {dict(held)}")
        exc.jupyterhub_message = no_slot.message  # shown on the spawn page and in the progress stream
        return exc
