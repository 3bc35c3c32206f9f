"""Source links that cannot go stale: `[[Anchor]]` in Markdown -> links to the installed transformers.

The study notes (`labs/notes/*.md`) and the lab notebooks' Markdown cells never carry line
numbers. They name the code they point at with a symbolic anchor:

    [[Trainer.create_optimizer]]                     a method of a class exported by `transformers`
    [[TrainingArguments]]                            a class (or function) exported by `transformers`
    [[TrainingArguments.get_warmup_steps]]
    [[transformers.trainer_pt_utils.save_state]]     fully qualified: module path, then the name in it
    [[transformers.optimization.get_scheduler]]
    [[Trainer.create_optimizer|create_optimizer]]    the same anchor with its own link text

`render(text, link_prefix)` replaces each anchor with two links, both computed from the
transformers source tree that the running Python would import (its `__version__` names the
release): one relative link into `transformers-src/`, which the lab folder symlinks to the
installed package (so JupyterLab opens the very file that runs), and a permanent link to the
same file and line at the release tag on GitHub:

    [`Trainer.create_optimizer`](../transformers-src/trainer.py#line=1258) (trainer.py:1259,
    [v5.24.0](https://github.com/huggingface/transformers/blob/v5.24.0/src/transformers/trainer.py#L1259))

The local link's fragment is `#line=N` (RFC 5147: the position after N lines), the form
JupyterLab's text editor scrolls to: it moves the cursor to 0-based line N, which is 1-based
line N+1, the `def` line. (A GitHub-style `#L1259` opens the file at its top in JupyterLab.)

Anchors inside code spans and fenced code blocks are left alone.

Resolution reads the source with `ast`; nothing is imported, so the same code checks any
transformers tree (`--src DIR`). A name is looked up the way Python would find it: a top-level
name through the `from .x import Name` lines of `transformers/__init__.py`; a member of a class
in the class body (also `from .m import f` inside the body, which is how `Trainer.save_state`
comes from trainer_pt_utils.py), then in its base classes; a module-level name through the
module's own `from .x import` lines. The link points at the `def`/`class` line itself (after any
decorators), and every resolved line is checked by reading the file text at that line.

`sourcelinks.lock` (beside this file) records where every anchor used in the notes was, in the
release the notes were last reviewed against (a notebook anchor must resolve too, and name a def
that the notes name for the same task). `--check` compares the tree with it:

    python labs/notes/sourcelinks.py --check     # every anchor -> file:line; exit 1 on drift
    python labs/notes/sourcelinks.py --update    # after re-reading the notes: rewrite the lock
    python labs/notes/sourcelinks.py --tasks     # each lab task's source anchors, from the notes

An anchor that no longer resolves, or that moved (another file or another line), or a tree of
another release than the lock's, is reported by name with its new location when there is one,
and the check exits non-zero: upgrading transformers flags every note to re-read at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:
    # Run as a script (`python labs/notes/sourcelinks.py`), with or without the project installed:
    # import the modules beside it as the `notes` package, from labs/ instead of labs/notes/.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from notes.anchor_links import render  # noqa: E402 (after the path above)
from notes.anchor_lock import LOCK, check, read_lock, write_lock  # noqa: E402
from notes.lab_sources import note_sources, task_sources, used_anchors  # noqa: E402
from notes.transformers_tree import Source, Unresolved  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, help="a transformers package directory (default: the installed one)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="list anchor -> file:line; exit 1 on any drift")
    mode.add_argument("--update", action="store_true", help="rewrite sourcelinks.lock from this tree")
    mode.add_argument("--tasks", action="store_true", help="each lab task's source anchors, from the notes")
    mode.add_argument("--render", type=Path, metavar="FILE", help="print FILE rendered (link prefix: --prefix)")
    parser.add_argument("--prefix", default="../transformers-src", help="link prefix for --render")
    parser.add_argument("--lock", type=Path, default=LOCK)
    args = parser.parse_args(argv)
    source = Source(args.src)

    if args.render:
        print(render(args.render.read_text(encoding="utf-8"), args.prefix, source), end="")
        return 0
    if args.tasks:
        for path in note_sources():
            for task, names in task_sources(path.read_text(encoding="utf-8")).items():
                print(f"task-{task}: {', '.join(f'[[{n}]]' for n in names)}")
        return 0
    used = used_anchors()
    if args.update:
        bad = [line for line in check(source, used, (source.version, {})) if line.startswith("UNRESOLVED")]
        if bad:
            print("\n".join(bad), file=sys.stderr)
            return 1
        in_notes = [a for a, files in used.items() if any(not f.startswith("notebooks/") for f in files)]
        write_lock(source, in_notes, args.lock)
        print(f"wrote {args.lock}: {len(in_notes)} anchors of the notes, transformers {source.version}")
        return 0

    print(f"transformers {source.version} at {source.root}")
    for anchor in used:
        try:
            print(f"  {anchor:55} {source.resolve(anchor)}")
        except Unresolved:
            print(f"  {anchor:55} UNRESOLVED")
    problems = check(source, used, read_lock(args.lock))
    if problems:
        print(f"\n{len(problems)} problem(s): the notes need a re-read against this release:", file=sys.stderr)
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"ok: {len(used)} anchors where {args.lock.name} says")
    return 0


if __name__ == "__main__":
    sys.exit(main())
