"""The (node, device) slots (hub/workshop_hub/slots.py) for every pool shape: one host (a
one-node pool), GPU indices, GPU UUIDs, MIG devices, shared GPUs; nodes down, drained,
unlabelled; an attendee's home node. Pure Python over dicts shaped as the Docker API returns them."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from workshop_hub import LABEL_GPU, LABEL_HUB, LABEL_NODE
from workshop_hub.slots import (
    LABEL_NODE_DEVICES,
    ONE_HOST,
    HomeNodeFull,
    HomeNodeGone,
    PoolFull,
    capacity,
    choose_slot,
    held_on_one_host,
    held_slots,
    nfs_volume_options,
    nodes_from_swarm,
    one_host,
)

HUB = "trainer-workshop"


def api_node(host: str, devices: str | None, state: str = "ready", availability: str = "active") -> dict:
    labels = {} if devices is None else {LABEL_NODE_DEVICES: devices}
    return {
        "ID": f"id-{host}",
        "Description": {"Hostname": host},
        "Status": {"State": state},
        "Spec": {"Availability": availability, "Labels": labels},
    }


def api_service(node: str, device: str, hub: str = HUB) -> dict:
    return {"Spec": {"Labels": {LABEL_HUB: hub, LABEL_NODE: node, LABEL_GPU: device}}}


def fill(nodes, users_per_gpu=1, attendees=100):
    """Place attendees one by one as the hub does (held = the services so far) until full."""
    services, placed = [], []
    for _ in range(attendees):
        try:
            slot = choose_slot(nodes, held_slots(services, HUB), users_per_gpu)
        except PoolFull as full:
            return placed, full
        services.append(api_service(slot.node, slot.device))
        placed.append(slot)
    return placed, None


def on_one_host(held: dict[str, int]) -> Counter:
    return Counter({(ONE_HOST, device): n for device, n in held.items()})


def test_one_host_is_exclusive_then_shares_evenly():
    pool = one_host(["a", "b", "c"])

    def device(held: dict[str, int], users_per_gpu: int = 1) -> str:
        return choose_slot(pool, on_one_host(held), users_per_gpu).device

    assert device({}) == "a"
    assert device({"a": 1}) == "b"
    assert device({"a": 1, "c": 1}) == "b"
    with pytest.raises(PoolFull):
        device({"a": 1, "b": 1, "c": 1})
    # two per GPU: fill the least used first, never a third
    assert device({"a": 1, "b": 1, "c": 1}, users_per_gpu=2) == "a"
    assert device({"a": 2, "b": 1, "c": 2}, users_per_gpu=2) == "b"
    with pytest.raises(PoolFull):
        device({"a": 2, "b": 2, "c": 2}, users_per_gpu=2)


@pytest.mark.parametrize("users_per_gpu", [1, 2])
def test_one_host_and_a_one_node_swarm_place_alike_and_say_full_alike(users_per_gpu):
    """The same rule for both modes: the same devices held the same way give the same choices;
    only where the full pool is said to be differs (this hub, or its hosts)."""
    host = one_host(["0", "GPU-x", "MIG-y"])
    (node,) = nodes_from_swarm([api_node("gpu-a", "0,GPU-x,MIG-y")])
    containers, services = [], []
    for _ in range(3 * users_per_gpu):
        here = choose_slot(host, held_on_one_host(containers), users_per_gpu)
        there = choose_slot([node], held_slots(services, HUB), users_per_gpu)
        assert (here.node, here.device) == (ONE_HOST, there.device)
        containers.append({"State": "running", "Labels": {LABEL_GPU: here.device}})
        services.append(api_service(there.node, there.device))
    sharing = " (2 attendees per GPU)" if users_per_gpu == 2 else ""
    with pytest.raises(PoolFull, match=re.escape(f"No GPU is free: all 3 GPUs on this hub are in use{sharing}. ")):
        choose_slot(host, held_on_one_host(containers), users_per_gpu)
    with pytest.raises(PoolFull, match=re.escape(f"all 3 GPUs on 1 hosts of this hub are in use{sharing}. ")):
        choose_slot([node], held_slots(services, HUB), users_per_gpu)


def test_one_host_counts_every_hubs_running_containers_by_their_gpu_label():
    containers = [
        {"State": "running", "Labels": {LABEL_GPU: "0", LABEL_HUB: HUB}},
        {"State": "created", "Labels": {LABEL_GPU: "0", LABEL_HUB: "other-hub"}},
        {"State": "exited", "Labels": {LABEL_GPU: "1"}},
        {"State": "dead", "Labels": {LABEL_GPU: "1"}},
        {"State": "running", "Labels": {LABEL_GPU: ""}},
        {"State": "running"},
    ]
    assert held_on_one_host(containers) == Counter({(ONE_HOST, "0"): 2})


SHAPES = {
    "indices": ("0,1", "0,1", "0,1"),
    "gpu uuids": ("GPU-a0,GPU-a1", "GPU-b0,GPU-b1", "GPU-c0,GPU-c1"),
    "mig": ("MIG-a0,MIG-a1", "MIG-b0,MIG-b1", "MIG-c0,MIG-c1"),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_three_nodes_of_two_devices_give_six_distinct_slots_then_pool_full(shape):
    nodes = nodes_from_swarm(api_node(f"gpu{i}", devices) for i, devices in enumerate(SHAPES[shape]))
    placed, full = fill(nodes)
    assert len(placed) == 6
    assert len({(slot.node, slot.device) for slot in placed}) == 6
    # spread: the first three land on three different hosts
    assert len({slot.host for slot in placed[:3]}) == 3
    assert Counter(slot.host for slot in placed) == {"gpu0": 2, "gpu1": 2, "gpu2": 2}
    assert "all 6 GPUs on 3 hosts of this hub are in use" in full.message
    assert "No server was started" in full.message


def test_same_index_on_two_nodes_is_two_slots():
    nodes = nodes_from_swarm([api_node("a", "0"), api_node("b", "0")])
    placed, _ = fill(nodes)
    assert sorted((s.host, s.device) for s in placed) == [("a", "0"), ("b", "0")]


def test_sharing_fills_every_device_once_before_any_twice():
    nodes = nodes_from_swarm([api_node("a", "GPU-a"), api_node("b", "GPU-b")])
    placed, full = fill(nodes, users_per_gpu=2)
    assert [s.device for s in placed[:2]] == ["GPU-a", "GPU-b"]
    assert Counter(s.device for s in placed) == {"GPU-a": 2, "GPU-b": 2}
    assert "(2 attendees per GPU)" in full.message


def test_a_node_with_more_room_is_preferred():
    nodes = nodes_from_swarm([api_node("small", "0"), api_node("big", "0,1,2,3")])
    held = held_slots([api_service("id-big", "0")], HUB)
    # both have a device held 0 times; big has 3 free, small 1: big first
    assert choose_slot(nodes, held).host == "big"


@pytest.mark.parametrize(
    "state, availability, why",
    [
        ("down", "active", "node is down"),
        ("unknown", "active", "node is unknown"),
        ("ready", "drain", "node is drained"),
        ("ready", "pause", "node is paused"),
    ],
)
def test_nodes_that_cannot_take_attendees_give_no_slots_and_say_why(state, availability, why):
    nodes = nodes_from_swarm([api_node("gone", "0,1", state, availability), api_node("ok", "0")])
    assert [n.problem for n in nodes if n.host == "gone"] == [why]
    placed, full = fill(nodes)
    assert [s.host for s in placed] == ["ok"]
    assert "all 1 GPUs on 1 hosts" in full.message


def test_unlabelled_and_mislabelled_nodes_are_named():
    nodes = {
        n.host: n
        for n in nodes_from_swarm([api_node("bare", None), api_node("typo", "gpu0"), api_node("hubonly", "none")])
    }
    assert "no trainer-workshop.gpus label" in nodes["bare"].problem
    assert "is not a device list" in nodes["typo"].problem and "'gpu0'" in nodes["typo"].problem
    assert nodes["hubonly"].problem == "" and not nodes["hubonly"].usable
    with pytest.raises(PoolFull):
        choose_slot(list(nodes.values()), Counter())


def test_held_slots_count_only_this_hubs_labelled_services():
    services = [
        api_service("n1", "0"),
        api_service("n1", "0"),
        api_service("n2", "1", hub="other-hub"),
        {"Spec": {"Labels": {LABEL_HUB: HUB}}},
        {"Spec": {}},
    ]
    assert held_slots(services, HUB) == Counter({("n1", "0"): 2})


def test_a_returning_attendee_goes_home_even_when_another_node_is_emptier():
    nodes = nodes_from_swarm([api_node("home", "0,1"), api_node("empty", "0,1,2")])
    held = held_slots([api_service("id-home", "0")], HUB)
    slot = choose_slot(nodes, held, home="id-home")
    assert (slot.host, slot.device) == ("home", "1")


def test_home_full_says_so_and_takes_nothing_elsewhere():
    nodes = nodes_from_swarm([api_node("home", "0"), api_node("empty", "0,1")])
    with pytest.raises(HomeNodeFull, match="Your work is on home, and all its 1 GPUs are in use"):
        choose_slot(nodes, held_slots([api_service("id-home", "0")], HUB), home="id-home")


@pytest.mark.parametrize(
    "nodes, home, text",
    [
        ([api_node("home", "0", state="down"), api_node("ok", "0")], "id-home", "Your work is on home (node is down)"),
        ([api_node("home", "0", availability="drain")], "id-home", "Your work is on home (node is drained)"),
        ([api_node("ok", "0")], "id-vanished-node", "a node no longer in the swarm (id-vanished-)"),
    ],
)
def test_home_gone_tells_the_attendee_their_work_is_kept(nodes, home, text):
    with pytest.raises(HomeNodeGone) as gone:
        choose_slot(nodes_from_swarm(nodes), Counter(), home=home)
    assert text in gone.value.message
    assert "your work is kept there" in gone.value.message


def test_capacity_per_node():
    nodes = nodes_from_swarm([api_node("a", "0,1"), api_node("b", "MIG-x", state="down")])
    held = held_slots([api_service("id-a", "1"), api_service("id-b", "MIG-x")], HUB)
    assert capacity(nodes, held, users_per_gpu=2) == [
        {"node": "id-a", "host": "a", "devices": ["0", "1"], "used": 1, "total": 4, "problem": ""},
        {"node": "id-b", "host": "b", "devices": ["MIG-x"], "used": 1, "total": 2, "problem": "node is down"},
    ]


def test_no_slot_is_ever_held_beyond_its_share_through_starts_and_stops():
    """Random starts and stops, each start placed from the services alone (as after any hub
    restart): no (node, device) is ever held by more than users_per_gpu services."""
    rng = random.Random(7)
    nodes = nodes_from_swarm([api_node("a", "GPU-1,GPU-2"), api_node("b", "MIG-1,MIG-2,MIG-3"), api_node("c", "0")])
    for users_per_gpu in (1, 3):
        services = []
        for _ in range(400):
            if services and rng.random() < 0.4:
                services.pop(rng.randrange(len(services)))
                continue
            try:
                slot = choose_slot(nodes, held_slots(services, HUB), users_per_gpu)
            except PoolFull:
                assert len(services) == 6 * users_per_gpu
                continue
            services.append(api_service(slot.node, slot.device))
            assert max(held_slots(services, HUB).values()) <= users_per_gpu


def test_nfs_work_is_a_per_attendee_folder_of_the_export():
    assert nfs_volume_options("nfs.example.org:/srv/workshop-work/", "jane-doe") == {
        "type": "nfs",
        "o": "addr=nfs.example.org,rw,nfsvers=4,hard",
        "device": ":/srv/workshop-work/jane-doe",
    }


def test_provisioning_writes_the_label_the_hub_reads():
    import yaml

    from tests.support.helpers import ROOT

    role_vars = yaml.safe_load((ROOT / "ansible" / "roles" / "docker_swarm" / "vars" / "main.yml").read_text())
    assert role_vars["docker_swarm_devices_label"] == LABEL_NODE_DEVICES
