"""Copy the image's labs into the student's work folder without ever overwriting their changes.

/opt/workshop/labs (read-only, in the image) -> ~/work/labs. What was shipped is
recorded in ~/work/labs/.workshop-shipped.json (path -> sha256 of the copy we put
there). On each start, for each file of the image's labs:
  * missing in work                 -> copied;
  * same as the image's             -> nothing to do;
  * unchanged since we shipped it   -> replaced by the image's newer version;
  * changed by the student          -> kept; a different new version goes beside it
                                       as NAME.new-VERSION.EXT, and a note is printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

SOURCE = Path(os.environ.get("WORKSHOP_LABS_SOURCE", "/opt/workshop/labs"))
TARGET = Path(os.environ.get("WORKSHOP_LABS_TARGET", Path.home() / "work" / "labs"))
RECORD_NAME = ".workshop-shipped.json"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def beside(path: Path, version: str) -> Path:
    return path.with_name(f"{path.stem}.new-{version}{path.suffix}")


def copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.chmod(target, 0o644)


def sync(source: Path = SOURCE, target: Path = TARGET, version: str | None = None) -> list[str]:
    version = version or os.environ.get("WORKSHOP_VERSION", "new")
    record_path = target / RECORD_NAME
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = {}
    shipped: dict[str, str] = record.get("files", {})
    notes = []
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        key = str(relative)
        destination = target / relative
        if path.is_symlink():
            if not destination.exists() and not destination.is_symlink():
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.symlink_to(os.readlink(path))
            continue
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        new = digest(path)
        if destination.is_symlink() or destination.is_dir():
            continue  # the student put something else there: leave it
        if not destination.exists():
            copy(path, destination)
            shipped[key] = new
            continue
        current = digest(destination)
        if current == new:
            shipped[key] = new
        elif shipped.get(key) == current:
            copy(path, destination)  # untouched by the student: update in place
            shipped[key] = new
        elif shipped.get(key) == new:
            pass  # the student changed it, and this image has nothing newer
        else:
            other = beside(destination, version)
            if not other.exists() or digest(other) != new:
                copy(path, other)
                notes.append(f"{relative}: you changed it, so it was kept; this image's version is {other.name}")
    record = {"version": version, "files": shipped}
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    tmp.replace(record_path)
    return notes


def main() -> int:
    if not SOURCE.is_dir():
        print(f"sync_labs: {SOURCE} is missing", file=sys.stderr)
        return 1
    try:
        notes = sync()
    except PermissionError as error:
        print(
            f"sync_labs: cannot write the labs into {TARGET}: {error}. Is the work volume owned by uid 1000?",
            file=sys.stderr,
        )
        return 1
    for note in notes:
        print(f"labs: {note}")
    print(f"labs: {TARGET} is up to date with this image's labs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
