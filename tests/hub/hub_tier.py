"""Helpers for the hub tier: build and start a real hub, log in, spawn, run code.

Used by tests/hub (pytest) and hub/bench_spawn.py. Everything talks to the hub
the way a browser or a script would: the login form, the REST API with a user's
own token, the Jupyter API through the hub's proxy URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[2]
HUB_IMAGE = os.environ.get("HUB_TEST_HUB_IMAGE", "trainer-workshop-hub:test")
LOCAL_BASE = "trainer-workshop-base:bookworm"
LABEL_HUB, LABEL_USER, LABEL_GPU = "trainer-workshop.hub", "trainer-workshop.user", "trainer-workshop.gpu"
# The test hub's pool of three: an index, a GPU UUID and a MIG UUID (all three forms the hub accepts).
POOL = ["0", "GPU-7f1c2d3e-0000-4a5b-8c9d-0123456789ab", "MIG-4d5e6f70-1111-4a5b-8c9d-0123456789ab"]
ROSTER = ["alice", "bob", "carol", "dave", "erin", "zoë"]


def ca_bundle() -> str | None:
    for name in ("CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE"):
        if os.environ.get(name) and Path(os.environ[name]).is_file():
            return os.environ[name]
    cert = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.cert"],
                          capture_output=True, text=True).stdout.strip()
    return cert if cert and Path(cert).is_file() else None


def build_hub_image(client, tag: str = HUB_IMAGE, log: Path | None = None) -> str:
    """`make hub-image` by hand: FROM the local Debian base when this engine has it."""
    cmd = ["docker", "buildx", "build", "--load", "-t", tag, "--progress=plain"]
    base = os.environ.get("WORKSHOP_BASE_IMAGE")
    if not base:
        try:
            client.images.get(LOCAL_BASE)
            base = LOCAL_BASE
        except Exception:  # noqa: BLE001 - fall back to the Dockerfile's default
            base = None
    if base:
        cmd += ["--build-arg", f"BASE_IMAGE={base}"]
    ca = ca_bundle()
    if ca:
        cmd += ["--secret", f"id=ca,src={ca}"]
    cmd.append(str(ROOT / "hub"))
    out = subprocess.run(cmd, capture_output=True, text=True)
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise RuntimeError("building the hub image failed:\n" + "\n".join((out.stdout + out.stderr).splitlines()[-30:]))
    return tag


@dataclass
class Hub:
    """A hub container started for a test session or a benchmark."""

    client: object
    name: str
    image: str
    workshop_image: str
    env: dict
    network: str = ""
    url: str = ""
    container: object = None
    scheme: str = "http"
    extra_volumes: dict = field(default_factory=dict)
    user_password: str = field(default_factory=lambda: "attendee-" + secrets.token_hex(6))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(36))

    @property
    def hub_container_name(self):
        return f"{self.name}-hub"

    def full_env(self, **override):
        env = {
            "HUB_USER_PASSWORD": self.user_password,
            "HUB_ADMIN_PASSWORD": self.admin_password,
            "HUB_ADMIN_USERS": "instructor",
            "HUB_IMAGE": self.workshop_image,
            "HUB_NETWORK": self.network,
            "HUB_NAME": self.name,
            "HUB_CONNECT_HOST": self.hub_container_name,
            "HUB_PUBLISH_IP": "127.0.0.1",
            **self.env,
        }
        env.update(override)
        return {k: v for k, v in env.items() if v is not None}

    def start(self, timeout: float = 120):
        import docker

        self.network = self.network or f"{self.name}-net"
        try:  # the network outlives a hub restart, like compose's named network
            self.client.networks.get(self.network)
        except docker.errors.NotFound:
            self.client.networks.create(self.network, driver="bridge", labels={LABEL_HUB: self.name})
        self.container = self.client.containers.run(
            self.image,
            name=self.hub_container_name,
            hostname=self.hub_container_name,
            detach=True,
            environment=self.full_env(),
            network=self.network,
            ports={"8000/tcp": ("127.0.0.1", None)},
            volumes={
                "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                f"{self.name}-state": {"bind": "/srv/jupyterhub", "mode": "rw"},
                **self.extra_volumes,
            },
            labels={LABEL_HUB + ".role": "hub", LABEL_HUB + ".test": self.name},
        )
        self.wait_up(timeout)
        return self

    def wait_up(self, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status == "exited":
                raise RuntimeError("hub exited:\n" + self.logs()[-3000:])
            port = (self.container.attrs["NetworkSettings"]["Ports"].get("8000/tcp") or [{}])[0].get("HostPort")
            if port:
                self.url = f"{self.scheme}://127.0.0.1:{port}"
                try:
                    with warnings.catch_warnings():  # readiness only: HTTPS hubs here use a test certificate
                        warnings.simplefilter("ignore")
                        ok = requests.get(f"{self.url}/hub/api/", timeout=3, verify=False).status_code == 200
                    if ok:
                        return
                except requests.RequestException:
                    pass
            time.sleep(1)
        raise TimeoutError(f"hub not up after {timeout}s:\n" + self.logs()[-3000:])

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace") if self.container else ""

    def restart(self, timeout: float = 120):
        self.container.restart(timeout=30)
        self.wait_up(timeout)

    def memory_bytes(self) -> int:
        stats = self.container.stats(stream=False)
        mem = stats.get("memory_stats", {})
        cache = (mem.get("stats") or {}).get("inactive_file", 0)
        return int(mem.get("usage", 0)) - int(cache)

    def user_containers(self, user: str | None = None, all: bool = False):
        labels = [f"{LABEL_HUB}={self.name}"] + ([f"{LABEL_USER}={user}"] if user else [])
        return self.client.containers.list(all=all, filters={"label": labels})

    def remove(self):
        import docker

        for c in self.user_containers(all=True):
            c.remove(force=True)
        if self.container:
            try:
                self.container.remove(force=True)
            except docker.errors.NotFound:
                pass
        for v in self.client.volumes.list(filters={"name": self.name}):
            if v.name.startswith(self.name + "-"):
                try:
                    v.remove(force=True)
                except docker.errors.APIError:
                    pass
        try:
            self.client.networks.get(self.network or f"{self.name}-net").remove()
        except docker.errors.DockerException:
            pass


def container_env(container, name: str) -> str | None:
    """An environment variable as the container's main process sees it (set by the engine)."""
    out = container.exec_run(["cat", "/proc/1/environ"]).output.decode(errors="replace")
    for item in out.split("\0"):
        key, _, value = item.partition("=")
        if key == name:
            return value
    return None


