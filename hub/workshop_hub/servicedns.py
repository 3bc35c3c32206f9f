"""Whether a swarm service's name has reached the hub's DNS, pure asyncio.

In swarm mode the hub and its proxy reach each attendee's server by its service name, which
the swarm's gossip brings to the hub's node. A task can run while its name never arrives
there: seen in full runs of the swarm tier (5 of 6 attendees ready in a second, the last never
resolvable); moby/moby#35508 reports the same, and that a new task of the service brings the
name. So the swarm spawner waits for the name, and when it does not come starts the task
again, once (`swarm.WorkshopSwarmSpawner.start`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

Resolver = Callable[[str, int], Awaitable[object]]


async def name_resolves(name: str, port: int, seconds: float, resolve: Resolver | None = None,
                        interval: float = 1.0) -> bool:
    """True as soon as `name` resolves; False if it still does not after `seconds`."""
    loop = asyncio.get_running_loop()
    resolve = resolve or (lambda host, p: loop.getaddrinfo(host, p, type=socket.SOCK_STREAM))
    deadline = loop.time() + seconds
    while True:
        try:
            await resolve(name, port)
            return True
        except socket.gaierror:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(interval)
