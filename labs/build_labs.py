"""Build the student-facing lab folder from the diffable sources.

    python labs/build_labs.py OUT_DIR

Each `labs/notebooks/*.py` (jupytext percent format) becomes `OUT_DIR/*.ipynb`;
the helper package, the FSDP script/config pair and the study notes are copied beside
them, so a kernel started in OUT_DIR can `import workshop`.

Source anchors (`[[Trainer.train]]`) in the notebooks' Markdown and in `labs/notes/*.md`
become links to the transformers of the Python running this build, through the symlink
`OUT_DIR/transformers-src` (see labs/notes/sourcelinks.py): build inside the image.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import jupytext

from notes.anchor_links import render
from notes.lab_folder import build_notes

LABS = Path(__file__).resolve().parent
COPIED = ("workshop", "fsdp", "distributed")


def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    built = []
    for source in sorted((LABS / "notebooks").glob("*.py")):
        notebook = jupytext.read(source, fmt="py:percent")
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.metadata.pop("jupytext", None)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = render(cell.source, "transformers-src")
        target = out / f"{source.stem}.ipynb"
        jupytext.write(notebook, target, fmt="ipynb")
        built.append(target)
    for name in COPIED:
        if (LABS / name).exists():
            shutil.copytree(LABS / name, out / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    build_notes(out)
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="directory to write the notebooks into")
    for path in build(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
