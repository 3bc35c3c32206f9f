"""Find the lab tasks in the student notebooks.

A task is the run of code cells tagged ``task-<ID>`` (e.g. ``task-1A``, ``task-setup``,
``task-gpt2``) in a built ``.ipynb``. Untagged code cells before a notebook's first task
are its prelude (the shared-setup ``%run``): if the prelude fails, every task of that
notebook fails with that error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

TAG = re.compile(r"^task-(?P<id>[A-Za-z0-9]+)$")
HEADING = re.compile(r"^#+\s*(?:Task\s+\w+\s*[—-]\s*)?(?P<title>.+)$", re.MULTILINE)


@dataclass
class Task:
    id: str  # "1A", "SETUP", "GPT2"
    notebook: Path
    title: str = ""
    cells: list[int] = field(default_factory=list)  # indices into the notebook's cells

    @property
    def lab(self) -> str:
        """'1' for task 1A; the whole id for SETUP / GPT2."""
        return self.id[0] if self.id[0].isdigit() else self.id


@dataclass
class LabNotebook:
    path: Path
    node: nbformat.NotebookNode
    prelude: list[int]
    tasks: list[Task]


def _task_id(cell) -> str | None:
    for tag in cell.get("metadata", {}).get("tags", []):
        match = TAG.match(tag)
        if match:
            return match["id"].upper()
    return None


def read(path: Path) -> LabNotebook:
    node = nbformat.read(path, as_version=4)
    prelude: list[int] = []
    tasks: dict[str, Task] = {}
    title = ""
    for index, cell in enumerate(node.cells):
        if cell.cell_type == "markdown":
            match = HEADING.search(cell.source)
            if match:
                title = match["title"].strip()
            continue
        if cell.cell_type != "code":
            continue
        task_id = _task_id(cell)
        if task_id is None:
            if not tasks:
                prelude.append(index)
            continue  # untagged cells after the first task are student scratch cells: not run
        task = tasks.setdefault(task_id, Task(task_id, path, title))
        task.cells.append(index)
    return LabNotebook(path, node, prelude, list(tasks.values()))


def discover(labs_dir: Path) -> list[LabNotebook]:
    notebooks = sorted(labs_dir.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(
            f"No lab notebooks (*.ipynb) in {labs_dir}. Build them with `make labs` "
            "or pass --labs-dir pointing at the built lab folder."
        )
    return [read(path) for path in notebooks]
