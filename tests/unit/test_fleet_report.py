"""ansible/fleet_report.py on recorded inputs: data/readiness/hosts is what the readiness
play fetched from two stand-in hosts (an H100 split into two MIG devices, ready; two A100s
running an image with task 1A broken). Variants are made from copies of it."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.helpers import ROOT

RECORDED = Path(__file__).parent / "data" / "readiness"
A100 = ["GPU-7fdaf0a5-179b-f636-d15d-daf243e3ff16", "GPU-22b2c6ac-2d49-4863-197c-9c469071178a"]
MIG = ["MIG-5068167e-9b5f-5d9b-8c1e-2f3a4b5c6d01", "MIG-a25704ba-3a06-5299-a795-fd7cf4d13973"]


def load_fleet_report():
    spec = importlib.util.spec_from_file_location("fleet_report", ROOT / "ansible" / "fleet_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


fleet_report = load_fleet_report()


@pytest.fixture
def reports(tmp_path) -> Path:
    shutil.copytree(RECORDED, tmp_path / "readiness")
    return tmp_path / "readiness"


def merge(report_dir: Path, *hosts: str, capsys) -> tuple[int, str, dict]:
    code = fleet_report.main([str(report_dir), *hosts])
    out = capsys.readouterr().out
    document = json.loads((report_dir / "fleet-report.json").read_text()) if code != 2 else {}
    return code, out, document


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_recorded_fleet_with_a_broken_task_fails_naming_host_gpu_and_task(reports, capsys):
    code, out, document = merge(reports, "standin-a100", "standin-h100-mig", capsys=capsys)
    assert code == 1
    assert document["summary"] == {"slots": 4, "ready": 2, "hosts": 2, "failures": 2}
    for gpu, device in enumerate(A100):
        assert f"FAILED standin-a100 GPU {gpu} ({device}) task 1A: RuntimeError: injected by the readiness test" in out
    assert "2 of 4 GPU slots ready on 2 hosts" in out

    markdown = (reports / "fleet-report.md").read_text()
    assert "**2 of 4 GPU slots ready** on 2 hosts; 2 failures below." in markdown
    assert (
        "| standin-h100-mig | GPU 0 MIG-5068167e | `MIG-5068167e-9b5f-5d9b-8c1e-2f3a4b5c6d01` "
        "| NVIDIA H100 80GB HBM3 MIG 3g.40gb | 580.95.05 |" in markdown
    )
    assert "| standin-a100 | GPU 1 | ✗ |" in markdown and "| standin-h100-mig | GPU 0 MIG-a25704ba | ✓ |" in markdown

    junit = ET.parse(reports / "fleet-junit.xml").getroot()
    suites = {suite.get("name"): suite for suite in junit.iter("testsuite")}
    assert len(suites) == 4
    assert suites[f"standin-a100 GPU 1 ({A100[1]})"].get("failures") == "1"
    assert suites[f"standin-h100-mig GPU 0 ({MIG[0]})"].get("failures") == "0"
    properties = {p.get("name"): p.get("value") for p in suites[f"standin-a100 GPU 0 ({A100[0]})"].iter("property")}
    assert properties["driver"] == "580.82.07" and properties["image"] == "trainer-workshop-test:broken-1a"


def test_every_gpu_ready_exits_0(reports, capsys):
    shutil.rmtree(reports / "hosts" / "standin-a100")
    code, out, document = merge(reports, "standin-h100-mig", capsys=capsys)
    assert code == 0 and document["failures"] == []
    assert out.splitlines() == [f"2 of 2 GPU slots ready on 1 hosts; report: {reports / 'fleet-report.md'}"]


def test_a_host_that_left_no_result_is_a_failure(reports, capsys):
    code, out, document = merge(reports, "standin-a100", "standin-h100-mig", "gpu-c", capsys=capsys)
    assert code == 1
    assert "FAILED gpu-c not tested: no result: the host was unreachable" in out
    assert [row["status"] for row in document["rows"] if row["host"] == "gpu-c"] == ["FAILED"]


def test_only_the_hosts_of_this_run_are_merged(reports, capsys):
    # `--limit standin-h100-mig`: the A100's results on disk are an older run's.
    code, out, document = merge(reports, "standin-h100-mig", capsys=capsys)
    assert code == 0 and {row["host"] for row in document["rows"]} == {"standin-h100-mig"}


def test_a_host_that_could_not_be_tested_says_why(reports, capsys):
    shutil.rmtree(reports / "hosts" / "standin-a100")
    (reports / "hosts" / "standin-a100").mkdir()
    (reports / "hosts" / "standin-a100" / "host.json").write_text(
        json.dumps(
            {
                "host": "standin-a100",
                "driver": "570.133.20",
                "slots": [],
                "error": "Check that the driver is new enough for the image: standin-a100: "
                "NVIDIA driver 570.133.20 found, 580 or newer needed",
            }
        )
    )
    code, out, document = merge(reports, "standin-a100", "standin-h100-mig", capsys=capsys)
    assert code == 1 and document["summary"]["ready"] == 2
    assert "FAILED standin-a100 not tested: Check that the driver is new enough" in out
    assert "570.133.20 found, 580 or newer needed" in (reports / "fleet-report.md").read_text()


def test_a_run_without_a_report_quotes_the_end_of_its_log(reports, capsys):
    (reports / "hosts" / "standin-h100-mig" / "slot1" / "report.json").unlink()
    edit_json(
        reports / "hosts" / "standin-h100-mig" / "host.json", lambda host: host["slots"][1].update(exit_code="137")
    )
    code, out, _ = merge(reports, capsys=capsys)
    line = next(line for line in out.splitlines() if MIG[1] in line)
    assert "task harness: the harness wrote no report (exit code 137); harness log ends: " in line
    assert "0 passed, 1 failed, 0 skipped" not in line and "passed" in line  # the h100's own log, not another's


def test_a_run_past_its_timeout_fails(reports, capsys):
    edit_json(
        reports / "hosts" / "standin-h100-mig" / "host.json", lambda host: host["slots"][0].update(timed_out=True)
    )
    code, out, _ = merge(reports, capsys=capsys)
    assert f"FAILED standin-h100-mig GPU 0 ({MIG[0]}) task harness: did not finish within 5400 s" in out


def test_a_run_that_got_another_gpu_than_its_own_fails(reports, capsys):
    # What a `count=1` device request does: every container sees the same GPU.
    edit_json(
        reports / "hosts" / "standin-h100-mig" / "slot1" / "report.json",
        lambda report: report["environment"].update(NVIDIA_VISIBLE_DEVICES=MIG[0]),
    )
    code, out, _ = merge(reports, capsys=capsys)
    assert f"ran with NVIDIA_VISIBLE_DEVICES={MIG[0]}, not its own device {MIG[1]}" in out


def test_the_disk_budget_is_part_of_readiness(reports, capsys):
    edit_json(
        reports / "hosts" / "standin-h100-mig" / "slot0" / "report.json",
        lambda report: report["disk"].update(used_bytes=3_000_000_000, exceeded=True),
    )
    code, out, _ = merge(reports, capsys=capsys)
    assert f"FAILED standin-h100-mig GPU 0 ({MIG[0]}) disk budget: the labs wrote 3.0 GB, over the 2.1 GB limit" in out


def test_one_image_name_with_two_ids_across_hosts_is_noted(reports, capsys):
    edit_json(
        reports / "hosts" / "standin-a100" / "host.json",
        lambda host: host["image"].update(name="trainer-workshop-test:cpu"),
    )
    code, out, document = merge(reports, capsys=capsys)
    assert any(
        line.startswith("NOTE trainer-workshop-test:cpu is not the same image on every host")
        for line in out.splitlines()
    )
    assert document["notes"]


def test_nothing_to_merge_is_a_usage_error(tmp_path, capsys):
    assert fleet_report.main([str(tmp_path)]) == 2
    assert "no readiness results under" in capsys.readouterr().err
