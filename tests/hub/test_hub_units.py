"""The hub's pure parts, no Docker: the GPU pool, `nvidia-smi -L` parsing, settings checks."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hub"))

from workshop_hub import gpus, settings  # noqa: E402

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


def test_choose_device_is_exclusive_then_shares_evenly():
    pool = ["a", "b", "c"]
    assert gpus.choose_device(pool, Counter()) == "a"
    assert gpus.choose_device(pool, Counter({"a": 1})) == "b"
    assert gpus.choose_device(pool, Counter({"a": 1, "c": 1})) == "b"
    with pytest.raises(gpus.PoolFull):
        gpus.choose_device(pool, Counter({"a": 1, "b": 1, "c": 1}))
    # two per GPU: fill the least used first, never a third
    assert gpus.choose_device(pool, Counter({"a": 1, "b": 1, "c": 1}), users_per_gpu=2) == "a"
    assert gpus.choose_device(pool, Counter({"a": 2, "b": 1, "c": 2}), users_per_gpu=2) == "b"
    with pytest.raises(gpus.PoolFull):
        gpus.choose_device(pool, Counter({"a": 2, "b": 2, "c": 2}), users_per_gpu=2)


def test_good_settings_load_with_safe_defaults():
    s = settings.load(dict(GOOD))
    assert s.cpu_only and not s.https and s.publish_ip == "127.0.0.1"
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
def test_bad_settings_name_the_variable(change, message):
    with pytest.raises(settings.ConfigError, match=message):
        settings.load({**GOOD, **change})


def test_same_password_for_both_is_refused():
    with pytest.raises(settings.ConfigError, match="must differ"):
        settings.load({**GOOD, "HUB_USER_PASSWORD": GOOD["HUB_ADMIN_PASSWORD"]})


def test_roster_from_file(tmp_path):
    f = tmp_path / "roster.txt"
    f.write_text("Alice\nbob  # second row\n\nzoë\n", encoding="utf-8")
    assert settings.load({**GOOD, "HUB_ROSTER": f"@{f}"}).roster == ["alice", "bob", "zoë"]


def test_https_allows_publishing_beyond_loopback(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("y")
    s = settings.load({**GOOD, "HUB_PUBLISH_IP": "0.0.0.0", "HUB_SSL_CERT": str(cert), "HUB_SSL_KEY": str(key)})
    assert s.https


@pytest.mark.parametrize("name", ["alice", "jane-doe", "j.doe_2", "zoë", "李雷"])
def test_usernames_allowed(name):
    assert settings.USERNAME_RE.match(name)


@pytest.mark.parametrize("name", ["jane doe", "../x", "a/b", "-lead", "_x", "", "x" * 33, "<b>", "a{b}"])
def test_usernames_refused(name):
    assert not settings.USERNAME_RE.match(name)


def test_native_authenticator_needs_no_shared_secrets():
    s = settings.load({"HUB_AUTHENTICATOR": "native"})
    assert s.authenticator == "native"
