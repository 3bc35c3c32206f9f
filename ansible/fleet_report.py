"""Merge the readiness runs of every host and GPU into one fleet report.

    python3 ansible/fleet_report.py REPORT_DIR [HOST ...]

REPORT_DIR is what the readiness play fetched: hosts/HOST/host.json (the host's driver,
image ID, free disk and GPU slots with each run's exit code, or the error that kept the
host from being tested) and hosts/HOST/slotN/ (report.json, junit.xml and report.md of
the smoke harness, harness.log). HOSTs given: the hosts of this run, whose results alone
are merged (`--limit` runs leave other hosts' older results there), and each that left no
host.json (unreachable, or failed before the harness ran) is a failure. Writes
fleet-report.md, fleet-junit.xml and fleet-report.json into REPORT_DIR, prints one line per
failure naming host, GPU and task, and exits 1 when anything failed (0: every GPU ready;
2: nothing to merge). Standard library only: it runs with the controller's Ansible Python.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

READY, FAILED = "ready", "FAILED"
HOST_LEVEL = "-"  # the device of a row for a host that could not be tested at all
# The harness's task statuses (labs/smoke/runner.py) and how the task matrix shows them.
PASS, FAIL, SKIPPED = "PASS", "FAIL", "SKIPPED"
TASK_MARKS = {PASS: "✓", FAIL: "✗", SKIPPED: "–"}
LOG_TAIL_LINES = 15


@dataclass
class Row:
    """One harness run: a host's GPU slot (or its CPU, on a host without GPUs)."""

    host: str
    device: str
    gpu: str
    model: str
    driver: str
    image: str = ""
    image_id: str = ""
    disk_free_bytes: int = 0
    status: str = READY
    problem: str = ""  # why the run as a whole failed (no report, timeout, exit code)
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    tasks: dict[str, dict] = field(default_factory=dict)  # id -> {status, message, seconds}

    @property
    def where(self) -> str:
        return place(self.host, self.device, self.gpu)

    @property
    def slot(self) -> str:
        """The slot, short: "GPU 1", "GPU 0 MIG-5068167e", "CPU" or "-"."""
        if self.device in ("cpu", HOST_LEVEL):
            return "CPU" if self.device == "cpu" else HOST_LEVEL
        return f"GPU {self.gpu}" + (f" {self.device[:12]}" if self.device.startswith("MIG-") else "")


@dataclass
class Failure:
    host: str
    device: str
    gpu: str
    task: str
    message: str

    def line(self) -> str:
        return f"FAILED {place(self.host, self.device, self.gpu)} {self.task}: {self.message}"


def place(host: str, device: str, gpu: str) -> str:
    """Where a run happened, in words: "gpu-a GPU 1 (MIG-…)", "gpu-a CPU" or just the host."""
    if device == HOST_LEVEL:
        return host
    if device == "cpu":
        return f"{host} CPU"
    return f"{host} GPU {gpu} ({device})"


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def log_tail(slot_dir: Path) -> str:
    log = slot_dir / "harness.log"
    if not log.is_file():
        return "no harness log either"
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return "harness log ends: " + " | ".join(lines[-LOG_TAIL_LINES:]) if lines else "the harness log is empty"


def read_report(path: Path) -> dict:
    """The harness's report.json, with every field the merge reads checked to be there."""
    report = json.loads(path.read_text())
    for key in ("passed", "failed", "skipped"):
        int(report["summary"][key])
    for task in report["tasks"]:
        str(task["id"]), str(task["status"])
    disk = report.get("disk", {})
    if disk.get("exceeded"):
        int(disk["used_bytes"]), int(disk["limit_bytes"])
    return report


