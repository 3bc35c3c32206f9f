"""Execute the lab notebooks task by task in a real Jupyter kernel, then check each task's outcome."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from smoke.notebooks import LabNotebook, Task
from smoke.usage import RESET_GPU_PEAK, PeakRss, Usage, disk_usage

PASS, FAIL, SKIPPED = "PASS", "FAIL", "SKIPPED"
RESULT_MARKER = "__SMOKE_RESULT__"
MAX_OUTPUT_FOR_CHECK = 200_000  # characters of a task's stdout handed to its check


@dataclass
class TaskResult:
    task: Task
    status: str
    seconds: float
    message: str = ""  # PASS: what was verified; SKIPPED: why; FAIL: the error
    cell: int | None = None  # the failing cell's index in the notebook
    cell_source: str = ""
    usage: Usage = field(default_factory=Usage)

    @property
    def id(self) -> str:
        return self.task.id


def _stdout_of(cells) -> str:
    text = "".join(
        output.get("text", "")
        for cell in cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )
    return text[-MAX_OUTPUT_FOR_CHECK:]


def _error_of(error: Exception) -> str:
    if isinstance(error, CellExecutionError):
        return f"{error.ename}: {error.evalue}"
    return f"{type(error).__name__}: {error}"


class NotebookRun:
    """One kernel for one notebook: run the prelude, then each selected task and its check."""

    def __init__(self, lab: LabNotebook, cell_timeout: int, output_dir: Path, measured_dir: Path):
        self.lab = lab
        self.output_dir = output_dir
        self.measured_dir = measured_dir  # the folder whose growth is each task's "disk written"
        self.client = NotebookClient(
            lab.node,
            timeout=cell_timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(lab.path.parent)}},
            # The kernel is local and short-lived; its transport warning would only be noise in the report.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )

    def _run_cells(self, indices: list[int]) -> tuple[int, Exception] | None:
        for index in indices:
            try:
                self.client.execute_cell(self.lab.node.cells[index], index)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
                return index, error
        return None

    def _run_hidden(self, source: str) -> nbformat.NotebookNode:
        """Run harness code in the kernel as a temporary last cell: nbclient stores outputs by
        index, and the executed notebook saved afterwards is the students' one, without it."""
        cell = nbformat.v4.new_code_cell(source)
        self.lab.node.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.lab.node.cells) - 1)
        finally:
            self.lab.node.cells.pop()
        return cell

    def _check(self, task: Task) -> dict:
        output = _stdout_of(self.lab.node.cells[i] for i in task.cells)
        cell = self._run_hidden(
            "from smoke.checks import run_check as __smoke_check\n"
            f"print({RESULT_MARKER!r} + __smoke_check({task.id!r}, globals(), {output!r}))"
        )
        for line in _stdout_of([cell]).splitlines():
            if line.startswith(RESULT_MARKER):
                return json.loads(line[len(RESULT_MARKER) :])
        raise RuntimeError(f"the check for task {task.id} printed no result")

    def _cell_failure(
        self, task: Task, seconds: float, failure: tuple[int, Exception], prefix: str = "", usage: Usage | None = None
    ) -> TaskResult:
        index, error = failure
        source = self.lab.node.cells[index].source
        return TaskResult(task, FAIL, seconds, prefix + _error_of(error), index, source, usage or Usage())

    def run(
        self, tasks: list[Task], on_start: Callable[[Task], None], on_done: Callable[[TaskResult], None]
    ) -> list[TaskResult]:
        results: list[TaskResult] = []
        with self.client.setup_kernel():
            prelude_failure = self._run_cells(self.lab.prelude)
            for task in tasks:
                on_start(task)
                if prelude_failure:
                    result = self._cell_failure(task, 0.0, prelude_failure, "notebook setup failed: ")
                else:
                    result = self._run_task(task)
                results.append(result)
                on_done(result)
        self._save_executed()
        return results

    def _kernel_pid(self) -> int | None:
        return getattr(getattr(self.client.km, "provisioner", None), "pid", None)

    def _run_task(self, task: Task) -> TaskResult:
        disk_before = disk_usage(self.measured_dir)
        # A dead kernel: the task's own first cell reports it.
        with suppress(CellExecutionError, CellTimeoutError, DeadKernelError):
            self._run_hidden(RESET_GPU_PEAK)
        rss = PeakRss(self._kernel_pid()).start()
        started = time.monotonic()
        failure = self._run_cells(task.cells)
        seconds = time.monotonic() - started
        usage = Usage(peak_rss=rss.stop(), disk_written=disk_usage(self.measured_dir) - disk_before)
        if failure:
            return self._cell_failure(task, seconds, failure, usage=usage)
        try:
            verdict = self._check(task)
        except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError) as error:
            verdict = {"status": FAIL, "message": f"check could not run: {_error_of(error)}"}
        usage.gpu_peak = verdict.get("gpu_peak")
        return TaskResult(task, verdict["status"], seconds, verdict.get("message", ""), usage=usage)

    def _save_executed(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(self.lab.node, self.output_dir / self.lab.path.name)
