"""One transformers source tree, read with `ast` and never imported: where the `def`/`class` an anchor names stands.

`Source(root)` reads any tree (the installed package directory by default, or a copy of one);
`resolve` follows a name as Python would and checks the line it finds by its text (the lookup
rules are spelled out for readers of the notes in sourcelinks.py's docstring).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

# The line that starts the `def`/`class` statement of `name` (decorators come before it).
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


_DEFAULT: Source | None = None


def default_source() -> Source:
    """The installed tree, read once: every render and check of this process shares its parsed modules."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Source()
    return _DEFAULT
