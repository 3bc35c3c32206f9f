"""The workshop image, cpu flavour: what `docker inspect`, the manifest and `docker run` show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from docker.types import DeviceRequest

from tests.support.helpers import BUILD, HARNESS_TASKS, ROOT, SUMMARY, run_container, run_make, task_statuses

OFFLINE = {"network_mode": "none"}

pytestmark = pytest.mark.timeout(3600)


def lock_pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def manifest(client, image: str) -> dict:
    result = run_container(client, image, "cat", "/opt/workshop/MANIFEST.json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_image_is_non_root_with_healthcheck_and_labels(docker_client, cpu_image):
    config = docker_client.images.get(cpu_image).attrs["Config"]
    assert config["User"] in ("1000:1000", "1000", "jovyan")
    assert config["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL")
    assert config["WorkingDir"] == "/home/jovyan/work"
    labels = config["Labels"]
    for key in (
        "org.opencontainers.image.title",
        "org.opencontainers.image.version",
        "org.opencontainers.image.created",
        "org.opencontainers.image.base.name",
    ):
        assert labels.get(key), key
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["WORKSHOP_MODEL"] == "/opt/workshop/data/models/minilm"
    assert run_container(docker_client, cpu_image, "id", "-un").stdout.strip() == "jovyan"


def test_manifest_lists_the_pinned_stack(docker_client, cpu_image):
    data = manifest(docker_client, cpu_image)
    pins = lock_pins(ROOT / "docker" / "requirements-cpu-amd64.lock")
    installed = {re.sub(r"[-_.]+", "-", name): version for name, version in data["packages"].items()}
    missing = {name: version for name, version in pins.items() if installed.get(name) != version}
    assert not missing, f"packages not as locked: {missing}"
    assert data["torch"]["version"] == "2.13.0+cpu" and data["torch"]["cuda"] is None
    assert data["flavor"] == "cpu" and data["build_date"]
    for variable in ("WORKSHOP_MODEL", "WORKSHOP_CAUSAL_MODEL", "WORKSHOP_DATASET"):
        record = data["models"][variable]
        assert record["source"] == "local" and len(record["sha256"]) == 64
    assert any(name.endswith(".ipynb") for name in data["labs"])


def test_model_cache_is_read_only_for_the_user(docker_client, cpu_image):
    script = (
        "set -u; for d in /opt/workshop/hf /opt/workshop/hf/hub /opt/workshop/data /opt/workshop/data/models/minilm "
        "/opt/workshop/labs /opt/venv; do "
        "  if touch $d/.probe 2>/dev/null; then echo WRITABLE $d; fi; done; "
        "test -w $HOME/work && echo WORK_OK"
    )
    result = run_container(docker_client, cpu_image, "bash", "-c", script)
    assert "WRITABLE" not in result.stdout, result.stdout
    assert run_container(docker_client, cpu_image, "test", "-d", "/opt/workshop/hf/hub").exit_code == 0
    assert "WORK_OK" in result.stdout
    # ...and the models load offline as that user.
    result = run_container(
        docker_client,
        cpu_image,
        "python",
        "-c",
        "import os; from transformers import AutoModelForSequenceClassification as M, "
        "AutoModelForCausalLM as C, AutoTokenizer as T; "
        "M.from_pretrained(os.environ['WORKSHOP_MODEL'], num_labels=2); "
        "T.from_pretrained(os.environ['WORKSHOP_MODEL']); "
        "C.from_pretrained(os.environ['WORKSHOP_CAUSAL_MODEL']); "
        "T.from_pretrained(os.environ['WORKSHOP_CAUSAL_MODEL']); "
        "print('LOADED')",
        **OFFLINE,
    )
    assert "LOADED" in result.stdout, result.stderr[-2000:]


def test_transformers_source_link_points_at_the_installed_package(docker_client, cpu_image):
    result = run_container(
        docker_client,
        cpu_image,
        "bash",
        "-c",
        "readlink -f /opt/workshop/labs/transformers-src && ls /opt/workshop/labs/transformers-src/trainer.py",
    )
    assert result.exit_code == 0, result.stderr
    assert "/opt/venv/lib/python3" in result.stdout


def test_a_model_not_in_the_cache_is_named_with_the_fix(docker_client, cpu_image):
    result = run_container(
        docker_client, cpu_image, "check", environment={"WORKSHOP_MODEL": "bert-base-cased"}, **OFFLINE
    )
    assert result.exit_code == 2
    assert "WORKSHOP_MODEL=bert-base-cased is not in this image's model cache" in result.stderr
    assert "make image WORKSHOP_MODEL=bert-base-cased" in result.stderr
    # the smoke command checks its --model option before running anything
    result = run_container(docker_client, cpu_image, "smoke", "--model", "no-such/model", **OFFLINE)
    assert result.exit_code == 2
    assert "'no-such/model' is not in the local cache and HF_HUB_OFFLINE=1 forbids downloading it" in result.stderr
    assert "Set WORKSHOP_MODEL (--model) to one in the local cache" in result.stderr


def test_an_old_nvidia_driver_is_named(docker_client, cpu_image, tmp_path):
    fake = tmp_path / "version"
    fake.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Tue Jan 14 2025\n")
    options = {
        "environment": {
            "WORKSHOP_FLAVOR": "gpu",
            "NVIDIA_VISIBLE_DEVICES": "0",
            "WORKSHOP_NVIDIA_VERSION_FILE": "/tmp/nvidia-version",
        },
        "volumes": {str(fake): {"bind": "/tmp/nvidia-version", "mode": "ro"}},
    }
    result = run_container(docker_client, cpu_image, "check", **options)
    assert result.exit_code == 2
    assert "NVIDIA driver 570.86.15 found, >= 580 needed" in result.stderr
    fake.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.95.05  Thu Sep 25 2025\n")
    result = run_container(docker_client, cpu_image, "check", **options)
    assert result.exit_code == 0, result.stderr


def test_gpus_flag_reaches_the_container(docker_client, cpu_image):
    """With the CI's stand-in hook, dockerd accepts --gpus; the container sees the device request."""
    import docker

    try:
        result = run_container(
            docker_client,
            cpu_image,
            "printenv",
            "NVIDIA_VISIBLE_DEVICES",
            device_requests=[DeviceRequest(device_ids=["0"], capabilities=[["gpu"]])],
        )
    except docker.errors.APIError as error:
        if "could not select device driver" in str(error):
            pytest.skip("this engine has no NVIDIA runtime hook (CI installs a stand-in: .ci/run)")
        raise
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_unknown_flavor_is_refused_with_the_fix(docker_client):
    result = subprocess.run(["make", "image", "FLAVOR=tpu"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "docker-bake.hcl has no image workshop-tpu" in result.stderr
    assert "make image FLAVOR=cpu|gpu" in result.stderr


def test_size_script_reports_the_image(cpu_image):
    result = subprocess.run(
        [sys.executable, "docker/image_size.py", cpu_image, "--no-compressed"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"image size .*: [\d.]+ (GB|MB) uncompressed", result.stdout)


@pytest.fixture(scope="module")
def image_smoke(cpu_image) -> tuple[str, Path]:
    """`make image-smoke` (docker run --network none IMAGE smoke, what the release and readiness
    run in each image): the one full harness run of the suite; its output and report folder.

    WORKSHOP_TEST_SMOKE_ARGS (e.g. "--labs 1") narrows the run while developing; CI runs it all."""
    result = run_make("image-smoke", f"IMAGE={cpu_image}", f"ARGS={SMOKE_ARGS}", timeout=3300)
    log = result.stdout + result.stderr
    (BUILD / "docker").mkdir(parents=True, exist_ok=True)
    (BUILD / "docker" / "smoke-in-image.log").write_text(log)
    summary = SUMMARY.findall(result.stdout)
    assert summary, f"no summary line from the harness; exit {result.returncode}:\n{log[-4000:]}"
    assert int(summary[-1][1]) == 0 and result.returncode == 0, log[-8000:]
    return result.stdout, BUILD / "image-smoke"


SMOKE_ARGS = os.environ.get("WORKSHOP_TEST_SMOKE_ARGS", "")
every_task = pytest.mark.skipif(bool(SMOKE_ARGS), reason="WORKSHOP_TEST_SMOKE_ARGS narrows the harness run")


@pytest.mark.timeout(3600)
def test_smoke_harness_inside_the_image_offline(image_smoke):
    stdout, out = image_smoke
    passed, _, skipped = map(int, SUMMARY.findall(stdout)[-1])  # the fixture asserted 0 failed
    assert passed > 0
    assert stdout.strip().splitlines()[-1] == f"{passed} passed, 0 failed, {skipped} skipped"
    assert (out / "junit.xml").is_file() and (out / "report.md").is_file()
    # the baked labs are read-only: the harness ran a writable copy beside its report
    assert (out / "labs" / "01_bootstrapping.ipynb").is_file()


@every_task
def test_every_task_passes_or_is_justifiably_skipped(image_smoke):
    stdout, _ = image_smoke
    found = task_statuses(stdout)
    assert sorted(found) == sorted(HARNESS_TASKS), f"expected setup + 28 tasks + GPT-2, got {sorted(found)}"
    # The one thing an offline image lacks: a Hub token and network for the push.
    assert {task for task, status in found.items() if status == "SKIPPED"} <= {"5C"}
    assert {task for task, status in found.items() if status == "PASS"} >= set(HARNESS_TASKS) - {"5C"}


@every_task
def test_fsdp_shards_the_model_across_two_cpu_processes(image_smoke):
    stdout, out = image_smoke
    line = next(line for line in stdout.splitlines() if re.match(r"^(PASS|SKIPPED|FAIL)\s+1C", line))
    assert line.startswith("PASS"), line
    report = json.loads((out / "runs" / "fsdp" / "fsdp_report.json").read_text())
    assert (report["wrapper"], report["world_size"], report["backend"]) == ("FSDP2", 2, "gloo")
    held = [rank["local_elements"] for rank in report["ranks"]]
    full = report["ranks"][0]["full_elements"]
    assert all(h < full for h in held) and sum(held) == full
    assert report["gradient_check"]["passed"]


@every_task
def test_reports_carry_every_task_with_its_costs(image_smoke):
    _, out = image_smoke
    suite = ET.parse(out / "junit.xml").getroot()
    # setup + the seed tasks + GPT-2, and the disk budget; every task with its measured costs
    assert int(suite.get("tests")) == len(HARNESS_TASKS) + 1 and suite.get("failures") == "0"
    tasks = [case for case in suite.iter("testcase") if case.get("classname") != "budget"]
    costs = {
        case.get("name").split()[0]: {p.get("name"): float(p.get("value")) for p in case.iter("property")}
        for case in tasks
    }
    for task, measured in costs.items():
        assert measured["peak_rss_bytes"] > 100 * 2**20, f"{task}: {measured}"
    report = (out / "report.md").read_text()
    assert "0 failed" in report and "within the limit" in report
    # Only 3A (two kept checkpoints) and Lab 5 (a saved model) leave anything sizeable.
    assert {task for task, measured in costs.items() if measured["disk_written_bytes"] > 2**20} == {"3A", "5A"}, costs


def test_gpu_flavour_has_cuda_torch_and_runs_the_harness_on_cpu(docker_client, gpu_image):
    result = run_container(
        docker_client,
        gpu_image,
        "python",
        "-c",
        "import torch; assert torch.backends.cuda.is_built(); print('cuda', torch.version.cuda, torch.__version__)",
        **OFFLINE,
    )
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "cuda 13.0" in result.stdout
    result = run_container(
        docker_client,
        gpu_image,
        "bash",
        "-c",
        "command -v gcc g++ && test -f /usr/include/python3*/Python.h || ls /usr/include/python3*/Python.h",
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    subset = os.environ.get("WORKSHOP_TEST_SMOKE_ARGS") or "--labs 1"
    result = run_container(docker_client, gpu_image, "smoke", *subset.split(), shm_size="1g", timeout=3000, **OFFLINE)
    summary = SUMMARY.findall(result.stdout)
    assert summary and int(summary[-1][1]) == 0, (result.stdout + result.stderr)[-4000:]
