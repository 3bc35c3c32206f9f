"""The rendered study notes in a lab folder, beside the symlink their links go through."""

from __future__ import annotations

from pathlib import Path

from notes.anchor_links import render
from notes.lab_sources import NOTES, note_sources
from notes.transformers_tree import Source, default_source


def build_notes(out: Path, source: Source | None = None, notes_dir: Path = NOTES) -> list[Path]:
    """Lab-folder side: `out/transformers-src` -> the transformers package directory, and each
    note source rendered into `out/notes/` (links relative to it: `../transformers-src/...`)."""
    source = source or default_source()
    link = out / "transformers-src"
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise SystemExit(f"{link} exists and is not a symlink; remove it")
    link.symlink_to(source.root, target_is_directory=True)
    (out / "notes").mkdir(parents=True, exist_ok=True)
    built = []
    for path in note_sources(notes_dir):
        target = out / "notes" / path.name
        target.write_text(render(path.read_text(encoding="utf-8"), "../transformers-src", source), encoding="utf-8")
        built.append(target)
    return built
