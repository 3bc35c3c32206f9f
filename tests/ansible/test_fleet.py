"""The ops path on test hosts: molecule scenarios (a host without GPUs; two hosts with
stand-in GPUs, MIG included) that converge, then change nothing on a second run, then
verify; and the README's `make readiness` against the two stand-in hosts, running the
harness of the real workshop image on every stand-in GPU, with a broken task on one host
and a driver too old on the other.

Each test host is a systemd container with its own Docker engine (ansible/molecule/shared).
The gpuless host loads the images' archives; the stand-in hosts pull them from a test
registry (the role's other path), which also keeps the two hosts' peak disk, on one CI
disk, to about half.
The stand-ins print recorded output of real hosts; no GPU is simulated beyond that, so the
real driver and toolkit installs (NVIDIA's repositories) are not exercised here.
Logs of every run: build/ansible/*.log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.helpers import BUILD, ROOT, wait_until

ANSIBLE_DIR = ROOT / "ansible"
STANDIN_INVENTORY = ANSIBLE_DIR / "molecule" / "standin" / "inventory"
BIN = Path(sys.executable).parent
LOGS = BUILD / "ansible"
TESTHOST_IMAGE = "trainer-workshop-testhost:bookworm"
REGISTRY_IMAGE = "trainer-workshop-testregistry:bookworm"
REGISTRY_CONTAINER = "trainer-workshop-testregistry"
STANDINS = {  # host -> its recorded GPU slots
    "standin-h100-mig": ["MIG-5068167e-9b5f-5d9b-8c1e-2f3a4b5c6d01", "MIG-a25704ba-3a06-5299-a795-fd7cf4d13973"],
    "standin-a100": ["GPU-7fdaf0a5-179b-f636-d15d-daf243e3ff16", "GPU-22b2c6ac-2d49-4863-197c-9c469071178a"],
}

pytestmark = pytest.mark.timeout(2400)


def run_logged(command: list[str], log: str, **env: str) -> tuple[int, str]:
    """Run from ansible/, output to build/ansible/LOG.log; returns (exit code, output)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PY_COLORS": "0",
        **env,
    }
    result = subprocess.run(
        command, cwd=ANSIBLE_DIR, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    (LOGS / f"{log}.log").write_text(result.stdout)
    return result.returncode, result.stdout


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def testhost_image(docker_client) -> str:
    """Debian 12 + systemd + Python, FROM the local base (never pulled)."""
    return build_shared_image(docker_client, "testhost.Dockerfile", TESTHOST_IMAGE)


def build_shared_image(docker_client, dockerfile: str, tag: str) -> str:
    """An image of ansible/molecule/shared, FROM the local base (never pulled)."""
    base = os.environ.get("WORKSHOP_BASE_IMAGE", "trainer-workshop-base:bookworm")
    docker_client.images.build(
        path=str(ANSIBLE_DIR / "molecule" / "shared"),
        dockerfile=dockerfile,
        buildargs={"BASE_IMAGE": base},
        tag=tag,
        pull=False,
        rm=True,
    )
    return tag


def archive_path(image: str) -> Path:
    """Where the roles look for an image's archive by default (workshop_image_archive)."""
    return BUILD / "images" / f"{image.replace(':', '-')}.tar"


def archive_image_id(archive: Path) -> str | None:
    if not archive.is_file():
        return None
    manifest = subprocess.run(["tar", "-xOf", str(archive), "manifest.json"], capture_output=True, text=True)
    found = re.search(r"[0-9a-f]{64}", json.loads(manifest.stdout)[0]["Config"]) if manifest.returncode == 0 else None
    return f"sha256:{found.group(0)}" if found else None


@dataclass(frozen=True)
class Registry:
    """The test registry: this engine pushes through the published port on localhost (the
    only plain-HTTP registry an engine trusts unasked); the stand-in hosts pull from its
    address on Docker's default bridge (their daemon.json trusts it)."""

    pushed_from: str
    pulled_from: str

    def push(self, image: str) -> None:
        subprocess.run(["docker", "tag", image, f"{self.pushed_from}/{image}"], check=True)
        subprocess.run(
            ["docker", "push", "--quiet", f"{self.pushed_from}/{image}"], check=True, stdout=subprocess.DEVNULL
        )
        subprocess.run(["docker", "image", "rm", f"{self.pushed_from}/{image}"], check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def test_registry(docker_client, cpu_image, hub_image):
    """A registry (Debian's docker-registry) holding both test images, for workshop_image_registry."""
    build_shared_image(docker_client, "registry.Dockerfile", REGISTRY_IMAGE)
    remove_container(docker_client, REGISTRY_CONTAINER)
    container = docker_client.containers.run(
        REGISTRY_IMAGE, name=REGISTRY_CONTAINER, detach=True, ports={"5000/tcp": ("127.0.0.1", None)}
    )
    try:
        container.reload()
        registry = Registry(
            pushed_from=f"127.0.0.1:{container.ports['5000/tcp'][0]['HostPort']}/workshop",
            pulled_from=f"{container.attrs['NetworkSettings']['IPAddress']}:5000/workshop",
        )
        wait_until(
            lambda: answers(f"http://{registry.pushed_from.split('/')[0]}/v2/"), 30, "the test registry answering /v2/"
        )
        for image in (cpu_image, hub_image):
            registry.push(image)
        yield registry
    finally:
        remove_container(docker_client, REGISTRY_CONTAINER)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


def remove_container(docker_client, name: str) -> None:
    import docker.errors

    with suppress(docker.errors.NotFound):
        docker_client.containers.get(name).remove(force=True, v=True)


@pytest.fixture(scope="session")
def standin_images(cpu_image, hub_image, test_registry) -> dict[str, str]:
    """The stand-in hosts' settings: both test images, pulled from the test registry."""
    return {
        "WORKSHOP_TEST_IMAGE": cpu_image,
        "HUB_TEST_HUB_IMAGE": hub_image,
        "WORKSHOP_TEST_REGISTRY": test_registry.pulled_from,
    }


@pytest.fixture(scope="session")
def image_archives(docker_client, cpu_image, hub_image) -> dict[str, str]:
    """`docker save` archives of the test images where provisioning looks for them."""
    for image in (cpu_image, hub_image):
        archive = archive_path(image)
        if archive_image_id(archive) != docker_client.images.get(image).id:
            archive.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["docker", "save", image, "-o", str(archive)], check=True)
    return {"WORKSHOP_TEST_IMAGE": cpu_image, "HUB_TEST_HUB_IMAGE": hub_image}


def molecule(scenario: str, action: str, settings: dict[str, str], *options: str) -> tuple[int, str]:
    return run_logged(
        [str(BIN / "molecule"), action, "-s", scenario, *options], f"molecule-{scenario}-{action}", **settings
    )


def test_a_host_without_gpus_gets_docker_and_a_cpu_only_hub_and_says_why_gpu_tasks_are_skipped(
    testhost_image, image_archives
):
    code, output = molecule("gpuless", "test", image_archives)
    assert code == 0, tail(output)
    assert "gpuless: no NVIDIA GPU on the PCI bus" in output, "the driver role must say why it skipped"
    assert "no NVIDIA GPU (see the driver role), so no NVIDIA Container Toolkit either" in output
    assert "[gpuless > idempotence] Executed: Successful" in output
    assert "[gpuless > check] Executed: Successful" in output  # --check on a provisioned host
    assert "[gpuless > verify] Executed: Successful" in output


@pytest.fixture(scope="module")
def standin_fleet(testhost_image, standin_images, docker_client):
    """Two stand-in GPU hosts, provisioned (converge, idempotence, verify) and kept for readiness;
    they pull the images from the test registry (the gpuless scenario loads the archives)."""
    code, output = molecule("standin", "test", standin_images, "--destroy", "never")
    try:
        yield code, output
    finally:
        molecule("standin", "destroy", standin_images)


def make(target: str, log: str, images: dict[str, str], report_dir: Path, *args: str) -> tuple[int, str]:
    """The README's commands against the stand-in hosts' own inventory (the one molecule used):
    make provision|readiness INVENTORY=ansible/molecule/standin/inventory ARGS=..."""
    command = [
        "make",
        "-C",
        str(ROOT),
        "--no-print-directory",
        target,
        f"INVENTORY={STANDIN_INVENTORY}",
        "ARGS=" + " ".join([f"-e workshop_report_dir={report_dir}", *args]),
    ]
    return run_logged(command, log, **images)


def more_inventory(tmp_path: Path, host_vars: dict) -> str:
    """A second inventory source with per-host settings, as `-i FILE` for ARGS."""
    path = tmp_path / "more-hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": host_vars}}))
    return f"-i {path}"