def read_row(host_dir: Path, host: dict, slot: dict) -> tuple[Row, list[Failure]]:
    row = Row(
        host=host["host"],
        device=slot["id"],
        gpu=str(slot.get("gpu", "")),
        model=slot.get("model", ""),
        driver=host.get("driver", ""),
        image=host["image"]["name"],
        image_id=host["image"]["id"],
        disk_free_bytes=int(host.get("disk_free_bytes", 0)),
    )
    slot_dir = host_dir / slot["dir"]
    report_path = slot_dir / "report.json"

    def whole_run_failed(problem: str) -> tuple[Row, list[Failure]]:
        row.status, row.problem = FAILED, problem
        return row, [Failure(row.host, row.device, row.gpu, "task harness", problem)]

    if slot.get("timed_out"):
        return whole_run_failed(f"did not finish within {host.get('timeout_seconds', '?')} s; {log_tail(slot_dir)}")
    if not report_path.is_file():
        return whole_run_failed(
            f"the harness wrote no report (exit code {slot.get('exit_code', '?')}); {log_tail(slot_dir)}"
        )
    try:
        report = read_report(report_path)
    except (ValueError, KeyError, TypeError) as error:
        return whole_run_failed(f"{report_path.relative_to(host_dir.parent)} is not a harness report ({error!r})")
    summary = report["summary"]
    row.passed, row.failed, row.skipped = summary["passed"], summary["failed"], summary["skipped"]
    visible = report.get("environment", {}).get("NVIDIA_VISIBLE_DEVICES")
    if row.device != "cpu" and visible != row.device:
        # Every container must get its own device (a request for "1 GPU" gives all of them GPU 0).
        return whole_run_failed(
            f"the harness ran with NVIDIA_VISIBLE_DEVICES={visible}, not its own device {row.device}"
        )
    row.seconds = float(summary.get("seconds", 0.0))
    failures = []
    for task in report.get("tasks", []):
        row.tasks[task["id"]] = {key: task.get(key) for key in ("status", "message", "seconds", "title")}
        if task["status"] == FAIL:
            failures.append(
                Failure(row.host, row.device, row.gpu, f"task {task['id']}", task.get("message") or "failed")
            )
    if report.get("disk", {}).get("exceeded"):
        failures.append(
            Failure(
                row.host,
                row.device,
                row.gpu,
                "disk budget",
                f"the labs wrote {human_bytes(report['disk']['used_bytes'])}, over the "
                f"{human_bytes(report['disk']['limit_bytes'])} limit",
            )
        )
    exit_code = str(slot.get("exit_code", ""))
    if not failures and exit_code not in ("0", ""):
        failures.append(
            Failure(row.host, row.device, row.gpu, "task harness", f"exit code {exit_code}; {log_tail(slot_dir)}")
        )
    if failures:
        row.status = FAILED
        row.problem = "; ".join(f"{failure.task}: {failure.message}" for failure in failures)
    return row, failures


def untested(host: str, driver: str, problem: str) -> tuple[Row, list[Failure]]:
    row = Row(host=host, device=HOST_LEVEL, gpu="", model="", driver=driver, status=FAILED, problem=problem)
    return row, [Failure(host, HOST_LEVEL, "", "not tested", problem)]


def collect(report_dir: Path, expected_hosts: list[str] = ()) -> tuple[list[Row], list[Failure]]:
    rows: list[Row] = []
    failures: list[Failure] = []
    results = []
    seen = set()
    for host_file in sorted((report_dir / "hosts").glob("*/host.json")):
        host = json.loads(host_file.read_text())
        if expected_hosts and host["host"] not in expected_hosts:
            continue
        seen.add(host["host"])
        if host.get("error"):
            results.append(untested(host["host"], host.get("driver", ""), host["error"]))
        for slot in host.get("slots", []):
            results.append(read_row(host_file.parent, host, slot))
    for name in sorted(set(expected_hosts) - seen):
        results.append(
            untested(
                name,
                "",
                "no result: the host was unreachable or failed before the harness ran (see the play's output for it)",
            )
        )
    for row, row_failures in results:
        rows.append(row)
        failures.extend(row_failures)
    return rows, failures


def task_order(rows: list[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row.tasks))
    return list(seen)


def fleet_notes(rows: list[Row]) -> list[str]:
    """What is wrong with the fleet as a whole rather than with one run."""
    notes = []
    for image in sorted({row.image for row in rows}):
        ids = sorted({row.image_id for row in rows if row.image == image})
        if len(ids) > 1:
            hosts = {i: sorted({row.host for row in rows if row.image_id == i}) for i in ids}
            detail = "; ".join(f"{i[:19]} on {', '.join(h)}" for i, h in hosts.items())
            notes.append(f"{image} is not the same image on every host ({detail}): load one archive everywhere")
    return notes


