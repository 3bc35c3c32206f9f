"""The labs' Markdown: the study notes, the notebooks' cells, each lab task's section, and the anchors they use."""

from __future__ import annotations

import re
from pathlib import Path

from notes.anchor_links import anchors

NOTES = Path(__file__).resolve().parent
LABS = NOTES.parent


def note_sources(notes_dir: Path = NOTES) -> list[Path]:
    return sorted(notes_dir.glob("*.md"))


def notebook_sources(labs_dir: Path = LABS) -> list[Path]:
    return sorted((labs_dir / "notebooks").glob("*.py"))


def notebook_cells(path: Path) -> list[tuple[str, list[str], str]]:
    """(kind, tags, text) of each cell of a jupytext percent-format notebook; kind is "markdown" or "code"."""
    cells: list[tuple[str, list[str], list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            tags = re.search(r"tags=\[([^\]]*)\]", line)
            names = re.findall(r"[\"']([^\"']+)[\"']", tags.group(1)) if tags else []
            cells.append(("markdown" if "[markdown]" in line else "code", names, []))
        elif cells:
            cells[-1][2].append(line)
    out = []
    for kind, tags, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        out.append((kind, tags, "\n".join(lines)))
    return out


def notebook_markdown(path: Path) -> list[str]:
    return [text for kind, _, text in notebook_cells(path) if kind == "markdown"]


# Task headings in the notes -> the notebooks' cell tags without "task-": "Task 1A" -> 1A,
# "Shared setup" -> setup, "GPT-2 live coding" -> gpt2.
TASK_HEADING = re.compile(r"^#+\s*(?:Task\s+(\d[A-Z])\b|(Shared setup)\b|(GPT-2 live coding)\b)", re.M)
_NAMED_TASKS = {2: "setup", 3: "gpt2"}
ANY_HEADING = re.compile(r"^#{1,6}\s", re.M)
SOURCE_LINE = re.compile(r"^\*\*Source:\*\*(.*)$", re.M)


def task_sections(text: str) -> dict[str, str]:
    """{task id ("1A", …, "setup", "gpt2"): its section (up to the next heading) in Markdown `text`}."""
    sections = {}
    for heading in TASK_HEADING.finditer(text):
        after = ANY_HEADING.search(text, heading.end())  # a section ends at the next heading
        task = heading.group(1) or next(v for g, v in _NAMED_TASKS.items() if heading.group(g))
        sections[task] = text[heading.end() : after.start() if after else len(text)]
    return sections


def task_sources(text: str) -> dict[str, list[str]]:
    """{task id: anchors of the `**Source:**` line of its section} in Markdown `text`."""
    found = {}
    for task, section in task_sections(text).items():
        line = SOURCE_LINE.search(section)
        found[task] = anchors(line.group(1)) if line else []
    return found


def notebook_task_sources(path: Path) -> dict[str, list[str]]:
    """{task id: anchors} from a notebook: a Markdown cell's `**Source:**` line belongs to the
    task tag (`task-1A`, `task-setup`) of the next tagged code cell."""
    found: dict[str, list[str]] = {}
    pending: list[str] = []
    for kind, tags, text in notebook_cells(path):
        if kind == "markdown":
            for line in SOURCE_LINE.finditer(text):
                pending += anchors(line.group(1))
        else:
            for tag in tags:
                if tag.startswith("task-") and pending:
                    found.setdefault(tag[len("task-") :], []).extend(pending)
            if any(t.startswith("task-") for t in tags):
                pending = []
    return found


def used_anchors(notes_dir: Path = NOTES, labs_dir: Path = LABS) -> dict[str, list[str]]:
    """{anchor: [files that use it]} over the note sources and the notebooks' Markdown cells."""
    used: dict[str, list[str]] = {}
    for path in note_sources(notes_dir):
        for anchor in anchors(path.read_text(encoding="utf-8")):
            used.setdefault(anchor, []).append(path.name)
    for path in notebook_sources(labs_dir):
        for cell in notebook_markdown(path):
            for anchor in anchors(cell):
                used.setdefault(anchor, []).append(f"notebooks/{path.name}")
    return {a: sorted(set(files)) for a, files in sorted(used.items())}
