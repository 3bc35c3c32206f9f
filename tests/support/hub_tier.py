"""Helpers for the hub tier: start a real hub the way ops do, log in, spawn, run code.

Used by tests/hub (pytest) and tests/bench/hub_spawn.py. The hub starts through
hub/compose.yaml (`docker compose up -d`, as ops run it in hub/), with its settings in an
env file; everything then talks to it the way a browser or a script would: the login
form, the REST API with a user's own token, the Jupyter API through the hub's proxy URL.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import requests

from tests.support.helpers import ROOT, JupyterClient, free_port, wait_until
from workshop_hub import LABEL_GPU, LABEL_HUB, LABEL_USER  # noqa: F401 - re-exported for the tests

COMPOSE_FILE = ROOT / "hub" / "compose.yaml"
# The test hub's pool of three: an index, a GPU UUID and a MIG UUID (all three forms the hub accepts).
POOL = ["0", "GPU-7f1c2d3e-0000-4a5b-8c9d-0123456789ab", "MIG-4d5e6f70-1111-4a5b-8c9d-0123456789ab"]
ROSTER = ["alice", "bob", "carol", "dave", "erin", "zoë"]


@dataclass
class Hub:
    """A hub started with hub/compose.yaml as its own compose project, for a test session or
    a benchmark; `remove()` takes down the project, its attendee containers and volumes."""

    client: object
    name: str
    image: str
    workshop_image: str
    env: dict
    scheme: str = "http"
    tls_dir: str = ""
    url: str = ""
    # Where its port is published, which compose files (hub/), which engine (DOCKER_HOST=...).
    address: str = "127.0.0.1"
    compose_files: tuple[str, ...] = ("compose.yaml",)
    engine_env: dict = field(default_factory=dict)
    user_password: str = field(default_factory=lambda: "attendee-" + secrets.token_hex(6))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(36))

    def __post_init__(self):
        self.port = free_port()
        self.network = f"{self.name}-net"
        self._env_file = Path(tempfile.mkstemp(prefix=f"{self.name}-", suffix=".env")[1])

    def settings(self, **override) -> dict[str, str]:
        """What hub/.env would hold for this hub (None removes a variable)."""
        env = {
            "HUB_USER_PASSWORD": self.user_password,
            "HUB_ADMIN_PASSWORD": self.admin_password,
            "HUB_ADMIN_USERS": "instructor",
            "HUB_IMAGE": self.workshop_image,
            "HUB_NAME": self.name,
            **self.env,
        }
        env.update(override)
        return {k: v for k, v in env.items() if v is not None}

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """`docker compose ARGS` in hub/ for this hub's project, as ops would type it."""
        host = {"HUB_ENV_FILE": str(self._env_file), "HUB_SERVER_IMAGE": self.image, "HUB_NETWORK": self.network,
                "HUB_PORT": str(self.port), "HUB_PUBLISH_IP": self.settings().get("HUB_PUBLISH_IP", "127.0.0.1"),
                "HUB_TLS_DIR": self.tls_dir or str(ROOT / "hub" / "tls")}
        files = [option for name in self.compose_files for option in ("-f", name)]
        return subprocess.run(["docker", "compose", "-p", self.name, *files, *args], cwd=COMPOSE_FILE.parent,
                              env={**os.environ, **self.engine_env, **host}, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, timeout: float = 120):
        self._env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings().items()), encoding="utf-8")
        up = self.compose("up", "-d")
        if up.returncode != 0:
            raise RuntimeError(f"docker compose up failed:\n{up.stderr}\n{self.logs()[-3000:]}")
        self.url = f"{self.scheme}://{self.address}:{self.port}"
        self.wait_up(timeout)
        return self

    @property
    def container(self):
        (hub,) = self.client.containers.list(all=True, filters={
            "label": [f"com.docker.compose.project={self.name}", "com.docker.compose.service=hub"]})
        return hub

    def wait_up(self, timeout: float = 120):
        def answers() -> bool:
            if self.container.status == "exited":
                raise RuntimeError("hub exited:\n" + self.logs()[-3000:])
            try:
                with warnings.catch_warnings():  # readiness only: HTTPS hubs here use a test certificate
                    warnings.simplefilter("ignore")
                    return requests.get(f"{self.url}/hub/api/", timeout=3, verify=False).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_until(answers, timeout, "the hub answering /hub/api/")
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n{self.logs()[-3000:]}") from None

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "hub").stdout

    def restart(self, timeout: float = 120):
        restarted = self.compose("restart", "hub")
        assert restarted.returncode == 0, restarted.stderr
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
        self.compose("down", "--volumes", "--timeout", "5")
        for v in self.client.volumes.list(filters={"name": f"{self.name}-work-"}):
            try:
                v.remove(force=True)
            except docker.errors.APIError:
                pass
        self._env_file.unlink(missing_ok=True)


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
        wait_until(lambda: not self.model()["servers"], timeout, f"{self.name}'s server stopping")

    def model(self) -> dict:
        r = self.api("GET", f"/users/{quote(self.name)}")
        r.raise_for_status()
        return r.json()

    def wait_ready(self, timeout: float = 300) -> float:
        """Seconds until the server is ready; RuntimeError if it is gone (a failed spawn)."""
        def ready() -> bool:
            server = self.model()["servers"].get("")
            if not server:
                raise RuntimeError(f"{self.name}'s server is gone (spawn failed?)")
            return bool(server.get("ready"))

        start = time.monotonic()
        wait_until(ready, timeout, f"{self.name}'s server ready")
        return time.monotonic() - start

    @property
    def server(self) -> JupyterClient:
        """Their own Jupyter server, through the hub's proxy, with their token."""
        return JupyterClient(f"{self.hub.url}/user/{quote(self.name)}", self.token)


def notebook_code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def cell_source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src
