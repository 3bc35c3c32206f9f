"""The harness's mechanics on tiny notebooks in a real kernel: PASS, FAIL (cell or check), SKIPPED."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest


def notebook(path: Path, cells: list[tuple[str, str | None]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Tiny lab"))
    for source, tag in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tag:
            cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    nbformat.write(nb, path)


def smoke_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def run_smoke(labs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    # The harness checks before any kernel starts that the models load; these tiny labs
    # use none, so a bare config stands in for both.
    model = out.parent / f"{out.name}-model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text('{"model_type": "bert"}')
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "smoke",
            "--labs-dir",
            str(labs),
            "--output",
            str(out),
            "--model",
            str(model),
            "--causal-model",
            str(model),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=smoke_env(),
        timeout=300,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    labs = tmp_path_factory.mktemp("labs")
    notebook(
        labs / "04_tiny.ipynb",
        [
            ("import numpy as np\neval_ds = [0, 1]", None),  # prelude
            ("probs = np.array([[0.25, 0.75], [0.5, 0.5]])\nprint('ok')", "task-4C"),  # the check passes
            ("probs = np.array([[0.9, 0.9], [0.5, 0.5]])", "task-4D"),  # no loss_only_* variables: check fails
        ],
    )
    notebook(
        labs / "05_tiny.ipynb",
        [
            ("hub_blocker = 'no Hugging Face token'", "task-5C"),  # skipped with the reason
            ("x = 1", "task-5D"),
            ("trainer = Trainer(per_device_batch_size=8)", "task-5D"),  # a broken cell fails its task
        ],
    )
    out = tmp_path_factory.mktemp("out")
    return run_smoke(labs, out), out


def test_exit_status_and_summary_line(tiny_run):
    result, _ = tiny_run
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1 passed, 2 failed, 1 skipped"


def test_each_task_reported_with_status(tiny_run):
    result, _ = tiny_run
    lines = {
        line.split()[1]: line.split()[0]
        for line in result.stdout.splitlines()
        if line.split()[:1] in (["PASS"], ["FAIL"], ["SKIPPED"])
    }
    assert lines == {"4C": "PASS", "4D": "FAIL", "5C": "SKIPPED", "5D": "FAIL"}


def test_failure_names_error_and_cell(tiny_run):
    result, _ = tiny_run
    assert "NameError: name 'Trainer' is not defined" in result.stdout
    assert "05_tiny.ipynb cell 3" in result.stdout
    assert "the notebook defined no loss_only_metrics" in result.stdout


def test_junit_and_markdown_reports(tiny_run):
    _, out = tiny_run
    suite = ET.parse(out / "junit.xml").getroot()
    # four tasks and the disk budget
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "1")
    skipped = suite.find(".//testcase[skipped]/skipped")
    assert "no Hugging Face token" in skipped.get("message")
    report = (out / "report.md").read_text()
    assert "1 passed, 2 failed, 1 skipped" in report and "## Failures" in report


def test_executed_notebooks_are_saved_without_checks(tiny_run):
    _, out = tiny_run
    executed = nbformat.read(out / "executed" / "04_tiny.ipynb", as_version=4)
    assert len(executed.cells) == 4
    assert "smoke.checks" not in json.dumps(executed)
    assert executed.cells[2].outputs[0]["text"] == "ok\n"


def test_missing_labs_folder_says_how_to_build_it(tmp_path):
    missing = run_smoke(tmp_path / "nowhere", tmp_path / "out")
    assert missing.returncode == 2 and "make labs" in missing.stdout


def test_a_model_that_cannot_load_stops_before_any_task(tmp_path):
    notebook(tmp_path / "01_x.ipynb", [("a = 1", "task-1A")])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "smoke",
            "--labs-dir",
            str(tmp_path),
            "--output",
            str(tmp_path / "out"),
            "--model",
            "nobody/not-cached",
        ],
        capture_output=True,
        text=True,
        env=smoke_env(HF_HUB_OFFLINE="1"),
        timeout=120,
    )
    assert result.returncode == 2
    assert "'nobody/not-cached' is not in the local cache and HF_HUB_OFFLINE=1" in result.stderr
    assert "WORKSHOP_MODEL (--model)" in result.stderr
    assert not (tmp_path / "out" / "junit.xml").exists()


def test_unknown_task_is_refused(tmp_path):
    notebook(tmp_path / "01_x.ipynb", [("a = 1", "task-1A")])
    result = run_smoke(tmp_path, tmp_path / "out", "--tasks", "9Z")
    assert result.returncode != 0 and "unknown task(s) 9Z" in (result.stdout + result.stderr)


def test_each_task_costs_are_measured_and_the_disk_limit_fails_the_run(tmp_path):
    # One task writes 3 MB of "checkpoint" under the output folder and holds 200 MB of memory;
    # another frees what it wrote before. The limit is below what is left.
    notebook(
        tmp_path / "03_tiny.ipynb",
        [
            ("import os\nruns = os.environ['WORKSHOP_OUTPUT_DIR']", None),
            (
                "ballast = bytearray(200 * 2**20)\n"
                "open(os.path.join(runs, 'checkpoint.bin'), 'wb').write(os.urandom(3 * 2**20))\n"
                "import time; time.sleep(1)\n"
                "trainer = None",
                "task-3D",
            ),
        ],
    )
    result = run_smoke(tmp_path, tmp_path / "out", "--disk-limit", "2MB")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "disk left by the labs: 3.0 MB, OVER the limit of 2.0 MB per attendee" in result.stdout
    assert "--disk-limit / SMOKE_DISK_LIMIT" in result.stdout
    suite = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    case = suite.find("testcase[@classname='03_tiny']")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert 3 * 2**20 <= int(properties["disk_written_bytes"]) < 4 * 2**20
    assert int(properties["peak_rss_bytes"]) > 200 * 2**20
    assert "gpu_peak_bytes" not in properties  # no GPU here: no figure rather than a zero
    assert suite.find("testcase[@classname='budget']/failure") is not None
    suite_properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert suite_properties["disk_limit_bytes"] == str(2 * 2**20) and "lab_3_disk_written_bytes" in suite_properties
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| 3D" in report and "| 3.0 MB |" in report
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    assert document["disk"] == {
        "used_bytes": document["disk"]["used_bytes"],
        "limit_bytes": 2 * 2**20,
        "exceeded": True,
    }
    (task,) = document["tasks"]
    assert (task["id"], task["status"], task["notebook"]) == ("3D", "FAIL", "03_tiny.ipynb")
    assert task["peak_rss_bytes"] > 200 * 2**20 and task["gpu_peak_bytes"] is None
    assert document["summary"] == {"passed": 0, "failed": 1, "skipped": 0, "seconds": document["summary"]["seconds"]}


def test_disk_limit_from_the_environment_and_bad_values(tmp_path):
    notebook(tmp_path / "03_tiny.ipynb", [("trainer = None", "task-3D")])
    bad = subprocess.run(
        [sys.executable, "-m", "smoke", "--labs-dir", str(tmp_path), "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=smoke_env(SMOKE_DISK_LIMIT="two gigs"),
        timeout=60,
    )
    assert bad.returncode == 2 and "--disk-limit / SMOKE_DISK_LIMIT: 'two gigs' is not a size" in bad.stderr


def test_sizes_parse_in_binary_units():
    from smoke.usage import human, parse_size

    assert parse_size("2GB") == 2 * 2**30 and parse_size("500 mb") == 500 * 2**20 and parse_size("1.5G") == 3 * 2**29
    assert parse_size("4096") == 4096
    assert human(3 * 2**20) == "3.0 MB" and human(-2048) == "-2 KB" and human(None) == "-"
