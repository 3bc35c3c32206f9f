#!/usr/bin/env python3
"""The release's checks and assets (make release-check, make release-assets; the release
workflow .github/workflows/release.yml runs both, and so does CI).

    python3 docker/release.py check [--tag vX.Y.Z]
        The version is pyproject.toml's; the solo compose files' default image tag
        (${WORKSHOP_VERSION:-X}) must be that version, so a clone pulls the image its labs
        were tested in, and a release tag must be vVERSION.
    python3 docker/release.py assets LABS_DIR OUT_DIR
        OUT_DIR/trainer-workshop-labs-VERSION.zip (the built lab folder: notebooks, helpers,
        study notes with their source links), OUT_DIR/trainer-workshop-notes-VERSION.zip
        (the rendered study notes alone) and OUT_DIR/SHA256SUMS.
Exit 2, with what to change, when something disagrees.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILES = ("compose.yaml", "compose.gpu.yaml")
DEFAULT_VERSION = re.compile(r"\$\{WORKSHOP_VERSION:-([^}]*)\}")


class ReleaseError(Exception):
    """Something the release would get wrong: what, and what to change."""


def project_version(root: Path = ROOT) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def check(tag: str | None, root: Path = ROOT) -> str:
    version = project_version(root)
    problems = []
    for name in COMPOSE_FILES:
        defaults = set(DEFAULT_VERSION.findall((root / name).read_text()))
        if defaults != {version}:
            found = ", ".join(sorted(defaults)) or "none"
            problems.append(f"{name}: the default image tag is ${{WORKSHOP_VERSION:-{found}}}; "
                            f"make it ${{WORKSHOP_VERSION:-{version}}} (pyproject.toml's version)")
    if tag is not None and tag != f"v{version}":
        problems.append(f"tag {tag} is not v{version} (pyproject.toml's version): tag v{version}, "
                        f"or set the version in pyproject.toml and the compose files' defaults to {tag.lstrip('v')}")
    if problems:
        raise ReleaseError("\n".join(problems))
    return version


def zip_tree(source: Path, archive: Path, top: str) -> None:
    """A reproducible zip of `source` under the folder `top` (sorted names, fixed times)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(source.rglob("*")):
            if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
                continue
            info = zipfile.ZipInfo(f"{top}/{path.relative_to(source)}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            out.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)


def assets(labs: Path, out: Path, root: Path = ROOT) -> list[Path]:
    version = project_version(root)
    if not list(labs.glob("*.ipynb")) or not (labs / "notes").is_dir():
        raise ReleaseError(f"{labs} has no built labs (notebooks and notes/): run make labs first")
    out.mkdir(parents=True, exist_ok=True)
    made = [out / f"trainer-workshop-labs-{version}.zip", out / f"trainer-workshop-notes-{version}.zip"]
    zip_tree(labs, made[0], f"trainer-workshop-labs-{version}")
    zip_tree(labs / "notes", made[1], f"trainer-workshop-notes-{version}")
    sums = "".join(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n" for path in made)
    (out / "SHA256SUMS").write_text(sums)
    return [*made, out / "SHA256SUMS"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="versions and tag agree")
    checking.add_argument("--tag", help="the release tag (vX.Y.Z); empty: not a release")
    packing = commands.add_parser("assets", help="the release's lab and notes archives")
    packing.add_argument("labs", type=Path, help="the built lab folder (make labs: build/labs)")
    packing.add_argument("out", type=Path, help="where the archives go")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            print(f"release: version {check(args.tag or None)} (pyproject.toml, {', '.join(COMPOSE_FILES)}"
                  f"{', tag ' + args.tag if args.tag else ''})")
        else:
            for path in assets(args.labs, args.out):
                print(f"release: {path} ({path.stat().st_size} bytes)")
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