def fleet_report(report_dir: Path) -> dict:
    return json.loads((report_dir / "fleet-report.json").read_text())


def test_two_standin_hosts_are_provisioned_then_a_second_run_changes_nothing(standin_fleet):
    code, output = standin_fleet
    assert code == 0, tail(output)
    for step in ("converge", "idempotence", "check", "verify"):
        assert f"[standin > {step}] Executed: Successful" in output
    # Fresh hosts (nothing kept from an earlier run): the first converge pulled the image.
    first_pull = output.split("TASK [workshop_image : Pull the image from the registry]", 1)[1].split("TASK [", 1)[0]
    assert "changed: [standin-h100-mig]" in first_pull and "changed: [standin-a100]" in first_pull, first_pull
    # The driver check read the recorded driver of each host.
    assert "standin-h100-mig: NVIDIA driver 580.95.05 (580+ needed): ok" in output
    assert "standin-a100: NVIDIA driver 580.82.07 (580+ needed): ok" in output


def test_readiness_runs_the_harness_on_every_standin_gpu_and_reports_one_row_each(
    standin_fleet, standin_images, tmp_path
):
    assert standin_fleet[0] == 0, "provisioning failed (see the test above)"
    report_dir = tmp_path / "readiness"
    code, output = make("readiness", "readiness-ready", standin_images, report_dir)
    assert code == 0, tail(output)
    report = fleet_report(report_dir)
    assert report["summary"] == {"slots": 4, "ready": 4, "hosts": 2, "failures": 0}
    rows = {(row["host"], row["device"]): row for row in report["rows"]}
    assert set(rows) == {(host, device) for host, devices in STANDINS.items() for device in devices}
    for row in rows.values():
        assert row["status"] == "ready" and row["tasks"]["SETUP"]["status"] == "PASS"
        assert row["driver"] in ("580.95.05", "580.82.07") and row["image_id"].startswith("sha256:")
        assert row["disk_free_bytes"] > 0
    assert rows[("standin-h100-mig", STANDINS["standin-h100-mig"][0])]["model"] == "NVIDIA H100 80GB HBM3 MIG 3g.40gb"
    markdown = (report_dir / "fleet-report.md").read_text()
    assert "**4 of 4 GPU slots ready** on 2 hosts" in markdown
    assert ET.parse(report_dir / "fleet-junit.xml").getroot().tag == "testsuites"

    # One host again (the README's advice after fixing one): the report is that host's.
    code, output = make("readiness", "readiness-limit", standin_images, report_dir, "--limit", "standin-a100")
    assert code == 0, tail(output)
    assert {row["host"] for row in fleet_report(report_dir)["rows"]} == {"standin-a100"}


