#!/usr/bin/env python3
"""Check a built hub image on its own (make hub-image-check; the release runs it per platform):

    python3 hub/check_image.py IMAGE [--platform linux/arm64] [--timeout 180]

Starts IMAGE with a throwaway configuration (no GPUs, no published port; this engine's socket, which
the hub checks at start) and waits until JupyterHub answers /hub/health inside the container,
then checks that the proxy and the roster command run. Exit 1 with the hub's log when it does not.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import time

HEALTH = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/hub/health', timeout=4)"
COMMANDS = (
    ["jupyterhub", "--version"],
    ["/opt/proxy/node_modules/.bin/configurable-http-proxy", "--version"],
    ["workshop-roster", "--help"],
)


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True)


def check(image: str, platform: str | None, timeout: float) -> list[str]:
    """What failed (empty: the image is good)."""
    settings = {"HUB_USER_PASSWORD": secrets.token_urlsafe(16), "HUB_ADMIN_PASSWORD": secrets.token_urlsafe(32),
                "HUB_GPUS": "none", "HUB_IMAGE": image}  # an image the engine has; nobody is spawned
    run = ["run", "-d", "-v", "/var/run/docker.sock:/var/run/docker.sock",
           *(["--platform", platform] if platform else [])]
    run += [option for name, value in settings.items() for option in ("-e", f"{name}={value}")]
    started = docker(*run, image)
    if started.returncode != 0:
        return [f"{image} did not start: {started.stderr.strip()}"]
    container = started.stdout.strip()
    try:
        deadline = time.monotonic() + timeout
        while docker("exec", container, "python3", "-c", HEALTH).returncode != 0:
            state = docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip()
            if state != "true" or time.monotonic() > deadline:
                why = "exited" if state != "true" else f"did not answer /hub/health in {timeout:.0f} s"
                return [f"{image}: the hub {why}; its log:\n{docker('logs', '--tail', '40', container).stderr}"]
            time.sleep(1)
        failed = []
        for command in COMMANDS:
            result = docker("exec", container, *command)
            if result.returncode != 0:
                failed.append(f"{image}: {' '.join(command)} failed: {(result.stderr or result.stdout).strip()[-500:]}")
        return failed
    finally:
        docker("rm", "-f", container)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image")
    parser.add_argument("--platform", help="e.g. linux/arm64 (emulated on an amd64 host)")
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args(argv)
    began = time.monotonic()
    failed = check(args.image, args.platform, args.timeout)
    for problem in failed:
        print(f"hub-image-check: {problem}", file=sys.stderr)
    if not failed:
        print(f"hub-image-check: {args.image} answers /hub/health ({time.monotonic() - began:.0f} s), proxy and roster run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