def write_markdown(rows: list[Row], failures: list[Failure], notes: list[str], path: Path, generated: str) -> None:
    ready = sum(row.status == READY for row in rows)
    lines = [
        "# Fleet readiness",
        "",
        f"{generated}: **{ready} of {len(rows)} GPU slots ready** on {len({row.host for row in rows})} hosts"
        + ("." if ready == len(rows) else f"; {len(failures)} failures below."),
        "",
        "| host | slot | device | model | driver | image | disk free | result | passed | failed | skipped | minutes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.host} | {row.slot} | `{row.device}` | {row.model or '-'} | {row.driver or '-'} | "
            f"{row.image or '-'} `{row.image_id.removeprefix('sha256:')[:12]}` | {human_bytes(row.disk_free_bytes)} | "
            f"{'ready' if row.status == READY else '**FAILED**'} | {row.passed} | {row.failed} | {row.skipped} | "
            f"{row.seconds / 60:.1f} |"
        )
    tasks = task_order(rows)
    if tasks:
        lines += [
            "",
            "## Every task",
            "",
            "✓ passed, ✗ failed, – skipped, blank: not run.",
            "",
            "| host | slot | " + " | ".join(tasks) + " |",
            "| --- | --- | " + " | ".join("---" for _ in tasks) + " |",
        ]
        for row in rows:
            marks = [TASK_MARKS.get(row.tasks.get(task, {}).get("status"), "") for task in tasks]
            lines.append(f"| {row.host} | {row.slot} | " + " | ".join(marks) + " |")
    if failures:
        lines += ["", "## Failures", ""] + [f"- {failure.line().removeprefix('FAILED ')}" for failure in failures]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_junit(rows: list[Row], path: Path) -> None:
    suites = ET.Element("testsuites", name="fleet readiness")
    for row in rows:
        suite = ET.SubElement(
            suites, "testsuite", name=row.where, tests="0", failures="0", skipped="0", time=f"{row.seconds:.1f}"
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("model", row.model),
            ("driver", row.driver),
            ("image", row.image),
            ("image_id", row.image_id),
            ("disk_free_bytes", str(row.disk_free_bytes)),
        ):
            ET.SubElement(properties, "property", name=name, value=value)
        cases = list(row.tasks.items()) or [("harness", {"status": FAIL, "message": row.problem})]
        if row.tasks and row.problem and not any(task["status"] == FAIL for task in row.tasks.values()):
            cases.append(("harness", {"status": FAIL, "message": row.problem}))
        counts = {FAIL: 0, SKIPPED: 0}
        for task_id, task in cases:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{row.host}.{row.device}",
                name=task_id,
                time=f"{float(task.get('seconds') or 0):.1f}",
            )
            if task["status"] == FAIL:
                ET.SubElement(case, "failure", message=(task.get("message") or "failed")[:500]).text = task.get(
                    "message"
                )
                counts[FAIL] += 1
            elif task["status"] == SKIPPED:
                ET.SubElement(case, "skipped", message=task.get("message") or "")
                counts[SKIPPED] += 1
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(counts[FAIL]))
        suite.set("skipped", str(counts[SKIPPED]))
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    report_dir = Path(args[0]).resolve()
    rows, failures = collect(report_dir, args[1:])
    if not rows:
        print(
            f"no readiness results under {report_dir / 'hosts'} (expected HOST/host.json from the readiness play)",
            file=sys.stderr,
        )
        return 2
    notes = fleet_notes(rows)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    write_markdown(rows, failures, notes, report_dir / "fleet-report.md", generated)
    write_junit(rows, report_dir / "fleet-junit.xml")
    document = {
        "generated": generated,
        "summary": {
            "slots": len(rows),
            "ready": sum(row.status == READY for row in rows),
            "hosts": len({row.host for row in rows}),
            "failures": len(failures),
        },
        "rows": [asdict(row) for row in rows],
        "failures": [asdict(failure) for failure in failures],
        "notes": notes,
    }
    (report_dir / "fleet-report.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    ready = document["summary"]["ready"]
    print(
        f"{ready} of {len(rows)} GPU slots ready on {document['summary']['hosts']} hosts; "
        f"report: {report_dir / 'fleet-report.md'}"
    )
    for line in [failure.line() for failure in failures] + [f"NOTE {note}" for note in notes]:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001 - a merge that breaks must not read as "GPUs failed"
        print(f"fleet_report.py failed to merge the results: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(3)