def test_a_broken_task_on_one_host_fails_readiness_and_the_report_names_host_gpu_and_task(
    standin_fleet, docker_client, cpu_image, standin_images, test_registry, tmp_path
):
    assert standin_fleet[0] == 0, "provisioning failed (see the test above)"
    # The shared setup is the harness's first task and the cheapest: broken, it fails on its own.
    broken = "trainer-workshop-test:broken-setup"
    inject_broken_task(docker_client, cpu_image, broken, task="SETUP")
    load_into_host(broken, "standin-a100", test_registry)
    report_dir = tmp_path / "readiness"
    code, output = make(
        "readiness",
        "readiness-broken",
        standin_images,
        report_dir,
        more_inventory(tmp_path, {"standin-a100": {"workshop_readiness_image": broken}}),
    )
    assert code != 0, "the play must fail when a task failed"
    for device in STANDINS["standin-a100"]:
        gpu = STANDINS["standin-a100"].index(device)
        assert f"FAILED standin-a100 GPU {gpu} ({device}) task SETUP: " in output, tail(output)
    report = fleet_report(report_dir)
    assert report["summary"] == {"slots": 4, "ready": 2, "hosts": 2, "failures": 2}
    assert {(f["host"], f["task"]) for f in report["failures"]} == {("standin-a100", "task SETUP")}
    assert all("injected by the readiness test" in f["message"] for f in report["failures"])
    for row in report["rows"]:
        expected = "PASS" if row["host"] == "standin-h100-mig" else "FAIL"
        assert row["tasks"]["SETUP"]["status"] == expected, row
    junit = ET.parse(report_dir / "fleet-junit.xml").getroot()
    failed = [case for case in junit.iter("testcase") if case.find("failure") is not None]
    assert sorted((case.get("classname"), case.get("name")) for case in failed) == sorted(
        (f"standin-a100.{device}", "SETUP") for device in STANDINS["standin-a100"]
    )


def test_a_driver_too_old_stops_provisioning_and_readiness_naming_found_and_needed(
    standin_fleet, standin_images, tmp_path
):
    assert standin_fleet[0] == 0, "provisioning failed (see the test above)"
    report_dir = tmp_path / "readiness"
    use_recording("standin-a100", "a100-570")
    try:
        code, output = make("provision", "provision-old-driver", standin_images, report_dir, "--limit", "standin-a100")
        assert code != 0
        assert "standin-a100: NVIDIA driver 570.133.20 found, 580 or newer needed" in output, tail(output)

        code, output = make("readiness", "readiness-old-driver", standin_images, report_dir)
        assert code != 0
        report = fleet_report(report_dir)
        untested = [row for row in report["rows"] if row["host"] == "standin-a100"]
        assert len(untested) == 1 and "570.133.20 found, 580 or newer needed" in untested[0]["problem"]
        assert report["summary"]["ready"] == 2  # the other host's GPUs are still tested
        assert "FAILED standin-a100 not tested: " in output
    finally:
        use_recording("standin-a100", "a100x2")


