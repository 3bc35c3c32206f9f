"""The hosted hub, for real: one hub container, attendee containers, a pool of 3 stand-in GPUs.

The tests run in file order and share one hub (starting it and three servers is
the expensive part); each says what it needs from the ones before it.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

import pytest

from tests.support.helpers import BUILD, wait_until
from tests.support.hub_tier import POOL, Attendee, Hub, cell_source, container_env, notebook_code_cells

pytestmark = pytest.mark.timeout(900)

PEOPLE: dict[str, Attendee] = {}


def person(hub, name: str) -> Attendee:
    """An attendee who has logged in through the login form and holds their own API token."""
    if name not in PEOPLE:
        a = Attendee(hub, name)
        r = a.login()
        assert r.status_code == 302 and a.logged_in, (r.status_code, r.text[:500])
        a.get_token()
        PEOPLE[name] = a
    return PEOPLE[name]


def device_of(hub, name: str) -> str | None:
    (c,) = hub.user_containers(name)
    return container_env(c, "NVIDIA_VISIBLE_DEVICES")


def test_three_attendees_spawn_at_once_and_get_distinct_devices(hub):
    trio = [person(hub, n) for n in ("alice", "bob", "carol")]
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda a: a.spawn(), trio))
    assert all(r.status_code in (201, 202) for r in responses), [(r.status_code, r.text) for r in responses]
    for a in trio:
        a.wait_ready(300)
    devices = {a.name: device_of(hub, a.name) for a in trio}
    assert sorted(devices.values()) == sorted(POOL), devices
    for a in trio:
        (c,) = hub.user_containers(a.name)
        host = c.attrs["HostConfig"]
        # one device by ID (never a count), no privilege, no Docker socket, limits from config
        (req,) = host["DeviceRequests"]
        assert req["DeviceIDs"] == [devices[a.name]] and req["Count"] == 0
        assert not host["Privileged"]
        assert not any("docker.sock" in m.get("Source", "") for m in c.attrs["Mounts"])
        assert host["ShmSize"] == 512 * 1024**2 and host["Memory"] == 3 * 1024**3
        assert host["NanoCpus"] or host["CpuQuota"] == 150_000
        work = [m for m in c.attrs["Mounts"] if m["Destination"] == "/home/jovyan/work"]
        assert work and work[0]["Type"] == "volume" and work[0]["Name"] == f"{hub.name}-work-{a.name}"


def test_fourth_attendee_is_told_the_pool_is_full_and_gets_no_container(hub):
    dave = person(hub, "dave")
    r = dave.spawn()
    assert r.status_code == 503, (r.status_code, r.text)
    assert "No GPU is free: all 3 GPUs" in r.json()["message"]
    # what the browser shows: the spawn page answers with the same message
    page = dave.session.get(f"{hub.url}/hub/spawn/dave", timeout=60)
    assert "No GPU is free" in page.text, page.text[-2000:]
    assert hub.user_containers("dave", all=True) == []
    assert not dave.model()["servers"]


def test_stopping_a_server_frees_its_device_for_the_next_attendee(hub):
    freed = device_of(hub, "bob")
    PEOPLE["bob"].stop()
    assert hub.user_containers("bob", all=True) == []
    dave = PEOPLE["dave"]
    r = dave.spawn()
    assert r.status_code in (201, 202), (r.status_code, r.text)
    dave.wait_ready(300)
    assert device_of(hub, "dave") == freed


def test_roster_command_shows_who_runs_on_which_gpu(hub):
    out = hub.container.exec_run(["workshop-roster", "--json"])
    assert out.exit_code == 0, out.output.decode()
    report = json.loads(out.output)
    rows = {r["user"]: r for r in report["servers"] if r["container_state"] == "running"}
    assert set(rows) == {"alice", "carol", "dave"}
    for name, row in rows.items():
        assert row["gpu"] == device_of(hub, name) and row["started"] and row["state"] == "ready"
    assert report["free"] == [] and report["mode"] == "gpu"
    text = hub.container.exec_run(["workshop-roster"]).output.decode()
    assert "alice" in text and "idle_for" in text


def test_roster_page_is_for_instructors_only(hub):
    alice = PEOPLE["alice"]
    r = alice.session.get(f"{hub.url}/services/roster/", timeout=60)
    assert r.status_code == 403 or "Workshop roster" not in r.text
    instructor = Attendee(hub, "instructor")
    assert instructor.login(password=hub.admin_password).status_code == 302
    r = instructor.session.get(f"{hub.url}/services/roster/api", timeout=60)
    assert r.status_code == 200, r.text[:500]
    assert {row["user"] for row in r.json()["servers"]} >= {"alice", "carol", "dave"}
    services = instructor.session.get(f"{hub.url}/hub/api/services", timeout=60).json()
    assert {"roster", "idle-culler"} <= set(services)
    roles = set(services["idle-culler"]["roles"])
    assert "idle-culler" in roles and "admin" not in roles  # its own scoped role, not admin


def test_hub_restart_keeps_servers_devices_and_routes(hub):
    before = {n: (hub.user_containers(n)[0].id, device_of(hub, n)) for n in ("alice", "carol", "dave")}
    hub.restart()
    after = {n: (hub.user_containers(n)[0].id, device_of(hub, n)) for n in ("alice", "carol", "dave")}
    assert after == before
    for n in before:
        a = PEOPLE[n]
        assert a.model()["servers"][""]["ready"]
        r = a.server.api("GET", "/status")
        assert r.status_code == 200, (n, r.status_code, r.text[:300])
    # the pool is still known to be full: it is derived from the running containers
    r = person(hub, "erin").spawn()
    assert r.status_code == 503 and "No GPU is free" in r.text


def test_work_survives_server_stop_and_start(hub):
    alice = PEOPLE["alice"]
    note = f"written at {time.time()}"
    r = alice.server.api("PUT", "/contents/keep-me.txt", json={"type": "file", "format": "text", "content": note})
    assert r.status_code in (200, 201), (r.status_code, r.text)
    alice.stop()
    r = alice.spawn()
    assert r.status_code in (201, 202), (r.status_code, r.text)
    alice.wait_ready(300)
    r = alice.server.api("GET", "/contents/keep-me.txt")
    assert r.status_code == 200 and r.json()["content"] == note


def test_lab_task_runs_through_the_proxy_with_the_attendees_token(hub):
    carol, alice = PEOPLE["carol"], PEOPLE["alice"]
    # attendee A's token cannot reach attendee B's server
    denied = carol.server.api("GET", "/contents", token=alice.token)
    assert denied.status_code in (302, 403), denied.status_code
    assert carol.server.api("GET", "/contents").status_code == 200

    listing = carol.server.api("GET", "/contents/labs").json()
    names = sorted(item["name"] for item in listing["content"] if item["name"].endswith(".ipynb"))
    first_lab = next(n for n in names if re.match(r"0*1_", n))
    nb = carol.server.api("GET", f"/contents/labs/{first_lab}").json()["content"]
    cells = notebook_code_cells(nb)
    # the lab's opening cells up to and including its first task (1A: train and evaluate)
    upto = next(
        i
        for i, c in enumerate(cells)
        if any(t.startswith("task-") and t != "task-setup" for t in c.get("metadata", {}).get("tags", []))
    )
    code = [cell_source(c) for c in cells[:upto]]
    # A short run of the task: this checks the hub's plumbing; the smoke harness (labs/smoke)
    # checks the task's full outcome.
    code.append("base_args.max_steps = 6")
    code.append(cell_source(cells[upto]))
    code.append("import os; print('NVIDIA_VISIBLE_DEVICES=' + os.environ.get('NVIDIA_VISIBLE_DEVICES', ''))")
    results = carol.server.run_cells(code, notebook_path=f"labs/{first_lab}", timeout=600)
    assert all(r.status == "ok" for r in results) and len(results) == len(code), results[-1]
    assert re.search(r"eval loss before=[\d.]+ after=[\d.]+", "".join(r.output for r in results)), results
    assert results[-1].output.strip() == f"NVIDIA_VISIBLE_DEVICES={device_of(hub, 'carol')}"


@pytest.mark.parametrize(
    ("username", "password", "expected"),
    [
        ("alice", "not-the-password", "Invalid username or password"),
        ("mallory", None, "not on this workshop's roster"),
        ("jane doe", None, "can't be used"),
        ("../etc/passwd", None, "can't be used"),
        ("a/b", None, "can't be used"),
        ("<script>x</script>", None, "can't be used"),
        ("x" * 40, None, "can't be used"),
        ("", None, "can't be used"),
        ("instructor", None, "Invalid username or password"),  # admins need the admin password
    ],
)
def test_bad_logins_get_a_clear_answer(hub, username, password, expected):
    a = Attendee(hub, username)
    r = a.login(password)
    assert r.status_code == 403, (r.status_code, r.headers.get("location"))
    assert expected in r.text.replace("&#39;", "'").replace("&#x27;", "'"), r.text[-1500:]
    assert not a.logged_in
    assert "<script>x</script>" not in r.text
    assert a.session.get(f"{hub.url}/hub/api/", timeout=10).status_code == 200


def test_unicode_name_on_the_roster_logs_in(hub):
    a = Attendee(hub, "Zoë")  # normalized to lower case, NFC
    r = a.login()
    assert r.status_code == 302 and a.logged_in, r.text[-1000:]
    a.name = "zoë"
    assert a.get_token()
    assert a.model()["name"] == "zoë"


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"HUB_USER_PASSWORD": None}, "HUB_USER_PASSWORD is not set"),
        ({"HUB_USER_PASSWORD": "short"}, "HUB_USER_PASSWORD is too short"),
        ({"HUB_ADMIN_PASSWORD": None}, "HUB_ADMIN_PASSWORD is not set"),
        (
            {"HUB_ADMIN_PASSWORD": "CHANGE-ME-a-long-random-admin-password-of-32-or-more-characters"},
            "HUB_ADMIN_PASSWORD is a well-known or placeholder value",
        ),
        ({"HUB_PUBLISH_IP": "0.0.0.0"}, "HUB_SSL_CERT and HUB_SSL_KEY"),
        ({"HUB_GPUS": "0,/dev/nvidia1"}, "HUB_GPUS"),
        (
            {"HUB_IMAGE": "trainer-workshop:no-such-tag"},
            "HUB_IMAGE=trainer-workshop:no-such-tag is not on this Docker engine",
        ),
    ],
)
def test_hub_refuses_to_start_with_a_missing_or_weak_setting(hub, override, variable):
    env = {**hub.settings(**override), "HUB_NETWORK": hub.network}
    c = hub.client.containers.run(
        hub.image,
        detach=True,
        environment=env,
        network=hub.network,
        volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
        labels={"trainer-workshop.hub.test": hub.name},
    )
    try:
        status = c.wait(timeout=120)
        logs = c.logs().decode(errors="replace")
    finally:
        c.remove(force=True)
    assert status["StatusCode"] == 2, logs[-2000:]
    assert "refusing to start" in logs and variable in logs, logs[-2000:]


def test_cpu_only_hub_says_so_and_the_idle_culler_stops_idle_servers(hub):
    """HUB_GPUS=none: a second small hub on the same engine, no device requests; its idle
    culler (timeout shortened to 30 s here) stops the idle server and removes its container."""
    cpu = Hub(
        hub.client,
        hub.name + "-cpu",
        hub.image,
        hub.workshop_image,
        env={"HUB_GPUS": "none", "HUB_CULL_TIMEOUT": "30", "HUB_CULL_EVERY": "10"},
    )
    try:
        cpu.start()
        assert "CPU-only mode" in cpu.logs()
        frank = Attendee(cpu, "frank")
        assert frank.login().status_code == 302
        frank.get_token()
        assert frank.spawn().status_code in (201, 202)
        frank.wait_ready(300)
        (c,) = cpu.user_containers("frank")
        assert not c.attrs["HostConfig"]["DeviceRequests"]
        assert container_env(c, "WORKSHOP_GPU") == "none"
        events = frank.session.get(f"{cpu.url}/hub/api/users/frank/server/progress", headers=frank.auth, timeout=30)
        assert events.status_code == 200
        wait_until(
            lambda: not frank.model()["servers"] and not cpu.user_containers("frank", all=True),
            180,
            "the idle culler stopping frank's server",
            interval=3,
        )
        assert "Culling server frank" in cpu.logs() or "culling" in cpu.logs().lower()
    finally:
        cpu.remove()


def test_https_with_given_certificate_and_native_authenticator(hub, tmp_path):
    """HTTPS from a mounted certificate (so publishing beyond loopback is allowed), and the
    NativeAuthenticator option (its sign-up page is served)."""
    import subprocess

    import requests

    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(tmp_path / "privkey.pem"),
            "-out",
            str(tmp_path / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )
    (tmp_path / "privkey.pem").chmod(0o644)
    tls = Hub(
        hub.client,
        hub.name + "-tls",
        hub.image,
        hub.workshop_image,
        env={
            "HUB_AUTHENTICATOR": "native",
            "HUB_USER_PASSWORD": None,
            "HUB_ADMIN_PASSWORD": None,
            "HUB_SSL_CERT": "/srv/tls/fullchain.pem",
            "HUB_SSL_KEY": "/srv/tls/privkey.pem",
        },
        scheme="https",
        tls_dir=str(tmp_path),
    )
    try:
        tls.start()
        assert tls.url.startswith("https://")
        r = requests.get(f"{tls.url}/hub/signup", verify=str(tmp_path / "fullchain.pem"), timeout=30)
        assert r.status_code == 200 and "signup" in r.text.lower(), r.text[-1000:]
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{tls.url}/hub/login", timeout=30)  # a certificate nobody trusts is refused
        plain = tls.url.replace("https://", "http://")
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{plain}/hub/login", timeout=10)  # no plain HTTP on the HTTPS port
    finally:
        tls.remove()


def test_browser_logs_in_and_runs_the_first_lab_cell(hub):
    """Headless Chromium (Debian's package) driven by Playwright, as an attendee would."""
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        import os

        msg = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    if "dave" in PEOPLE and PEOPLE["dave"].model()["servers"]:
        PEOPLE["dave"].stop()  # free a GPU for erin
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        page = None
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", "erin")
            page.fill("#password_input", hub.user_password)
            page.click("#login_submit")
            page.wait_for_url(re.compile(r".*/user/erin/lab.*"), timeout=300_000)
            page.wait_for_selector("#jp-main-dock-panel")
            page.goto(f"{hub.url}/user/erin/lab/tree/labs/01_bootstrapping.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-CodeCell")
            # JupyterLab asks which kernel when the notebook names none: take the default.
            with suppress(PlaywrightTimeout):
                page.locator(".jp-Dialog").get_by_role("button", name="Select").click(timeout=15_000)
            # the kernel must be idle before we run anything
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            cell = page.locator(".jp-Notebook .jp-CodeCell").first
            cell.click()
            page.keyboard.press("Shift+Enter")
            prompt = cell.locator(".jp-InputPrompt")
            wait_until(lambda: re.search(r"\[\d+\]", prompt.inner_text()), 300, "the first lab cell finishing")
            output = cell.locator(".jp-OutputArea").inner_text()
            assert "Traceback" not in output and "Error" not in output, output
            assert "model=" in output, output
        finally:
            if page is not None:
                (BUILD / "hub").mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(BUILD / "hub" / "browser-first-cell.png"))
            browser.close()
