"""The hub's pure parts, no Docker: HUB_GPUS and `nvidia-smi -L` parsing, settings checks, the
start-up services and banner. Placement is in test_slots.py."""

from __future__ import annotations

import asyncio
import os
import re
import socket

import pytest
import yaml

from tests.support.helpers import ROOT
from workshop_hub import gpus, servicedns, settings


@pytest.fixture
def load(monkeypatch):
    """settings.load() with exactly these HUB_* variables in the environment."""

    def load_with(env: dict[str, str]):
        for name in [n for n in os.environ if n.startswith("HUB_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return settings.load()

    return load_with


GOOD = {
    "HUB_USER_PASSWORD": "river-otter-42",
    "HUB_ADMIN_PASSWORD": "x7Qp2Lm9Vt4Rz8Kd3Hs6Wn1Bc5Fg0Jy2Ae",
}

NVIDIA_SMI_L = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaaaaaa-1111-2222-3333-444444444444)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbbbbbbb-1111-2222-3333-444444444444)
  MIG 3g.40gb     Device  0: (UUID: MIG-cccccccc-1111-2222-3333-444444444444)
  MIG 3g.40gb     Device  1: (UUID: MIG-dddddddd-1111-2222-3333-444444444444)
GPU 2: NVIDIA H100 80GB HBM3 (UUID: GPU-eeeeeeee-1111-2222-3333-444444444444)
"""


def test_nvidia_smi_lists_whole_gpus_and_mig_devices_instead_of_their_parent():
    assert gpus.from_nvidia_smi(NVIDIA_SMI_L.splitlines()) == [
        "GPU-aaaaaaaa-1111-2222-3333-444444444444",
        "MIG-cccccccc-1111-2222-3333-444444444444",
        "MIG-dddddddd-1111-2222-3333-444444444444",
        "GPU-eeeeeeee-1111-2222-3333-444444444444",
    ]


def test_each_slot_from_nvidia_smi_names_its_gpu_and_model():
    devices = gpus.devices_from_nvidia_smi(NVIDIA_SMI_L.splitlines())
    assert [(d["gpu"], d["model"]) for d in devices] == [
        ("0", "NVIDIA H100 80GB HBM3"),
        ("1", "NVIDIA H100 80GB HBM3 MIG 3g.40gb"),
        ("1", "NVIDIA H100 80GB HBM3 MIG 3g.40gb"),
        ("2", "NVIDIA H100 80GB HBM3"),
    ]


@pytest.mark.parametrize("text", ["", "none", "CPU", " off "])
def test_cpu_only_pool(text):
    assert gpus.parse_pool(text) == []


def test_pool_accepts_indices_and_uuids_and_rejects_the_rest():
    assert gpus.parse_pool("0, 1 GPU-ab12-cd MIG-ef34") == ["0", "1", "GPU-ab12-cd", "MIG-ef34"]
    assert gpus.parse_pool("0:1,0:2") == ["0:1", "0:2"]
    with pytest.raises(ValueError, match="HUB_GPUS"):
        gpus.parse_pool("0,/dev/nvidia1")
    with pytest.raises(ValueError, match="more than once"):
        gpus.parse_pool("0,1,0")


def test_good_settings_load_with_safe_defaults(load):
    s = load(dict(GOOD))
    assert s.gpus == [] and not s.https and s.publish_ip == "127.0.0.1"
    assert s.users_per_gpu == 1 and s.shm_size == "2G" and s.cull_timeout == 7200
    assert s.admin_users == ["instructor"] and s.roster == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"HUB_USER_PASSWORD": ""}, "HUB_USER_PASSWORD is not set"),
        ({"HUB_USER_PASSWORD": "abc"}, "HUB_USER_PASSWORD is too short"),
        ({"HUB_USER_PASSWORD": "password"}, "HUB_USER_PASSWORD is a well-known"),
        ({"HUB_ADMIN_PASSWORD": "short-admin"}, "HUB_ADMIN_PASSWORD is too short"),
        ({"HUB_ADMIN_PASSWORD": "a" * 40}, "HUB_ADMIN_PASSWORD is a well-known"),
        ({"HUB_ROSTER": "alice, jane/doe"}, "HUB_ROSTER"),
        ({"HUB_GPUS": "0,0"}, "HUB_GPUS"),
        ({"HUB_USERS_PER_GPU": "0"}, "HUB_USERS_PER_GPU"),
        ({"HUB_SHM_SIZE": "lots"}, "HUB_SHM_SIZE"),
        ({"HUB_PUBLISH_IP": "0.0.0.0"}, "HUB_SSL_CERT and HUB_SSL_KEY"),
        ({"HUB_SSL_CERT": "/nonexistent.pem"}, "set both HUB_SSL_CERT and HUB_SSL_KEY"),
        ({"HUB_AUTHENTICATOR": "github"}, "HUB_AUTHENTICATOR"),
    ],
)
def test_bad_settings_name_the_variable(load, change, message):
    with pytest.raises(settings.ConfigError, match=message):
        load({**GOOD, **change})


def test_same_password_for_both_is_refused(load):
    with pytest.raises(settings.ConfigError, match="must differ"):
        load({**GOOD, "HUB_USER_PASSWORD": GOOD["HUB_ADMIN_PASSWORD"]})


def test_roster_from_file(load, tmp_path):
    f = tmp_path / "roster.txt"
    f.write_text("Alice\nbob  # second row\n\nzoë\n", encoding="utf-8")
    assert load({**GOOD, "HUB_ROSTER": f"@{f}"}).roster == ["alice", "bob", "zoë"]


def test_https_allows_publishing_beyond_loopback(load, tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("y")
    s = load({**GOOD, "HUB_PUBLISH_IP": "0.0.0.0", "HUB_SSL_CERT": str(cert), "HUB_SSL_KEY": str(key)})
    assert s.https


@pytest.mark.parametrize("name", ["alice", "jane-doe", "j.doe_2", "zoë", "李雷"])
def test_usernames_allowed(name):
    assert settings.USERNAME_RE.match(name)


@pytest.mark.parametrize("name", ["jane doe", "../x", "a/b", "-lead", "_x", "", "x" * 33, "<b>", "a{b}"])
def test_usernames_refused(name):
    assert not settings.USERNAME_RE.match(name)


def test_native_authenticator_needs_no_shared_secrets(load):
    s = load({"HUB_AUTHENTICATOR": "native"})
    assert s.authenticator == "native"


def test_values_are_typed_and_checked_once(load):
    s = load(
        {
            **GOOD,
            "HUB_GPUS": "0, GPU-ab12",
            "HUB_USERS_PER_GPU": "2",
            "HUB_CPU_LIMIT": "1.5",
            "HUB_SINGLEUSER_ENV": "WORKSHOP_LAB_SIZE=workshop,A_B=c",
            "HUB_ADMIN_USERS": "Lead, second",
            "HUB_CULL_TIMEOUT": "",
        }
    )
    assert s.gpus == ["0", "GPU-ab12"] and s.users_per_gpu == 2 and s.cpu_limit == 1.5
    assert s.singleuser_env == {"WORKSHOP_LAB_SIZE": "workshop", "A_B": "c"}
    assert s.admin_users == ["lead", "second"]
    assert s.cull_timeout == 7200  # empty means the default
    with pytest.raises(settings.ConfigError, match=r"HUB_CPU_LIMIT='lots'"):
        load({**GOOD, "HUB_CPU_LIMIT": "lots"})
    with pytest.raises(settings.ConfigError, match="HUB_SINGLEUSER_ENV: 'lower=x' is not NAME=value"):
        load({**GOOD, "HUB_SINGLEUSER_ENV": "lower=x"})


def test_a_refused_password_is_never_echoed(load):
    with pytest.raises(settings.ConfigError) as refused:
        load({**GOOD, "HUB_USER_PASSWORD": "sunshine-" + "9" * 3, "HUB_ADMIN_PASSWORD": "tiny"})
    assert "tiny" not in str(refused.value) and "HUB_ADMIN_PASSWORD is too short" in str(refused.value)


def documented_variables() -> set[str]:
    text = (ROOT / "hub" / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?(HUB_[A-Z0-9_]+)=", text, flags=re.MULTILINE))


def compose_variables() -> set[str]:
    """HUB_* variables hub/compose.yaml itself reads (the host side: port, address, images)."""
    text = (ROOT / "hub" / "compose.yaml").read_text(encoding="utf-8")
    yaml.safe_load(text)  # it is valid YAML
    return set(re.findall(r"\$\{(HUB_[A-Z0-9_]+)", text))


def test_env_example_documents_every_variable_and_no_stale_one():
    documented, read = documented_variables(), set(settings.variables()) | compose_variables()
    assert not read - documented, f"read by the hub but not in hub/.env.example: {sorted(read - documented)}"
    assert not documented - read, f"in hub/.env.example but read by nothing: {sorted(documented - read)}"


def test_env_example_passwords_are_refused_as_placeholders(load):
    example = dict(re.findall(r"^(HUB_[A-Z0-9_]+)=(.*)$", (ROOT / "hub" / ".env.example").read_text(), re.MULTILINE))
    with pytest.raises(settings.ConfigError, match="placeholder"):
        load({k: v for k, v in example.items() if k in settings.variables()})


# --- one host or a swarm (HUB_MODE) -------------------------------------------------


def test_single_host_is_the_default_and_swarm_is_one_switch(load):
    assert load(GOOD).mode == "single"
    swarm = load({**GOOD, "HUB_MODE": "Swarm"})
    assert swarm.mode == "swarm" and swarm.work_nfs == ""


@pytest.mark.parametrize(
    "env, message",
    [
        ({"HUB_MODE": "cluster"}, "HUB_MODE='cluster'"),
        ({"HUB_MODE": "swarm", "HUB_GPUS": "0,1"}, "HUB_GPUS is for HUB_MODE=single"),
        (
            {"HUB_MODE": "swarm", "HUB_WORK_NFS_SERVER": "nfs.example.org"},
            "set both HUB_WORK_NFS_SERVER and HUB_WORK_NFS_EXPORT",
        ),
        ({"HUB_WORK_NFS_SERVER": "nfs", "HUB_WORK_NFS_EXPORT": "/srv/w"}, "HUB_WORK_NFS_SERVER is for HUB_MODE=swarm"),
        (
            {"HUB_MODE": "swarm", "HUB_WORK_NFS_SERVER": "nfs", "HUB_WORK_NFS_EXPORT": "srv/w"},
            "is not an absolute path",
        ),
        (
            {"HUB_MODE": "swarm", "HUB_WORK_NFS_SERVER": "nfs", "HUB_WORK_NFS_EXPORT": "/srv/w"},
            "add hub/compose.nfs.yaml",
        ),
    ],
)
def test_swarm_settings_that_cannot_work_are_refused_with_the_fix(load, env, message):
    with pytest.raises(settings.ConfigError, match=re.escape(message)):
        load({**GOOD, **env})


def test_work_on_nfs_names_server_and_export(load, tmp_path):
    s = load(
        {
            **GOOD,
            "HUB_MODE": "swarm",
            "HUB_WORK_NFS_SERVER": "nfs.example.org",
            "HUB_WORK_NFS_EXPORT": "/srv/w/",
            "HUB_WORK_NFS_MOUNT": str(tmp_path),
        }
    )
    assert s.work_nfs == "nfs.example.org:/srv/w"


def test_roster_text_shows_node_and_per_node_capacity_in_swarm_mode():
    from workshop_hub import roster

    report = {
        "hub": "h",
        "mode": "swarm",
        "pool": ["gpu-a:0", "gpu-a:1", "gpu-b:0"],
        "free": ["gpu-a:1"],
        "servers": [
            {
                "user": "ada",
                "node": "gpu-a",
                "gpu": "0",
                "state": "ready",
                "running_for": "1m",
                "idle_for": "0s",
                "started": "t",
            }
        ],
        "nodes": [
            {"node": "a", "host": "gpu-a", "devices": ["0", "1"], "used": 1, "total": 2, "problem": ""},
            {"node": "b", "host": "gpu-b", "devices": ["0"], "used": 1, "total": 1, "problem": "node is down"},
        ],
    }
    text = roster.as_text(report)
    assert "gpu-a: 1/2 used (0, 1)" in text
    assert "gpu-b: 1/1 used (0), takes no attendees: node is down" in text
    assert re.search(r"^ada\s+gpu-a\s+0\s+ready", text, re.MULTILINE)
    assert "<td>gpu-a</td>" in roster.as_html(report)


# --- start-up: refusals, services and roles, the banner (workshop_hub/startup.py) ----------


def test_a_bad_setting_refuses_to_start_in_one_line(load, capsys):
    from workshop_hub import startup

    with pytest.raises(settings.ConfigError):
        load({**GOOD, "HUB_USERS_PER_GPU": "0"})  # leaves exactly these variables set
    with pytest.raises(SystemExit) as stopped:
        startup.load_settings()
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert said.startswith("trainer-workshop hub: refusing to start: HUB_USERS_PER_GPU='0'") and said.count("\n") == 1


def test_an_unreachable_engine_refuses_to_start_naming_the_socket(load, monkeypatch, capsys, tmp_path):
    from workshop_hub import startup

    s = load({**GOOD, "HUB_DATA_DIR": str(tmp_path / "state")})
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-such.sock'}")
    with pytest.raises(SystemExit) as stopped:
        startup.preflight(s)
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert "refusing to start: cannot reach the Docker engine" in said and "mount /var/run/docker.sock" in said
    assert not (tmp_path / "state").exists()


def test_services_have_a_stable_roster_token_and_least_privilege_roles(load, tmp_path):
    from workshop_hub import startup

    s = load({**GOOD, "HUB_DATA_DIR": str(tmp_path), "HUB_GPUS": "0,1", "HUB_USERS_PER_GPU": "2"})
    services, roles = startup.services_and_roles(s)
    assert [service["name"] for service in services] == ["roster", "idle-culler"]
    roster = services[0]
    token = (tmp_path / "roster-token").read_text()
    assert roster["api_token"] == token and len(token) == 64
    assert (tmp_path / "roster-token").stat().st_mode & 0o777 == 0o600
    assert roster["environment"] == {
        "HUB_NAME": "trainer-workshop",
        "HUB_GPUS": "0,1",
        "HUB_MODE": "single",
        "HUB_USERS_PER_GPU": "2",
    }
    assert "--timeout=7200" in services[1]["command"] and "--cull-every=300" in services[1]["command"]
    scopes = {role["name"]: role["scopes"] for role in roles}
    assert scopes == {
        "roster": ["list:users", "read:users:activity", "read:servers"],
        "idle-culler": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    }
    # the same token after a restart, and no culler when culling is off
    again, roles = startup.services_and_roles(load({**GOOD, "HUB_DATA_DIR": str(tmp_path), "HUB_CULL_TIMEOUT": "0"}))
    assert [service["name"] for service in again] == ["roster"] and again[0]["api_token"] == token
    assert again[0]["environment"]["HUB_GPUS"] == "none" and [role["name"] for role in roles] == ["roster"]


@pytest.mark.parametrize(
    "env, says",
    [
        ({}, "CPU-only mode: attendees get no GPU, HTTP on loopback only, roster: none (anyone with the password)"),
        ({"HUB_GPUS": "0,1", "HUB_USERS_PER_GPU": "2", "HUB_ROSTER": "ann,bob"}, "GPU pool 0,1 (2 per GPU), HTTP on"),
        ({"HUB_MODE": "swarm"}, "swarm: GPUs from the nodes' labels (1 per GPU), work on each node, HTTP"),
    ],
)
def test_the_banner_says_where_attendees_run(load, capsys, env, says):
    from workshop_hub import startup

    startup.announce(load({**GOOD, **env}))
    line = capsys.readouterr().err
    assert line.startswith("trainer-workshop hub: image trainer-workshop:gpu, ") and says in line
    assert ("roster: 2" in line) == ("HUB_ROSTER" in env)


def resolver_that_fails(times: int):
    """A stand-in for getaddrinfo: `times` failures (the name not in the swarm's DNS), then an address."""
    calls = []

    async def resolve(host: str, port: int):
        calls.append(host)
        if len(calls) <= times:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [("10.0.1.7", port)]

    return resolve, calls


@pytest.mark.parametrize("failures, expected, tries", [(0, True, 1), (3, True, 4), (10**6, False, None)])
def test_the_swarm_spawner_waits_for_the_service_name_and_gives_up_after_its_time(failures, expected, tries):
    resolve, calls = resolver_that_fails(failures)
    found = asyncio.run(servicedns.name_resolves("hub-ada", 8888, seconds=0.2, resolve=resolve, interval=0.01))
    assert found is expected
    assert set(calls) == {"hub-ada"}
    if tries is not None:
        assert len(calls) == tries
    else:
        assert len(calls) > 3  # it kept asking until its time was up
