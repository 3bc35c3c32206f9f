"""Solo study with compose.yaml: up -> healthy -> token login -> run a lab notebook through
the Jupyter server's API -> write in work -> down -> up -> the work is still there; and the
image compose.yaml names: the published one by default, built when the pull fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid

import pytest
import requests

from tests.support.helpers import ROOT, TEST_IMAGE_SETTINGS, JupyterClient, free_port, pip_setting

pytestmark = pytest.mark.timeout(1200)


class Compose:
    def __init__(self, image: str | None, token: str | None, files: tuple[str, ...] = (), **settings: str):
        """image=None: compose.yaml's own default (the published image)."""
        self.project = f"twtest{os.getpid()}{uuid.uuid4().hex[:6]}"
        self.files = [arg for name in files for arg in ("-f", name)]
        self.port = free_port()
        self.env = dict(os.environ, JUPYTER_HOST_PORT=str(self.port), **settings)
        for name in ("JUPYTER_TOKEN", "WORKSHOP_IMAGE", "WORKSHOP_GPU_IMAGE", "TORCH_CPU_WHEELHOUSE", "CA_BUNDLE"):
            self.env.pop(name, None)
        self.env.update(settings)
        if image:
            self.env.update(WORKSHOP_IMAGE=image, WORKSHOP_GPU_IMAGE=image)
        if token:
            self.env["JUPYTER_TOKEN"] = token

    def __call__(self, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["docker", "compose", "-p", self.project, *self.files, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            logs = subprocess.run(
                ["docker", "compose", "-p", self.project, *self.files, "logs", "--no-color"],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
            ).stdout
            pytest.fail(f"docker compose {' '.join(args)} failed:\n{result.stderr}\n--- logs ---\n{logs[-4000:]}")
        return result

    def up(self):
        return self("up", "-d", "--no-build", "--wait", "--wait-timeout", "240", timeout=400)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def compose(cpu_image):
    made = []

    def make(token: str | None, files: tuple[str, ...] = (), image: str | None = cpu_image, **settings: str) -> Compose:
        made.append(Compose(image, token, files, **settings))
        return made[-1]

    yield make
    for project in made:
        project("down", "-v", "--timeout", "5", check=False)


def test_compose_up_login_run_a_lab_and_keep_work_across_down_up(compose):
    token = uuid.uuid4().hex
    project = compose(token)
    project.up()
    published = project("port", "lab", "8888").stdout.strip()
    assert published == f"127.0.0.1:{project.port}", f"not bound to loopback only: {published}"

    # no token, no entry
    assert requests.get(f"{project.url}/api/contents/labs", timeout=10).status_code == 403
    server = JupyterClient(project.url, token)
    listing = server.api("GET", "/contents/labs")
    assert listing.status_code == 200
    notebooks = sorted(item["name"] for item in listing.json()["content"] if item["name"].endswith(".ipynb"))
    assert notebooks, listing.json()

    # Execute the first lab notebook, cell by cell, in a kernel started beside it; then the
    # kernel writes into the work volume from the labs folder it runs in.
    notebook_path = f"labs/{notebooks[0]}"
    notebook = server.api("GET", f"/contents/{notebook_path}").json()["content"]
    cells = [cell["source"] for cell in notebook["cells"] if cell["cell_type"] == "code" and cell["source"].strip()]
    cells.append("import os; open('kernel-wrote-this.txt', 'w').write(os.getcwd()); print(os.getcwd())")
    results = server.run_cells(cells, notebook_path, timeout=300)
    failed = [(cells[i][:500], r.error) for i, r in enumerate(results) if r.status != "ok"]
    assert not failed and len(results) == len(cells), f"{notebook_path}: cell failed: {failed}"
    assert results[-1].output.strip() == "/home/jovyan/work/labs"

    # A student's change to a lab notebook, and a new file, through the contents API.
    changed = dict(notebook)
    changed["cells"] = notebook["cells"] + [{"cell_type": "markdown", "metadata": {}, "source": "my own notes"}]
    saved = server.api(
        "PUT", f"/contents/{notebook_path}", json={"type": "notebook", "format": "json", "content": changed}
    )
    assert saved.status_code == 200, saved.text
    put = server.api("PUT", "/contents/mine.txt", json={"type": "file", "format": "text", "content": "keep me"})
    assert put.status_code in (200, 201), put.text

    project("down", "--timeout", "5")
    project.up()

    server.api("GET", "/status").raise_for_status()
    assert server.api("GET", "/contents/mine.txt").json()["content"] == "keep me"
    assert server.api("GET", "/contents/labs/kernel-wrote-this.txt").status_code == 200
    again = server.api("GET", f"/contents/{notebook_path}").json()["content"]
    assert again["cells"][-1]["source"] == "my own notes", "the student's notebook was overwritten on restart"


def test_no_token_makes_one_never_an_open_server(compose):
    project = compose(None)
    project.up()
    logs = project("logs", "--no-color", "lab").stdout
    assert "No JUPYTER_TOKEN was set" in logs, logs[-3000:]
    assert "JUPYTER_TOKEN" in logs and "/lab?token=" in logs
    token = logs.split("/lab?token=", 1)[1].split()[0]
    assert requests.get(f"{project.url}/api/contents", timeout=10).status_code == 403
    assert requests.get(f"{project.url}/api/contents", params={"token": token}, timeout=10).status_code == 200
    # the same token after down/up (it is kept with the work)
    project("down", "--timeout", "5")
    project.up()
    assert requests.get(f"{project.url}/api/contents", params={"token": token}, timeout=10).status_code == 200


def test_the_gpu_switch_hands_the_gpus_to_the_container(compose):
    """compose.gpu.yaml asks the engine for all GPUs (the CI's stand-in hook accepts that
    without a GPU); the gpu flavour itself is `make test-gpu-image`, so the cpu image stands in."""
    project = compose("gpu-switch", files=("compose.yaml", "compose.gpu.yaml"))
    result = project("up", "-d", "--no-build", "--wait", "--wait-timeout", "240", check=False, timeout=400)
    if "could not select device driver" in result.stderr:
        pytest.skip("this engine has no NVIDIA runtime hook (CI installs a stand-in: .ci/run)")
    assert result.returncode == 0, result.stderr
    # The engine sets it for the container's processes (not for `exec`): read PID 1's environment.
    env = project("exec", "-T", "lab", "bash", "-c", "tr '\\0' '\\n' < /proc/1/environ").stdout.splitlines()
    assert "NVIDIA_VISIBLE_DEVICES=all" in env


def test_the_default_image_is_the_published_one_for_this_version(compose):
    version = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    config = compose(None, image=None)("config", "--format", "json").stdout
    lab = json.loads(config)["services"]["lab"]
    assert lab["image"] == f"ghcr.io/trainer-workshop/trainer-workshop:{version}-cpu"
    assert lab["pull_policy"] == "missing"
    moved = compose(None, image=None, WORKSHOP_REGISTRY="registry.example", WORKSHOP_OWNER="us")(
        "config", "--format", "json"
    )
    assert json.loads(moved.stdout)["services"]["lab"]["image"] == f"registry.example/us/trainer-workshop:{version}-cpu"


def test_a_build_with_nothing_set_and_no_torch_index_stops_with_the_one_line_fix(compose):
    """Offline with nothing set: no wheelhouse, and PyTorch's CPU index (here a closed port, so
    the test means the same where the internet is reachable) cannot be reached."""
    project = compose(
        None,
        image=f"trainer-workshop-test:solo-nothing-{uuid.uuid4().hex[:6]}",
        TORCH_CPU_INDEX="http://127.0.0.1:9/whl/cpu",
    )
    result = project("build", check=False, timeout=900)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "PyTorch's CPU wheel index http://127.0.0.1:9/whl/cpu cannot be reached" in output, output[-3000:]
    assert re.search(
        r"Fix \(offline\): set TORCH_CPU_WHEELHOUSE=DIR, a folder holding "
        r"torch-2\.13\.0\+cpu-cp311-cp311-manylinux_2_28_x86_64\.whl, and build again\.",
        output,
    )


def test_when_the_pull_fails_compose_builds_offline_from_the_wheelhouse_and_serves(compose):
    """The published image cannot be pulled (no registry answers), so `docker compose up` builds
    it, offline: torch from the wheelhouse, the models from local data (no model hub here)."""
    wheelhouse = pip_setting("global.find-links")
    if not wheelhouse:
        pytest.skip("no wheelhouse with torch's CPU wheel on this host (pip's find-links)")
    # A TLS-inspecting proxy's CA bundle, found as docker/build.py finds it.
    ca = (
        os.environ.get("CA_BUNDLE")
        or os.environ.get("PIP_CERT")
        or os.environ.get("SSL_CERT_FILE")
        or pip_setting("global.cert")
    )
    settings = dict(
        TEST_IMAGE_SETTINGS,
        TORCH_CPU_WHEELHOUSE=wheelhouse,
        WORKSHOP_REGISTRY="127.0.0.1:9",
        WORKSHOP_OWNER="twtest",
        WORKSHOP_VERSION=uuid.uuid4().hex[:8],
        TORCH_CPU_INDEX="http://127.0.0.1:9/whl/cpu",
    )
    if ca:
        settings["CA_BUNDLE"] = ca
    token = uuid.uuid4().hex
    project = compose(token, image=None, **settings)
    image = f"127.0.0.1:9/twtest/trainer-workshop:{settings['WORKSHOP_VERSION']}-cpu"
    try:
        project("up", "-d", "--wait", "--wait-timeout", "240", timeout=1500)
        JupyterClient(project.url, token).api("GET", "/status").raise_for_status()
        labels = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", image],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(labels)["org.trainer-workshop.flavor"] == "cpu"
    finally:
        project("down", "-v", "--rmi", "all", "--timeout", "5", check=False)
