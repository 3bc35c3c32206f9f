#!/usr/bin/env python3
"""Benchmark: N attendees log in and start their servers at the same moment.

    make bench-hub                       # 30 attendees, CPU image, CPU-only hub
    .venv/bin/python -m tests.bench.hub_spawn --users 50 --gpus standin

Starts its own hub through hub/compose.yaml (the image `trainer-workshop-hub:latest` from
`make hub-image` unless --hub-image is given) on
this machine's Docker engine, then for each attendee, all at once in threads:
the login form, a token, a spawn request (retried when the hub answers 429
"too many spawns": the concurrency limit at work), and polling until the
server is ready. Prints time-to-ready per attendee (p50, p95, max), how many
spawns had to retry, and the hub container's memory (peak sampled during the
run, and at the end). Figures, not assertions. Everything is removed after.

--gpus standin gives the hub a pool of N stand-in device IDs (needs an engine
with the nvidia-container-runtime-hook stand-in, as .ci/run sets up), so the
allocation lock is exercised at full concurrency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

from tests.support.hub_tier import LABEL_GPU, Attendee, Hub


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def one_attendee(hub: Hub, name: str, start_gate: threading.Event, timeout: float) -> dict:
    a = Attendee(hub, name)
    start_gate.wait()
    t0 = time.monotonic()
    r = a.login()
    if r.status_code != 302:
        return {"name": name, "error": f"login {r.status_code}"}
    a.get_token()
    retries = 0
    while True:
        r = a.spawn()
        if r.status_code != 429:
            break
        retries += 1
        time.sleep(float(r.headers.get("Retry-After", 2)) if retries < 3 else 2)
        if time.monotonic() - t0 > timeout:
            return {"name": name, "error": "still 429 at the timeout", "retries": retries}
    if r.status_code not in (201, 202):
        return {"name": name, "error": f"spawn {r.status_code}: {r.text[:200]}", "retries": retries}
    try:
        a.wait_ready(timeout - (time.monotonic() - t0))
    except Exception as e:  # noqa: BLE001 - a benchmark reports, it does not stop
        return {"name": name, "error": str(e), "retries": retries}
    return {"name": name, "ready_s": time.monotonic() - t0, "retries": retries}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--image", default="trainer-workshop:cpu", help="attendee image (must exist)")
    ap.add_argument("--hub-image", default="trainer-workshop-hub:latest", help="hub image (must exist: make hub-image)")
    ap.add_argument("--gpus", choices=["none", "standin"], default="none")
    ap.add_argument("--concurrent-spawn-limit", type=int, default=20)
    ap.add_argument("--cpu-limit", default="1")
    ap.add_argument("--mem-limit", default="1G")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv)

    import docker

    client = docker.from_env(timeout=300)
    for image, fix in ((args.image, "make image FLAVOR=cpu"), (args.hub_image, "make hub-image")):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            print(f"bench_spawn: the image {image} is not on this engine: {fix}", file=sys.stderr)
            return 2
    env = {
        "HUB_GPUS": ",".join(f"GPU-bench-{i:04d}" for i in range(args.users)) if args.gpus == "standin" else "none",
        "HUB_CONCURRENT_SPAWN_LIMIT": str(args.concurrent_spawn_limit),
        "HUB_CPU_LIMIT": args.cpu_limit,
        "HUB_MEM_LIMIT": args.mem_limit,
        "HUB_CULL_TIMEOUT": "0",
    }
    hub = Hub(client, f"twbench-{uuid.uuid4().hex[:6]}", args.hub_image, args.image, env=env)
    peak = [0]
    devices: list = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            # A sample missed (the hub starting or going) leaves the peak as it was.
            with suppress(Exception):
                peak[0] = max(peak[0], hub.memory_bytes())
            stop.wait(1)

    try:
        hub.start()
        idle_mem = hub.memory_bytes()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        gate = threading.Event()
        names = [f"bench{i:03d}" for i in range(args.users)]
        t0 = time.monotonic()
        with ThreadPoolExecutor(args.users) as pool:
            futures = [pool.submit(one_attendee, hub, n, gate, args.timeout) for n in names]
            gate.set()
            results = [f.result() for f in futures]
        wall = time.monotonic() - t0
        stop.set()
        end_mem = hub.memory_bytes()
        devices = [c.labels.get(LABEL_GPU) for c in hub.user_containers()]
    finally:
        stop.set()
        hub.remove()

    ok = [r for r in results if "ready_s" in r]
    failed = [r for r in results if "error" in r]
    times = [r["ready_s"] for r in ok]
    pool = env["HUB_GPUS"] if args.gpus == "none" else f"{args.users} stand-in GPUs"
    print(
        f"\n{args.users} attendees at once, image {args.image}, hub pool: {pool}, "
        f"concurrent spawn limit {args.concurrent_spawn_limit}"
    )
    print("per attendee (login -> server ready, seconds):")
    for r in sorted(results, key=lambda r: r.get("ready_s", 1e9)):
        print(
            f"  {r['name']}  "
            + (f"{r['ready_s']:6.1f}" if "ready_s" in r else f"FAILED {r['error']}")
            + (f"  ({r['retries']} retries after 429)" if r.get("retries") else "")
        )
    if times:
        print(
            f"time to ready: p50 {percentile(times, 0.5):.1f} s, p95 {percentile(times, 0.95):.1f} s, "
            f"max {max(times):.1f} s, mean {statistics.mean(times):.1f} s; all {len(ok)} ready after {wall:.1f} s"
        )
    print(f"spawns that waited on the concurrency limit: {sum(1 for r in results if r.get('retries'))}")
    print(
        f"hub memory: {idle_mem / 2**20:.0f} MiB idle, peak {peak[0] / 2**20:.0f} MiB, "
        f"{end_mem / 2**20:.0f} MiB with {len(ok)} servers"
    )
    if args.gpus == "standin":
        held = [d for d in devices if d]
        print(
            f"GPU assignment: {len(held)} servers hold {len(set(held))} distinct devices"
            + ("" if len(held) == len(set(held)) else "  <-- a device was given twice")
        )
    if failed:
        print(f"{len(failed)} attendees did not get a server")
    return 1 if failed or (args.gpus == "standin" and len(set(devices)) != len(devices)) else 0


if __name__ == "__main__":
    sys.exit(main())
