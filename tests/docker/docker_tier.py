"""Helpers shared by the Docker tier's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "build" / "testdata"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", re.MULTILINE)


def run(image: str, *args: str, options: tuple[str, ...] = (), timeout: int = 300) -> subprocess.CompletedProcess:
    """`docker run --rm [options] IMAGE args...`, output captured as text."""
    return subprocess.run(["docker", "run", "--rm", *options, image, *args], capture_output=True, text=True,
                          timeout=timeout)
