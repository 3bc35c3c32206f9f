"""The harness's outputs: per-task lines on the console, JUnit XML for CI, Markdown for people."""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from smoke.runner import FAIL, PASS, SKIPPED, TaskResult


def summary_line(results: list[TaskResult]) -> str:
    counts = Counter(result.status for result in results)
    return f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIPPED]} skipped"


def task_line(result: TaskResult) -> str:
    return f"{result.status:<7} {result.id:<5} {result.seconds:6.1f}s  {result.task.title}"


def failure_detail(result: TaskResult) -> str:
    where = f"{result.task.notebook.name} cell {result.cell}" if result.cell is not None else result.task.notebook.name
    text = f"{result.message}\n  in {where}"
    if result.cell_source:
        first_lines = "\n".join(f"    {line}" for line in result.cell_source.splitlines()[:6])
        text += f":\n{first_lines}"
    return text


def write_junit(results: list[TaskResult], path: Path, seconds: float) -> None:
    counts = Counter(result.status for result in results)
    suite = ET.Element(
        "testsuite",
        name="trainer-workshop-smoke",
        tests=str(len(results)),
        failures=str(counts[FAIL]),
        skipped=str(counts[SKIPPED]),
        errors="0",
        time=f"{seconds:.1f}",
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        hostname=platform.node(),
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname=result.task.notebook.stem, name=f"{result.id} {result.task.title}", time=f"{result.seconds:.1f}"
        )
        if result.status == FAIL:
            ET.SubElement(case, "failure", message=result.message[:500]).text = failure_detail(result)
        elif result.status == SKIPPED:
            ET.SubElement(case, "skipped", message=result.message)
        else:
            ET.SubElement(case, "system-out").text = result.message
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)


def write_markdown(results: list[TaskResult], path: Path, environment: dict[str, str], seconds: float) -> None:
    lines = [
        "# Trainer Workshop smoke report",
        "",
        f"**{summary_line(results)}** in {seconds:.0f} s — {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
        "",
        "| setting | value |",
        "| --- | --- |",
        *(f"| {key} | `{value}` |" for key, value in environment.items()),
        "",
        "| task | status | seconds | what was checked / why |",
        "| --- | --- | ---: | --- |",
    ]
    for result in results:
        message = result.message.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {result.id} {result.task.title} | {result.status} | {result.seconds:.1f} | {message} |")
    failures = [result for result in results if result.status == FAIL]
    if failures:
        lines += ["", "## Failures", ""]
        for result in failures:
            lines += [f"### {result.id} {result.task.title}", "", "```", failure_detail(result), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
