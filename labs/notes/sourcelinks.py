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
import ast
import importlib.util
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

NOTES = Path(__file__).resolve().parent
LABS = NOTES.parent
LOCK = NOTES / "sourcelinks.lock"
GITHUB = "https://github.com/huggingface/transformers/blob/v{version}/src/transformers/{path}#L{line}"

ANCHOR = re.compile(r"\[\[([A-Za-z_][\w.]*)(?:\|([^\]\n]+))?\]\]")
# Fenced code blocks and inline code spans are copied as they are.
_CODE = re.compile(r"(^[ \t]*```.*?^[ \t]*```[^\n]*$|`[^`\n]+`)", re.S | re.M)
_DEF = "^\\s*(?:async\\s+def|def|class)\\s+{name}\\b"


class Unresolved(LookupError):
    """An anchor that names nothing in the tree (the message says what is missing)."""


@dataclass(frozen=True)
class Location:
    anchor: str
    path: str  # relative to the transformers package directory, "/"-separated
    line: int  # 1-based, the `def`/`class` line

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def installed_root() -> Path:
    """The transformers package directory that this Python imports, found without importing it."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("transformers is not installed for this Python")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


class Source:
    """One transformers source tree (an installed package directory, or any copy of one)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root).resolve() if root is not None else installed_root()
        self._modules: dict[str, tuple[ast.Module, list[str], str] | None] = {}
        self._cache: dict[str, Location | Unresolved] = {}

    @cached_property
    def version(self) -> str:
        match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", (self.root / "__init__.py").read_text(), re.M)
        if not match:
            raise SystemExit(f"no __version__ in {self.root / '__init__.py'}")
        return match.group(1)

    # -- modules ------------------------------------------------------------------------------

    def module(self, name: str) -> tuple[ast.Module, list[str], str] | None:
        """(tree, lines, relative path) of `transformers.<name>` ("" is the package itself), or None."""
        if name not in self._modules:
            base = self.root.joinpath(*name.split("."))
            paths = [base.with_suffix(".py"), base / "__init__.py"] if name else [base / "__init__.py"]
            path = next((p for p in paths if p.is_file()), None)
            if path is None:
                self._modules[name] = None
            else:
                text = path.read_text(encoding="utf-8")
                rel = path.relative_to(self.root).as_posix()
                self._modules[name] = (ast.parse(text, filename=str(path)), text.splitlines(), rel)
        return self._modules[name]

    @staticmethod
    def _imported_module(current: str, is_package: bool, node: ast.ImportFrom) -> str | None:
        """The transformers-relative module an ImportFrom reads from, or None if outside transformers."""
        if node.level == 0:
            mod = node.module or ""
            if mod == "transformers" or mod.startswith("transformers."):
                return mod[len("transformers.") :] if "." in mod else ""
            return None
        parts = current.split(".") if current else []
        if not is_package:
            parts = parts[:-1]
        up = node.level - 1
        if up > len(parts):
            return None
        parts = parts[: len(parts) - up] if up else parts
        if node.module:
            parts = parts + node.module.split(".")
        return ".".join(parts)

    def _bindings(self, body: list[ast.stmt]):
        """Statements of a module or class body that bind names, looking into if/try blocks."""
        for node in body:
            if isinstance(node, (ast.If, ast.Try)):
                yield from self._bindings(node.body)
                for handler in getattr(node, "handlers", []):
                    yield from self._bindings(handler.body)
                yield from self._bindings(node.orelse)
                yield from self._bindings(getattr(node, "finalbody", []))
            else:
                yield node

    def _find(self, modname: str, body: list[ast.stmt], name: str, depth: int = 0):
        """Where `name` is defined when looked up in `body` of module `modname`: (module, node) or None."""
        if depth > 20:
            return None
        mod = self.module(modname)
        is_package = mod is not None and mod[2].endswith("__init__.py")
        found = None
        for node in self._bindings(body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                found = (modname, node)  # the last binding wins, as at run time
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        src = self._imported_module(modname, is_package, node)
                        if src is None:
                            continue
                        target = self.module(src)
                        if target is not None:
                            hit = self._find(src, target[0].body, alias.name, depth + 1)
                            if hit is not None:
                                found = hit
                                continue
                        sub = f"{src}.{alias.name}" if src else alias.name
                        if self.module(sub) is not None:
                            found = (sub, None)  # `from . import trainer_utils`: a module
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    found = (modname, node)
        return found

    # -- anchors ------------------------------------------------------------------------------

    def resolve(self, anchor: str) -> Location:
        """The `def`/`class` line that `anchor` names; raises Unresolved with the reason."""
        if anchor not in self._cache:
            try:
                self._cache[anchor] = self._resolve(anchor)
            except Unresolved as exc:
                self._cache[anchor] = exc
        hit = self._cache[anchor]
        if isinstance(hit, Unresolved):
            raise hit
        return hit

    def _resolve(self, anchor: str) -> Location:
        parts = anchor.split(".")
        if parts[0] == "transformers" and len(parts) > 1:
            # fully qualified: the longest module prefix, then names in it
            for cut in range(len(parts) - 1, 0, -1):
                modname = ".".join(parts[1:cut])
                if modname and self.module(modname) is not None:
                    break
            else:
                raise Unresolved(f"{anchor}: no module transformers.{parts[1]}")
            names = parts[cut:]
        else:
            modname, names = "", parts
        mod = self.module(modname)
        if mod is None:
            raise Unresolved(f"{anchor}: no transformers/__init__.py under {self.root}")
        hit = self._find(modname, mod[0].body, names[0])
        if hit is None or hit[1] is None:
            where = f"transformers.{modname}" if modname else "transformers"
            raise Unresolved(f"{anchor}: {where} has no {names[0]!r}")
        modname, node = hit
        for depth, name in enumerate(names[1:], start=1):
            if not isinstance(node, ast.ClassDef):
                raise Unresolved(f"{anchor}: {'.'.join(names[:depth])} is not a class")
            member = self._member(modname, node, name)
            if member is None:
                raise Unresolved(f"{anchor}: {'.'.join(names[:depth])} has no {name!r}")
            modname, node = member
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            raise Unresolved(f"{anchor}: {names[-1]!r} is bound by an assignment, not a def or class")
        _, lines, path = self.module(modname)
        location = Location(anchor, path, node.lineno)
        text = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
        if not re.match(_DEF.format(name=re.escape(names[-1])), text):
            raise Unresolved(f"{anchor}: {path}:{node.lineno} reads {text.strip()!r}, not a def of {names[-1]}")
        return location

    def _member(self, modname: str, cls: ast.ClassDef, name: str, depth: int = 0):
        """`name` in the body of class `cls`, else in its bases (those defined in transformers)."""
        hit = self._find(modname, cls.body, name)
        if hit is not None and hit[1] is not None:
            return hit
        if depth > 10:
            return None
        mod = self.module(modname)
        for base in cls.bases:
            if isinstance(base, ast.Name):
                found = self._find(modname, mod[0].body, base.id)
                if found is not None and isinstance(found[1], ast.ClassDef):
                    inherited = self._member(found[0], found[1], name, depth + 1)
                    if inherited is not None:
                        return inherited
        return None

    def candidates(self, anchor: str, limit: int = 5) -> list[str]:
        """Where a `def`/`class` of the anchor's last name now stands, to suggest for an unresolved anchor."""
        name = anchor.split(".")[-1]
        pattern = re.compile(_DEF.format(name=re.escape(name)), re.M)
        found = []
        for path in sorted(self.root.rglob("*.py")):
            if "models" in path.relative_to(self.root).parts[:1]:
                continue  # thousands of model files, never what a Trainer note means
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(self.root).as_posix()}:{text.count(chr(10), 0, match.start()) + 1}")
                if len(found) >= limit:
                    return found
        return found

    # -- rendering ----------------------------------------------------------------------------

    def link(self, anchor: str, label: str | None, link_prefix: str) -> str:
        loc = self.resolve(anchor)
        local = f"{link_prefix.rstrip('/')}/{loc.path}#line={loc.line - 1}"  # JupyterLab: 0-based (RFC 5147)
        github = GITHUB.format(version=self.version, path=loc.path, line=loc.line)
        return f"[`{label or anchor}`]({local}) ({loc}, [v{self.version}]({github}))"


def anchors(text: str) -> list[str]:
    """The anchors in Markdown `text`, in order, without those inside code."""
    out = []
    for i, chunk in enumerate(_CODE.split(text)):
        if i % 2 == 0:
            out.extend(m.group(1) for m in ANCHOR.finditer(chunk))
    return out


def render(text: str, link_prefix: str, source: Source | None = None) -> str:
    """`text` with every `[[Anchor]]` outside code replaced by its two links.

    `link_prefix` is the relative path from the rendered file to the lab root's
    `transformers-src` symlink: "transformers-src" for a notebook, "../transformers-src"
    for a note. Raises Unresolved for an anchor the tree lacks.
    """
    source = source or default_source()
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = ANCHOR.sub(lambda m: source.link(m.group(1), m.group(2), link_prefix), parts[i])
    return "".join(parts)


_DEFAULT: Source | None = None


def default_source() -> Source:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Source()
    return _DEFAULT


# -- what the labs use -------------------------------------------------------------------------


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


# -- the lock ----------------------------------------------------------------------------------


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
        problems.append(f"transformers {source.version} at {source.root}, but the notes were reviewed against {locked_version}")
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