def test_a_host_short_of_disk_for_the_archive_stops_before_the_copy_naming_free_and_needed(
    standin_fleet, standin_images, tmp_path
):
    assert standin_fleet[0] == 0, "provisioning failed (see the test above)"
    # An archive (of a manifest and zeros: sparse, no disk here) four times the disk's free space.
    archive = tmp_path / "trainer-workshop-huge.tar"
    (tmp_path / "manifest.json").write_text(json.dumps([{"Config": f"blobs/sha256/{'0' * 64}", "Layers": []}]))
    subprocess.run(["tar", "-cf", str(archive), "-C", str(tmp_path), "manifest.json"], check=True)
    os.truncate(archive, 4 * shutil.disk_usage(BUILD).free)
    image_before = host_image_id("standin-a100", standin_images["WORKSHOP_TEST_IMAGE"])
    code, output = make(
        "provision",
        "provision-short-of-disk",
        standin_images,
        tmp_path,
        "--limit",
        "standin-a100",
        "-e workshop_image_registry=",
        f"-e workshop_image_archive={archive}",
    )
    assert code != 0
    stop = output.split("TASK [workshop_image : Stop when the host has too little disk", 1)[1].split("TASK [", 1)[0]
    assert f"standin-a100: too little disk to load {standin_images['WORKSHOP_TEST_IMAGE']}." in stop, tail(output)
    needs = re.findall(
        r"the filesystem at (\S+) needs about ([\d.]+) GB free and has ([\d.]+) GB", " ".join(stop.split())
    )
    assert needs and all(float(need) > float(free) for _, need, free in needs), stop
    assert "TASK [workshop_image : Copy the archive to the host]" not in output
    assert host_image_id("standin-a100", standin_images["WORKSHOP_TEST_IMAGE"]) == image_before


def host_image_id(host: str, image: str) -> str:
    return subprocess.run(
        ["docker", "exec", host, "docker", "image", "inspect", "--format", "{{.Id}}", image],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def use_recording(host: str, recording: str) -> None:
    subprocess.run(
        [
            "docker",
            "exec",
            host,
            "ln",
            "-sfn",
            f"/etc/trainer-workshop-standin/recordings/{recording}",
            "/etc/trainer-workshop-standin/recording",
        ],
        check=True,
    )


def inject_broken_task(docker_client, image: str, broken: str, task: str) -> None:
    """BROKEN = IMAGE with one task's first cell raising: a harness failure on that task only."""
    script = (
        "import json, pathlib\n"
        "for path in pathlib.Path('/opt/workshop/labs').glob('*.ipynb'):\n"
        "    notebook = json.loads(path.read_text())\n"
        "    cells = [c for c in notebook['cells'] if c['cell_type'] == 'code'\n"
        f"             and 'task-{task.lower()}' in [t.lower() for t in c.get('metadata', {{}}).get('tags', [])]]\n"
        "    if cells:\n"
        "        injected = \"raise RuntimeError('injected by the readiness test')\\n\"\n"
        "        cells[0]['source'] = injected + ''.join(cells[0]['source'])\n"
        "        path.write_text(json.dumps(notebook))\n"
        "        print('broke', path)\n"
    )
    config = docker_client.images.get(image).attrs["Config"]
    container = docker_client.containers.run(image, ["python", "-c", script], user="root", entrypoint=[], detach=True)
    try:
        assert container.wait(timeout=120)["StatusCode"] == 0, container.logs().decode()
        assert b"broke" in container.logs()
        repository, tag = broken.split(":")
        # The run's user, entrypoint and command were overridden: put the image's back.
        container.commit(
            repository=repository,
            tag=tag,
            changes=[
                f"USER {config['User']}",
                f"ENTRYPOINT {json.dumps(config['Entrypoint'])}",
                f"CMD {json.dumps(config['Cmd'])}",
            ],
        )
    finally:
        container.remove(force=True)


def load_into_host(image: str, host: str, registry: Registry) -> None:
    """IMAGE into HOST's engine through the test registry: only its layers the host lacks travel."""
    registry.push(image)
    for command in (
        ["pull", "--quiet", f"{registry.pulled_from}/{image}"],
        ["tag", f"{registry.pulled_from}/{image}", image],
        ["image", "rm", f"{registry.pulled_from}/{image}"],
    ):
        subprocess.run(["docker", "exec", host, "docker", *command], check=True, capture_output=True)
