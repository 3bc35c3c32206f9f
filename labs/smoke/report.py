"""The harness's outputs: per-task lines on the console, JUnit XML for CI, Markdown for people,
JSON for tools (a fleet report merges one per host and GPU)."""

from __future__ import annotations

import json
import platform
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from smoke.runner import FAIL, PASS, SKIPPED, TaskResult
from smoke.usage import Usage, human


@dataclass
class DiskBudget:
    """What all the tasks left under the output folder, against the limit ops set."""

    used: int  # bytes
    limit: int  # bytes

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def line(self) -> str:
        verdict = "OVER the limit" if self.exceeded else "within the limit"
        return f"disk left by the labs: {human(self.used)}, {verdict} of {human(self.limit)} per attendee"

    def fix(self) -> str:
        return (
            "Find the task that wrote it in the 'disk' column of report.md; keep saves to the tasks whose lesson "
            "they are (save_strategy='no' elsewhere, save_total_limit), or raise the limit with "
            "--disk-limit / SMOKE_DISK_LIMIT if the hosts have room for it."
        )


def summary_line(results: list[TaskResult]) -> str:
    counts = Counter(result.status for result in results)
    return f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIPPED]} skipped"


def usage_text(usage: Usage) -> str:
    gpu = f"  GPU {human(usage.gpu_peak)}" if usage.gpu_peak is not None else ""
    return f"RSS {human(usage.peak_rss):>8}  disk {human(usage.disk_written):>9}{gpu}"


def task_line(result: TaskResult) -> str:
    return f"{result.status:<7} {result.id:<5} {result.seconds:6.1f}s  {usage_text(result.usage)}  {result.task.title}"


def per_lab(results: list[TaskResult]) -> dict[str, tuple[float, Usage]]:
    """Seconds summed, peak RSS and GPU maxed, disk summed, per lab (1..6, SETUP, GPT2)."""
    labs: dict[str, tuple[float, Usage]] = {}
    for result in results:
        seconds, total = labs.get(result.task.lab, (0.0, Usage()))
        usage = result.usage
        gpu = max(filter(lambda v: v is not None, (total.gpu_peak, usage.gpu_peak)), default=None)
        labs[result.task.lab] = (
            seconds + result.seconds,
            Usage(max(total.peak_rss, usage.peak_rss), total.disk_written + usage.disk_written, gpu),
        )
    return labs


def usage_properties(usage: Usage, seconds: float) -> dict[str, str]:
    properties = {
        "seconds": f"{seconds:.1f}",
        "peak_rss_bytes": str(usage.peak_rss),
        "disk_written_bytes": str(usage.disk_written),
    }
    if usage.gpu_peak is not None:
        properties["gpu_peak_bytes"] = str(usage.gpu_peak)
    return properties


def add_properties(parent: ET.Element, properties: dict[str, str]) -> None:
    element = ET.SubElement(parent, "properties")
    for name, value in properties.items():
        ET.SubElement(element, "property", name=name, value=value)


def failure_detail(result: TaskResult) -> str:
    where = f"{result.task.notebook.name} cell {result.cell}" if result.cell is not None else result.task.notebook.name
    text = f"{result.message}\n  in {where}"
    if result.cell_source:
        first_lines = "\n".join(f"    {line}" for line in result.cell_source.splitlines()[:6])
        text += f":\n{first_lines}"
    return text


def write_junit(results: list[TaskResult], path: Path, seconds: float, disk: DiskBudget) -> None:
    counts = Counter(result.status for result in results)
    suite = ET.Element(
        "testsuite",
        name="trainer-workshop-smoke",
        tests=str(len(results) + 1),  # the tasks and the disk budget
        failures=str(counts[FAIL] + disk.exceeded),
        skipped=str(counts[SKIPPED]),
        errors="0",
        time=f"{seconds:.1f}",
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        hostname=platform.node(),
    )
    properties = {"disk_used_bytes": str(disk.used), "disk_limit_bytes": str(disk.limit)}
    for lab, (lab_seconds, usage) in per_lab(results).items():
        properties.update({f"lab_{lab}_{name}": value for name, value in usage_properties(usage, lab_seconds).items()})
    add_properties(suite, properties)
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=result.task.notebook.stem,
            name=f"{result.id} {result.task.title}",
            time=f"{result.seconds:.1f}",
        )
        add_properties(case, usage_properties(result.usage, result.seconds))
        if result.status == FAIL:
            ET.SubElement(case, "failure", message=result.message[:500]).text = failure_detail(result)
        elif result.status == SKIPPED:
            ET.SubElement(case, "skipped", message=result.message)
        else:
            ET.SubElement(case, "system-out").text = result.message
    budget = ET.SubElement(suite, "testcase", classname="budget", name="disk per attendee", time="0")
    if disk.exceeded:
        ET.SubElement(budget, "failure", message=disk.line()).text = disk.fix()
    else:
        ET.SubElement(budget, "system-out").text = disk.line()
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)


def write_markdown(
    results: list[TaskResult], path: Path, environment: dict[str, str], seconds: float, disk: DiskBudget
) -> None:
    lines = [
        "# Trainer Workshop smoke report",
        "",
        f"**{summary_line(results)}** in {seconds:.0f} s — {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        "",
        f"**{disk.line()}**" + (f" — {disk.fix()}" if disk.exceeded else ""),
        "",
        "| setting | value |",
        "| --- | --- |",
        *(f"| {key} | `{value}` |" for key, value in environment.items()),
        "",
        "Peak RSS: the kernel and the processes it started; disk: how much the output folder grew;",
        "GPU: the most memory torch reserved in the kernel (the CUDA context comes on top).",
        "",
        "| task | status | seconds | peak RSS | disk | GPU | what was checked / why |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for result in results:
        message = result.message.replace("|", "\\|").replace("\n", " ")
        usage = result.usage
        lines.append(
            f"| {result.id} {result.task.title} | {result.status} | {result.seconds:.1f} | {human(usage.peak_rss)} "
            f"| {human(usage.disk_written)} | {human(usage.gpu_peak)} | {message} |"
        )
    lines += ["", "| lab | seconds | peak RSS | disk | GPU |", "| --- | ---: | ---: | ---: | ---: |"]
    for lab, (lab_seconds, usage) in per_lab(results).items():
        lines.append(
            f"| {lab} | {lab_seconds:.1f} | {human(usage.peak_rss)} | {human(usage.disk_written)} "
            f"| {human(usage.gpu_peak)} |"
        )
    failures = [result for result in results if result.status == FAIL]
    if failures:
        lines += ["", "## Failures", ""]
        for result in failures:
            lines += [f"### {result.id} {result.task.title}", "", "```", failure_detail(result), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_json(
    results: list[TaskResult], path: Path, environment: dict[str, str], seconds: float, disk: DiskBudget
) -> None:
    counts = Counter(result.status for result in results)
    document = {
        "summary": {
            "passed": counts[PASS],
            "failed": counts[FAIL],
            "skipped": counts[SKIPPED],
            "seconds": round(seconds, 1),
        },
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "environment": environment,
        "disk": {"used_bytes": disk.used, "limit_bytes": disk.limit, "exceeded": disk.exceeded},
        "tasks": [
            {
                "id": result.id,
                "title": result.task.title,
                "notebook": result.task.notebook.name,
                "status": result.status,
                "seconds": round(result.seconds, 1),
                "message": result.message,
                "peak_rss_bytes": result.usage.peak_rss,
                "disk_written_bytes": result.usage.disk_written,
                "gpu_peak_bytes": result.usage.gpu_peak,
            }
            for result in results
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
