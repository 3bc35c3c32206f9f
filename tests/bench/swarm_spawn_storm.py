#!/usr/bin/env python3
"""Benchmark: a spawn storm across a swarm. N attendees log in and start their servers at the
same moment on a hub in swarm mode over NODES Docker-in-Docker nodes (tests/swarm), each node
with SLOTS stand-in devices:

    make bench-swarm                                   # 3 nodes x 4 slots, 12 attendees
    .venv/bin/python -m tests.bench.swarm_spawn_storm --nodes 4 --slots 6 --users 24

Prints time to ready per attendee (p50, p95, max), how the attendees spread over the nodes,
any spawn refused, and the hub's memory. Figures, not assertions: the stand-in attendee
image starts in a second, so this measures the hub and the swarm (placement, the
allocation lock, service creation, task scheduling), not JupyterLab's start. Everything is
removed after. Needs the hub image (make hub-image, or --hub-image).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.bench.hub_spawn import one_attendee, percentile
from tests.support.swarm_tier import start_swarm, swarm_hub
from workshop_hub import LABEL_NODE, LABEL_USER

# Resident memory of every process in the hub container (the hub, its proxy, its services):
# the engine's own stats are empty for a container inside a Docker-in-Docker node.
RSS = (
    "import glob\nprint(sum(int(l.split()[1]) for f in glob.glob('/proc/[0-9]*/status') "
    "for l in open(f) if l.startswith('VmRSS:')) * 1024)"
)


def hub_memory(hub) -> int:
    return int(hub.container.exec_run(["python3", "-c", RSS]).output.decode().strip() or 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--slots", type=int, default=4, help="stand-in devices per node")
    ap.add_argument("--users", type=int, help="attendees at once (default: every slot)")
    ap.add_argument("--hub-image", default="trainer-workshop-hub:latest")
    ap.add_argument("--concurrent-spawn-limit", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv)
    users = args.users or args.nodes * args.slots

    import docker

    client = docker.from_env(timeout=300)
    try:
        client.images.get(args.hub_image)
    except docker.errors.ImageNotFound:
        print(f"bench_spawn_storm: the image {args.hub_image} is not on this engine: make hub-image", file=sys.stderr)
        return 2
    devices = {f"node{n}": ",".join(f"GPU-n{n}-{d:02d}" for d in range(args.slots)) for n in range(args.nodes)}
    print(f"starting a swarm of {args.nodes} nodes x {args.slots} slots ...", flush=True)
    cluster = start_swarm(
        client, args.hub_image, devices, os.environ.get("WORKSHOP_BASE_IMAGE", "trainer-workshop-base:bookworm")
    )
    try:
        hub = swarm_hub(
            cluster,
            args.hub_image,
            HUB_CONCURRENT_SPAWN_LIMIT=str(args.concurrent_spawn_limit),
            HUB_CPU_LIMIT="0.5",
            HUB_MEM_LIMIT="256M",
            HUB_SHM_SIZE="64M",
            HUB_CULL_TIMEOUT="0",
        )
        os.environ["REQUESTS_CA_BUNDLE"] = f"{hub.tls_dir}/fullchain.pem"
        hub.start()
        idle = hub_memory(hub)
        gate = threading.Event()
        t0 = time.monotonic()
        with ThreadPoolExecutor(users) as pool:
            futures = [pool.submit(one_attendee, hub, f"storm{i:03d}", gate, args.timeout) for i in range(users)]
            gate.set()
            results = [f.result() for f in futures]
        wall = time.monotonic() - t0
        after = hub_memory(hub)
        hosts = {node.id: node.host for node in cluster.nodes}
        placed = Counter(
            hosts.get(s["Spec"]["Labels"][LABEL_NODE], "?")
            for s in cluster.services(hub.name)
            if s["Spec"]["Labels"].get(LABEL_USER)
        )
    finally:
        cluster.remove()

    ready = [r["ready_s"] for r in results if "ready_s" in r]
    failed = [r for r in results if "error" in r]
    print(
        f"\nspawn storm: {users} attendees at once, {args.nodes} nodes x {args.slots} slots, "
        f"{os.cpu_count()} cores on this machine"
    )
    print(
        f"  ready: {len(ready)}/{users} in {wall:.1f} s wall; time to ready p50 {percentile(ready, 0.5):.1f} s, "
        f"p95 {percentile(ready, 0.95):.1f} s, max {max(ready, default=float('nan')):.1f} s"
        + (f", mean {statistics.mean(ready):.1f} s" if ready else "")
    )
    print(f"  spread over nodes: {', '.join(f'{h} {n}' for h, n in sorted(placed.items()))}")
    print(f"  spawns retried after 429: {sum(r.get('retries', 0) for r in results)}")
    print(
        f"  hub container memory (RSS of its processes): {idle / 1e6:.0f} MB idle, "
        f"{after / 1e6:.0f} MB with {len(ready)} servers"
    )
    for r in failed:
        print(f"  FAILED {r['name']}: {r['error']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