class Attendee:
    """One person: a browser-like session for the login form, then their own API token."""

    def __init__(self, hub: Hub, name: str):
        self.hub, self.name = hub, name
        self.session = requests.Session()
        self.token = ""

    def login(self, password: str | None = None) -> requests.Response:
        self.session.get(f"{self.hub.url}/hub/login", timeout=30)
        xsrf = self.session.cookies.get("_xsrf", "")
        return self.session.post(
            f"{self.hub.url}/hub/login",
            data={"username": self.name, "password": self.hub.user_password if password is None else password,
                  "_xsrf": xsrf},
            allow_redirects=False, timeout=60,
        )

    @property
    def logged_in(self) -> bool:
        return any(c.name.startswith("jupyterhub-session") or c.name == "jupyterhub-hub-login"
                   for c in self.session.cookies)

    def get_token(self) -> str:
        r = self.session.post(
            f"{self.hub.url}/hub/api/users/{quote(self.name)}/tokens",
            headers={"X-XSRFToken": self.session.cookies.get("_xsrf", path="/hub/") or ""},
            json={"note": "hub tier", "expires_in": 7200}, timeout=30,
        )
        r.raise_for_status()
        self.token = r.json()["token"]
        return self.token

    @property
    def auth(self):
        return {"Authorization": f"token {self.token}"}

    def api(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        return requests.request(method, f"{self.hub.url}/hub/api{path}", headers=self.auth, **kw)

    def spawn(self) -> requests.Response:
        return self.api("POST", f"/users/{quote(self.name)}/server")

    def stop(self, timeout: float = 120):
        r = self.api("DELETE", f"/users/{quote(self.name)}/server")
        assert r.status_code in (202, 204), (r.status_code, r.text)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.model()["servers"]:
                return
            time.sleep(1)
        raise TimeoutError(f"{self.name}'s server did not stop")

    def model(self) -> dict:
        r = self.api("GET", f"/users/{quote(self.name)}")
        r.raise_for_status()
        return r.json()

    def wait_ready(self, timeout: float = 300) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            server = self.model()["servers"].get("")
            if server and server.get("ready"):
                return time.monotonic() - start
            if not server:
                raise RuntimeError(f"{self.name}'s server is gone (spawn failed?)")
            time.sleep(1)
        raise TimeoutError(f"{self.name}'s server not ready after {timeout}s")

    @property
    def server_url(self) -> str:
        return f"{self.hub.url}/user/{quote(self.name)}"

    def jupyter(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        headers = {"Authorization": f"token {token or self.token}"}
        return requests.request(method, f"{self.server_url}/api{path}", headers=headers,
                                allow_redirects=False, **kw)

    def execute(self, code_cells: list[str], notebook_path: str = "labs/scratch.ipynb", timeout: float = 600) -> list[dict]:
        """Run cells in a new kernel (cwd = the notebook's folder) over the kernel websocket."""
        r = self.jupyter("POST", "/sessions", json={
            "path": notebook_path, "type": "notebook", "name": "", "kernel": {"name": "python3"}})
        assert r.status_code == 201, (r.status_code, r.text)
        kernel_id = r.json()["kernel"]["id"]
        try:
            return asyncio.run(_run_cells(self.server_url, kernel_id, self.token, code_cells, timeout))
        finally:
            self.jupyter("DELETE", f"/sessions/{r.json()['id']}")


async def _run_cells(server_url: str, kernel_id: str, token: str, cells: list[str], timeout: float) -> list[dict]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws_url = server_url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
    conn = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}))
    session = uuid.uuid4().hex
    results = []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            conn.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                           "username": "", "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True},
            }))
            out, error, status, idle = [], None, None, False
            deadline = time.monotonic() + timeout
            while status is None or not idle:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"cell did not finish in {timeout}s: {code[:80]!r}")
                raw = await asyncio.wait_for(conn.read_message(), remaining)
                if raw is None:
                    raise RuntimeError("kernel websocket closed")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind in ("execute_result", "display_data"):
                    out.append(msg["content"]["data"].get("text/plain", ""))
                elif kind == "error":
                    error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
                elif kind == "execute_reply":
                    status = msg["content"]["status"]
                elif kind == "status":
                    idle = msg["content"]["execution_state"] == "idle"
            results.append({"status": status, "output": "".join(out), "error": error})
            if status != "ok":
                break
    finally:
        conn.close()
    return results


def notebook_code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def cell_source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src
