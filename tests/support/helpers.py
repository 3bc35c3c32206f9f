"""What the test tiers share: where things are, one way to wait, one way to run code in a
Jupyter server's kernel, and the project's image builder."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import requests

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
TESTDATA = BUILD / "testdata"
# What the images of the Docker and hub tiers bake: the offline test models (no model hub).
TEST_IMAGE_SETTINGS = {
    "WORKSHOP_DATA": str(TESTDATA),
    "WORKSHOP_MODEL": "/opt/workshop/data/models/minilm",
    "WORKSHOP_CAUSAL_MODEL": "/opt/workshop/data/models/tiny-gpt2",
    "WORKSHOP_DATASET": "/opt/workshop/data/sentiment",
}

# The harness's last line: "N passed, N failed, N skipped".
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", re.MULTILINE)
# The seed's 28 tasks, in the order of the labs; the harness runs them between SETUP and GPT2.
SEED_TASKS = [
    f"{lab}{letter}"
    for lab, letters in ((1, "ABCDE"), (2, "ABCDE"), (3, "ABCD"), (4, "ABCDE"), (5, "ABCD"), (6, "ABCDE"))
    for letter in letters
]
HARNESS_TASKS = ["SETUP", *SEED_TASKS, "GPT2"]


def task_statuses(stdout: str) -> dict[str, str]:
    """Each task's status from the harness's lines "PASS|FAIL|SKIPPED  TASK  1.2s ..."."""
    found = {}
    for line in stdout.splitlines():
        match = re.match(r"^(PASS|FAIL|SKIPPED)\s+(\w+)\s+[\d.]+s", line)
        if match:
            found[match[2]] = match[1]
    return found


T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 1.0) -> T:
    """Call `check` until it returns something truthy and return that; TimeoutError naming
    `what` after `timeout` seconds. An exception from `check` stops the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(interval)


def run_make(target: str, *settings: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """`make TARGET SETTING=...` in the repository, as CI, the README and the release workflow
    run it (the workflow contract test looks for these calls), output captured."""
    return subprocess.run(["make", "--no-print-directory", target, *settings], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


def pip_setting(key: str) -> str:
    """A pip configuration value of this host (e.g. global.find-links, its wheelhouse), or ""."""
    result = subprocess.run([sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The make target that builds each docker-bake.hcl target: the tiers build their images the
# way ops, the README and the release workflow do (SIZE= skips the size report).
MAKE_IMAGE = {"workshop-cpu": ("image", "FLAVOR=cpu", "SIZE="), "workshop-gpu": ("image", "FLAVOR=gpu", "SIZE="),
              "hub": ("hub-image",)}


def build_images(*targets: str, log: Path, **settings: str) -> None:
    """`make image` / `make hub-image` for each docker-bake.hcl target, with the settings in
    the environment (docker-bake.hcl variables), output to `log`; a failure raises with the
    log's tail."""
    env = {**os.environ, **settings}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        for target in targets:
            result = subprocess.run(["make", "--no-print-directory", *MAKE_IMAGE[target]], cwd=ROOT, env=env,
                                    stdout=handle, stderr=subprocess.STDOUT)
            if result.returncode != 0:
                break
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise RuntimeError(f"building {' '.join(targets)} failed (log: {log}):\n{tail}")


# The names the test tiers give the images they build (tests/conftest.py's fixtures).
TEST_IMAGE_NAME = "trainer-workshop-test"
TEST_HUB_IMAGE_NAME = "trainer-workshop-hub-test"
TEST_IMAGE = f"{TEST_IMAGE_NAME}:cpu"
TEST_HUB_IMAGE = f"{TEST_HUB_IMAGE_NAME}:latest"


def build_test_images(*targets: str) -> None:
    """docker-bake.hcl targets with the offline test models baked in, under the test names;
    log in build/docker/build-TARGET.log. RuntimeError says what failed."""
    if not (TESTDATA / "models" / "minilm").is_dir():
        raise RuntimeError(f"{TESTDATA} is missing: run `make testdata` (make test does)")
    for target in targets:
        build_images(target, log=BUILD / "docker" / f"build-{target}.log", IMAGE_NAME=TEST_IMAGE_NAME,
                     HUB_IMAGE_NAME=TEST_HUB_IMAGE_NAME, WORKSHOP_VERSION="test", **TEST_IMAGE_SETTINGS)


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str


def run_container(client, image: str, *command: str, timeout: float = 300, **options) -> Ran:
    """`docker run --rm IMAGE COMMAND` through docker-py (options are containers.run's:
    environment, network_mode, volumes, device_requests, shm_size, ...)."""
    container = client.containers.run(image, list(command) or None, detach=True, **options)
    try:
        status = container.wait(timeout=timeout)
        logs = lambda out, err: container.logs(stdout=out, stderr=err).decode(errors="replace")  # noqa: E731
        return Ran(status["StatusCode"], logs(True, False), logs(False, True))
    finally:
        container.remove(force=True)


@dataclass
class CellResult:
    status: str  # "ok" or "error"
    output: str  # stream text and text/plain results, in order
    error: str | None  # "Ename: evalue" of a failed cell


class JupyterClient:
    """A Jupyter server's REST API and kernels, as a person's browser would use them."""

    def __init__(self, base_url: str, token: str):
        self.base_url, self.token = base_url.rstrip("/"), token

    def api(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        headers = {"Authorization": f"token {token or self.token}"}
        return requests.request(method, f"{self.base_url}/api{path}", headers=headers, allow_redirects=False, **kw)

    def run_cells(self, cells: list[str], notebook_path: str, timeout: float = 600) -> list[CellResult]:
        """Run the cells one by one in a new kernel beside `notebook_path` (its folder is the
        working directory); stop at the first failing cell. The session is removed after."""
        started = self.api("POST", "/sessions", json={
            "path": notebook_path, "type": "notebook", "name": Path(notebook_path).name, "kernel": {"name": "python3"}})
        assert started.status_code == 201, (started.status_code, started.text)
        session = started.json()
        try:
            return self._execute(session["kernel"]["id"], cells, timeout)
        finally:
            self.api("DELETE", f"/sessions/{session['id']}")

    def _execute(self, kernel_id: str, cells: list[str], timeout: float) -> list[CellResult]:
        import websocket

        url = self.base_url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(url, header=[f"Authorization: token {self.token}"], timeout=timeout)
        session, results = uuid.uuid4().hex, []
        try:
            for code in cells:
                msg_id = uuid.uuid4().hex
                ws.send(json.dumps({
                    "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                               "username": "", "version": "5.3", "date": ""},
                    "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                    "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                                "allow_stdin": False, "stop_on_error": True},
                }))
                results.append(self._collect(ws, msg_id, code, time.monotonic() + timeout))
                if results[-1].status != "ok":
                    break
        finally:
            ws.close()
        return results

    @staticmethod
    def _collect(ws, msg_id: str, code: str, deadline: float) -> CellResult:
        """The replies to one request, until its reply has come and the kernel is idle again."""
        out, error, status, idle = [], None, None, False
        while status is None or not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell did not finish in time: {code[:80]!r}")
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "execute_reply":
                status = content["status"]
            elif kind == "status":
                idle = content["execution_state"] == "idle"
        return CellResult(status, "".join(out), error)
