"""`sourcelinks.lock`: where each anchor of the notes stood in the release they were last reviewed against.

`check` compares a tree with it (a notebook anchor must resolve too, and name a def that the
notes name for the same task).
"""

from __future__ import annotations

from pathlib import Path

from notes.transformers_tree import Source, Unresolved

LOCK = Path(__file__).resolve().parent / "sourcelinks.lock"


def read_lock(path: Path = LOCK) -> tuple[str, dict[str, str]]:
    version, entries = "", {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, value = line.split(None, 1)
        if key == "transformers":
            version = value.strip()
        else:
            entries[key] = value.strip()
    return version, entries


def write_lock(source: Source, names: list[str], path: Path = LOCK) -> None:
    lines = [
        "# Where each source anchor of the notes (labs/notes/*.md) stood when the notes were last reviewed.",
        "# Written by `python labs/notes/sourcelinks.py --update`; `--check` fails when the tree differs.",
        f"transformers {source.version}",
    ]
    width = max(len(n) for n in names)
    lines += [f"{n.ljust(width)}  {source.resolve(n)}" for n in names]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check(source: Source, used: dict[str, list[str]], lock: tuple[str, dict[str, str]]) -> list[str]:
    """Problems, one line each, naming the anchor; empty when every anchor is where the lock says."""
    locked_version, locked = lock
    problems = []
    if locked_version != source.version:
        problems.append(
            f"transformers {source.version} at {source.root}, but the notes were reviewed against {locked_version}"
        )
    for anchor, files in used.items():
        where = ", ".join(files)
        try:
            now = str(source.resolve(anchor))
        except Unresolved as exc:
            seen = source.candidates(anchor)
            hint = f"; a def of that name now at {', '.join(seen)}" if seen else "; no def of that name anywhere"
            problems.append(f"UNRESOLVED {anchor} (used in {where}): {exc}{hint}")
            continue
        if anchor not in locked:
            # The lock covers the notes; a notebook anchor only has to resolve (and, tested
            # elsewhere, to name a def that its task's section in the notes names too).
            if any(not f.startswith("notebooks/") for f in files):
                problems.append(f"UNLOCKED   {anchor} -> {now} (used in {where}): run --update after checking the note")
        elif locked[anchor] != now:
            problems.append(f"MOVED      {anchor}: {locked[anchor]} -> {now} (used in {where})")
    return problems
