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
        [sys.executable, "-m", "smoke", "--labs-dir", str(labs), "--output", str(out),
         "--model", str(model), "--causal-model", str(model), *extra],
        capture_output=True, text=True, env=smoke_env(), timeout=300,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    labs = tmp_path_factory.mktemp("labs")
    notebook(labs / "04_tiny.ipynb", [
        ("import numpy as np\neval_ds = [0, 1]", None),  # prelude
        ("probs = np.array([[0.25, 0.75], [0.5, 0.5]])\nprint('ok')", "task-4C"),  # the check passes
        ("probs = np.array([[0.9, 0.9], [0.5, 0.5]])", "task-4D"),  # no loss_only_* variables: check fails
    ])
    notebook(labs / "05_tiny.ipynb", [
        ("hub_blocker = 'no Hugging Face token'", "task-5C"),  # skipped with the reason
        ("x = 1", "task-5D"),
        ("trainer = Trainer(per_device_batch_size=8)", "task-5D"),  # a broken cell fails its task
    ])
    out = tmp_path_factory.mktemp("out")
    return run_smoke(labs, out), out


def test_exit_status_and_summary_line(tiny_run):
    result, _ = tiny_run
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1 passed, 2 failed, 1 skipped"


def test_each_task_reported_with_status(tiny_run):
    result, _ = tiny_run
    lines = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines() if line.split()[:1] in (["PASS"], ["FAIL"], ["SKIPPED"])}
    assert lines == {"4C": "PASS", "4D": "FAIL", "5C": "SKIPPED", "5D": "FAIL"}


def test_failure_names_error_and_cell(tiny_run):
    result, _ = tiny_run
    assert "NameError: name 'Trainer' is not defined" in result.stdout
    assert "05_tiny.ipynb cell 3" in result.stdout
    assert "the notebook defined no loss_only_metrics" in result.stdout


def test_junit_and_markdown_reports(tiny_run):
    _, out = tiny_run
    suite = ET.parse(out / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
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
        [sys.executable, "-m", "smoke", "--labs-dir", str(tmp_path), "--output", str(tmp_path / "out"), "--model", "nobody/not-cached"],
        capture_output=True, text=True, env=smoke_env(HF_HUB_OFFLINE="1"), timeout=120,
    )
    assert result.returncode == 2
    assert "'nobody/not-cached' is not in the local cache and HF_HUB_OFFLINE=1" in result.stderr
    assert "WORKSHOP_MODEL (--model)" in result.stderr
    assert not (tmp_path / "out" / "junit.xml").exists()


def test_unknown_task_is_refused(tmp_path):
    notebook(tmp_path / "01_x.ipynb", [("a = 1", "task-1A")])
    result = run_smoke(tmp_path, tmp_path / "out", "--tasks", "9Z")
    assert result.returncode != 0 and "unknown task(s) 9Z" in (result.stdout + result.stderr)
