#!/usr/bin/env python3
"""Benchmark: from `docker compose up` (the solo learner's command, image already present)
to JupyterLab answering `/api/status`.

    make bench-startup                                   # trainer-workshop:cpu, 5 runs
    .venv/bin/python -m tests.bench.startup --image trainer-workshop-test:cpu --runs 3

Each run starts the repository's compose.yaml under its own project name with a fresh work
volume (the first start of a new learner: the labs are copied into it), polls
http://127.0.0.1:PORT/api/status with the token every 0.1 s, and stops the clock at the
first 200. Then a restart of the same project (`down` keeping the volume,
`up` again: a learner's second day). Prints both per run, their median and max; the
target is 10 s on a laptop-class machine. Figures, not assertions. Everything is removed after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

import requests

from tests.support.helpers import ROOT, free_port

TARGET_SECONDS = 10.0


class Project:
    """One `docker compose -p NAME` of compose.yaml with its own port and token."""

    def __init__(self, image: str):
        self.name = f"bench-startup-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.env = {
            **os.environ,
            "WORKSHOP_IMAGE": image,
            "JUPYTER_HOST_PORT": str(self.port),
            "JUPYTER_TOKEN": self.token,
        }

    def compose(self, *args: str) -> None:
        result = subprocess.run(
            ["docker", "compose", "-p", self.name, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise SystemExit(f"docker compose {' '.join(args)} failed:\n{result.stderr[-2000:]}")

    def time_up(self, timeout: float = 120.0) -> float:
        """Seconds from `up -d` (no build, no pull) to /api/status answering 200."""
        started = time.monotonic()
        self.compose("up", "-d", "--no-build", "--pull", "never")
        url = f"http://127.0.0.1:{self.port}/api/status"
        while time.monotonic() - started < timeout:
            try:
                if requests.get(url, params={"token": self.token}, timeout=1).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise SystemExit(f"JupyterLab did not answer {url} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--image", default="trainer-workshop:cpu", help="the image compose.yaml runs (default: %(default)s)"
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh starts to time (default: %(default)s)")
    args = parser.parse_args(argv)
    if subprocess.run(["docker", "image", "inspect", args.image], capture_output=True).returncode != 0:
        print(
            f"{args.image} is not on this engine: build it (make image FLAVOR=cpu) or name another with --image",
            file=sys.stderr,
        )
        return 2

    first, again = [], []
    for run in range(1, args.runs + 1):
        project = Project(args.image)
        try:
            first.append(project.time_up())
            project.compose("down")  # keeps the work volume: the same learner, next day
            again.append(project.time_up())
        finally:
            project.compose("down", "-v")
        print(f"run {run}: first start {first[-1]:.1f} s, restart {again[-1]:.1f} s", flush=True)

    cores = os.cpu_count()
    print(f"\n{args.image}, {args.runs} runs on {cores} cores: compose up -> /api/status 200")
    for label, values in (("first start (new work volume)", first), ("restart (work kept)", again)):
        print(
            f"  {label:<31} median {statistics.median(values):.1f} s, max {max(values):.1f} s"
            f"  (target {TARGET_SECONDS:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
