#!/usr/bin/env python3
"""The release's checks and assets (make release-check, make release-assets; the release
workflow .github/workflows/release.yml runs both, and so does CI).

    python3 docker/release.py check [--tag vX.Y.Z] [--owner OWNER]
        The version is pyproject.toml's; the solo compose files' default image tag
        (${WORKSHOP_VERSION:-X}) must be that version, so a clone pulls the image its labs
        were tested in, and a release tag must be vVERSION. Their default owner
        (${WORKSHOP_OWNER:-X}) must be where the release pushes. Every cpu lock
        (docker/requirements-cpu-ARCH.lock) pins the same versions: amd64 and arm64
        learners run the same stack.
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
DEFAULT_OWNER = re.compile(r"\$\{WORKSHOP_OWNER:-([^}]*)\}")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", re.MULTILINE)


class ReleaseError(Exception):
    """Something the release would get wrong: what, and what to change."""


def project_version(root: Path = ROOT) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def lock_pins(lock: Path) -> dict[str, str]:
    """package -> version in a hash-checked lock, torch's local version (+cpu) left out."""
    return {name.lower(): version.split("+")[0] for name, version in PIN.findall(lock.read_text())}


def check(tag: str | None, root: Path = ROOT, owner: str | None = None) -> str:
    version = project_version(root)
    problems = []
    for name in COMPOSE_FILES:
        text = (root / name).read_text()
        defaults = set(DEFAULT_VERSION.findall(text))
        if defaults != {version}:
            found = ", ".join(sorted(defaults)) or "none"
            problems.append(
                f"{name}: the default image tag is ${{WORKSHOP_VERSION:-{found}}}; "
                f"make it ${{WORKSHOP_VERSION:-{version}}} (pyproject.toml's version)"
            )
        owners = set(DEFAULT_OWNER.findall(text))
        if owner and owners != {owner.lower()}:
            problems.append(
                f"{name}: learners pull from ${{WORKSHOP_OWNER:-{', '.join(sorted(owners))}}}, but this "
                f"release pushes to {owner.lower()}: make the default ${{WORKSHOP_OWNER:-{owner.lower()}}}"
            )
    locks = sorted((root / "docker").glob("requirements-cpu-*.lock"))
    if locks:
        reference = lock_pins(locks[0])
        for lock in locks[1:]:
            differ = sorted(
                n for n in set(reference) | set(lock_pins(lock)) if reference.get(n) != lock_pins(lock).get(n)
            )
            if differ:
                problems.append(
                    f"{lock.name} and {locks[0].name} pin different versions of {', '.join(differ)}: "
                    f"relock with make lock-cpu (it starts from the amd64 lock)"
                )
    if tag is not None and tag != f"v{version}":
        problems.append(
            f"tag {tag} is not v{version} (pyproject.toml's version): tag v{version}, "
            f"or set the version in pyproject.toml and the compose files' defaults to {tag.lstrip('v')}"
        )
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
    # Everything in OUT_DIR (the release workflow adds the arm64 lock there), not the sums themselves.
    listed = sorted(path for path in out.iterdir() if path.is_file() and path.name != "SHA256SUMS")
    sums = "".join(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n" for path in listed)
    (out / "SHA256SUMS").write_text(sums)
    return [*made, out / "SHA256SUMS"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="versions and tag agree")
    checking.add_argument("--tag", help="the release tag (vX.Y.Z); empty: not a release")
    checking.add_argument("--owner", help="where the release pushes (the registry owner); empty: not checked")
    packing = commands.add_parser("assets", help="the release's lab and notes archives")
    packing.add_argument("labs", type=Path, help="the built lab folder (make labs: build/labs)")
    packing.add_argument("out", type=Path, help="where the archives go")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            version = check(args.tag or None, owner=args.owner or None)
            print(
                f"release: version {version} (pyproject.toml, {', '.join(COMPOSE_FILES)}"
                f"{', tag ' + args.tag if args.tag else ''}{', owner ' + args.owner.lower() if args.owner else ''})"
            )
        else:
            for path in assets(args.labs, args.out):
                print(f"release: {path} ({path.stat().st_size} bytes)")
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
