"""smoke: run every lab task of the Trainer Workshop in a real Jupyter kernel and check its outcome.

Examples:
    smoke                                   all labs, short (smoke) lab size
    smoke --labs 2,3                        Labs 2 and 3 only
    smoke --tasks 3A,4B                     single tasks (and the tasks they build on)
    smoke --model DIR --causal-model DIR    other models (Hub ids or local directories)
    smoke --lab-size workshop               the classroom-size run (GPU recommended)

Prints one line per task (PASS / FAIL / SKIPPED, seconds, peak memory, disk written), the
error and cell for each failure, the disk the labs left against --disk-limit, and a final
`N passed, N failed, N skipped`; exits 1 if any task failed or the disk limit was exceeded,
2 on bad options. Writes junit.xml, report.md, report.json and the executed notebooks under --output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from smoke.notebooks import LabNotebook, Task, discover
from smoke.report import DiskBudget, failure_detail, summary_line, task_line, write_json, write_junit, write_markdown
from smoke.runner import FAIL, NotebookRun, TaskResult
from smoke.usage import disk_usage, parse_size

# Tasks that use what an earlier task of the same notebook built.
DEPENDS = {
    "4B": ["4A"],
    "4C": ["4A"],
    "4E": ["4A"],
    "5B": ["5A"],
    "5C": ["5A"],
    "5D": ["5A"],
    "6C": ["6B"],
    "6D": ["6B"],
    "6E": ["6B"],
}
STYLE = {"PASS": "green", "FAIL": "bold red", "SKIPPED": "yellow"}
# A 1 TB host disk shared by 60 attendees, with room for the images and the system.
DEFAULT_DISK_LIMIT = "2GB"


def usage_error(message: str) -> SystemExit:
    """Bad options or settings: say what is wrong and what to do, exit 2 before any task runs."""
    print(f"smoke: {message}", file=sys.stderr)
    return SystemExit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="smoke", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--labs-dir",
        type=Path,
        default=Path(os.environ.get("WORKSHOP_LABS_DIR", "build/labs")),
        help="the built lab folder with the .ipynb notebooks (default: $WORKSHOP_LABS_DIR or build/labs); "
        "a read-only one (the image's) is run from a fresh copy in OUTPUT/labs",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(os.environ.get("SMOKE_OUTPUT", "build/smoke")),
        help="where junit.xml, report.md, report.json, executed notebooks and training runs go "
        "(default: $SMOKE_OUTPUT or build/smoke)",
    )
    parser.add_argument("--labs", help="comma-separated labs to run: 1-6, setup, gpt2 (default: all)")
    parser.add_argument("--tasks", help="comma-separated task ids, e.g. 1A,3B (their prerequisite tasks run too)")
    parser.add_argument("--model", help="classification labs' model: Hub id or local directory (sets WORKSHOP_MODEL)")
    parser.add_argument(
        "--causal-model", help="GPT-2 notebook's causal LM: Hub id or local directory (sets WORKSHOP_CAUSAL_MODEL)"
    )
    parser.add_argument("--dataset", help="sentiment dataset: Hub id or local directory (sets WORKSHOP_DATASET)")
    parser.add_argument(
        "--lab-size",
        choices=["smoke", "workshop", "full"],
        default=os.environ.get("SMOKE_LAB_SIZE", "smoke"),
        help="how much data and how many steps (default: smoke, minutes on a CPU)",
    )
    parser.add_argument(
        "--disk-limit",
        default=os.environ.get("SMOKE_DISK_LIMIT", DEFAULT_DISK_LIMIT),
        help="most disk the labs may leave per attendee, e.g. 2GB or 500MB; the run fails above it "
        f"(default: $SMOKE_DISK_LIMIT or {DEFAULT_DISK_LIMIT})",
    )
    parser.add_argument(
        "--cell-timeout", type=int, default=1800, help="seconds one notebook cell may run (default: 1800)"
    )
    parser.add_argument("--list", action="store_true", help="list the tasks that would run, and exit")
    args = parser.parse_args(argv)
    try:
        args.disk_limit = parse_size(args.disk_limit)
    except ValueError as error:
        parser.error(f"--disk-limit / SMOKE_DISK_LIMIT: {error}")
    return args


def select(notebooks: list[LabNotebook], labs: str | None, tasks: str | None) -> list[tuple[LabNotebook, list[Task]]]:
    wanted_labs = {item.strip().upper() for item in labs.split(",")} if labs else None
    wanted_tasks = {item.strip().upper() for item in tasks.split(",")} if tasks else None
    known = {task.id for nb in notebooks for task in nb.tasks}
    unknown = (wanted_tasks or set()) - known
    if unknown:
        raise usage_error(f"unknown task(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    if wanted_tasks:
        for task_id in list(wanted_tasks):
            wanted_tasks.update(DEPENDS.get(task_id, []))
    chosen = []
    for nb in notebooks:
        picked = [
            task
            for task in nb.tasks
            if (wanted_labs is None or task.lab in wanted_labs) and (wanted_tasks is None or task.id in wanted_tasks)
        ]
        if picked:
            chosen.append((nb, picked))
    if not chosen:
        raise usage_error(f"--labs {labs!r} / --tasks {tasks!r} select no task; try --list")
    return chosen


def preflight(settings, need_classifier: bool, need_causal: bool) -> None:
    """Refuse to start (exit 2) when a model cannot be loaded, before any kernel spends minutes."""
    from transformers import AutoConfig

    from workshop.data import from_pretrained
    from workshop.settings import SettingsError

    wanted = [(settings.model, "WORKSHOP_MODEL (--model)")] if need_classifier else []
    wanted += [(settings.causal_model, "WORKSHOP_CAUSAL_MODEL (--causal-model)")] if need_causal else []
    for name, variable in wanted:
        try:
            from_pretrained(AutoConfig, name, variable)
        except SettingsError as error:
            raise usage_error(f"{error}") from None


def configure_environment(args: argparse.Namespace, task_ids: set[str]) -> dict[str, str]:
    """Settings for the kernels (they inherit this process's environment)."""
    for option, variable in (
        ("model", "WORKSHOP_MODEL"),
        ("causal_model", "WORKSHOP_CAUSAL_MODEL"),
        ("dataset", "WORKSHOP_DATASET"),
    ):
        value = getattr(args, option)
        if value:
            os.environ[variable] = str(Path(value).resolve()) if Path(value).exists() else value
    os.environ["WORKSHOP_LAB_SIZE"] = args.lab_size
    os.environ["WORKSHOP_OUTPUT_DIR"] = str((args.output / "runs").resolve())
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from workshop.settings import SettingsError, load_settings  # the labs' own settings, validated the same way

    try:
        settings = load_settings()
    except SettingsError as error:
        raise usage_error(f"{error}") from None
    preflight(settings, need_classifier=bool(task_ids - {"GPT2"}), need_causal="GPT2" in task_ids)
    return {
        "model": settings.model,
        "causal model": settings.causal_model,
        "dataset": settings.dataset,
        "lab size": settings.size.name,
        "labs": str(args.labs_dir.resolve()),
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0"),
        # The device the NVIDIA runtime gave this container: a fleet report checks that each
        # run got the GPU it asked for (one container per GPU), not GPU 0 for all.
        **(
            {"NVIDIA_VISIBLE_DEVICES": os.environ["NVIDIA_VISIBLE_DEVICES"]}
            if os.environ.get("NVIDIA_VISIBLE_DEVICES")
            else {}
        ),
    }


def writable_labs(labs_dir: Path, output: Path) -> Path:
    """The kernels run in the labs folder and write their runs there: a read-only folder (the
    image's baked labs) is copied to OUTPUT/labs first, afresh each run."""
    if not labs_dir.is_dir() or os.access(labs_dir, os.W_OK):
        return labs_dir
    copy = output / "labs"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(labs_dir, copy, symlinks=True)
    for folder, _, files in os.walk(copy):
        for name in [folder, *(os.path.join(folder, f) for f in files)]:
            if not os.path.islink(name):
                os.chmod(name, os.stat(name).st_mode | 0o200)
    return copy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)  # long messages stay one greppable line
    if not args.list:
        args.labs_dir = writable_labs(args.labs_dir, args.output)
    try:
        notebooks = discover(args.labs_dir)
    except FileNotFoundError as error:
        console.print(f"smoke: {error}")
        return 2
    chosen = select(notebooks, args.labs, args.tasks)
    if args.list:
        for nb, tasks in chosen:
            for task in tasks:
                console.print(f"{task.id:<6} {nb.path.name:<28} {task.title}")
        return 0
    environment = configure_environment(args, {task.id for _, tasks in chosen for task in tasks})
    for key, value in environment.items():
        console.print(f"{key:>15}: {value}")

    # The training runs of this harness run only: the disk figures are what one attendee's labs leave.
    runs = args.output / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    results: list[TaskResult] = []
    started = time.monotonic()
    total = sum(len(tasks) for _, tasks in chosen)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        bar = progress.add_task("starting", total=total)

        def on_start(task: Task) -> None:
            progress.update(bar, description=f"[{len(results) + 1}/{total}] {task.id} {task.title}")

        def on_done(result: TaskResult) -> None:
            results.append(result)
            progress.advance(bar)
            progress.console.print(f"[{STYLE[result.status]}]{task_line(result)}[/]")
            if result.status == FAIL:
                progress.console.print(failure_detail(result), markup=False)
            elif result.message:
                progress.console.print(f"        {result.message}", markup=False)

        for nb, tasks in chosen:
            NotebookRun(nb, args.cell_timeout, args.output / "executed", runs).run(tasks, on_start, on_done)

    seconds = time.monotonic() - started
    disk = DiskBudget(used=disk_usage(runs), limit=args.disk_limit)
    write_junit(results, args.output / "junit.xml", seconds, disk)
    write_markdown(results, args.output / "report.md", environment, seconds, disk)
    write_json(results, args.output / "report.json", environment, seconds, disk)
    console.print(f"[{'bold red' if disk.exceeded else 'green'}]{disk.line()}[/]")
    if disk.exceeded:
        console.print(disk.fix(), markup=False)
    console.print(
        f"report: {args.output / 'report.md'}  junit: {args.output / 'junit.xml'}  json: {args.output / 'report.json'}"
    )
    console.print(summary_line(results), markup=False)
    return 1 if disk.exceeded or any(result.status == FAIL for result in results) else 0
