"""What one task costs an attendee: seconds, peak memory, disk, GPU memory.

The harness measures every task while it runs:
- peak RSS of the task's kernel and every process it started (1C's `accelerate launch`
  ranks included), sampled from outside the kernel with psutil;
- disk written: how much the output folder grew (checkpoints, saved models, studies);
- GPU peak: the most memory torch's allocator reserved in the kernel (its CUDA context,
  a few hundred MB per process, comes on top).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.2
UNITS = {
    "": 1,
    "B": 1,
    "K": 2**10,
    "KB": 2**10,
    "M": 2**20,
    "MB": 2**20,
    "G": 2**30,
    "GB": 2**30,
    "T": 2**40,
    "TB": 2**40,
}


@dataclass
class Usage:
    peak_rss: int = 0  # bytes
    disk_written: int = 0  # bytes the output folder grew by (negative: the task freed space)
    gpu_peak: int | None = None  # bytes; None without a GPU


def parse_size(text: str) -> int:
    """'2GB', '500 MB', '1.5G', '1048576' -> bytes (binary units)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text or "")
    unit = match[2].upper() if match else ""
    if not match or unit not in UNITS:
        raise ValueError(f"{text!r} is not a size: write e.g. 2GB, 500MB or a number of bytes")
    return int(float(match[1]) * UNITS[unit])


def human(size: int | None) -> str:
    """Bytes for people: '-' for no figure, whole B and KB, one decimal for MB and GB."""
    if size is None:
        return "-"
    for unit, scale in (("GB", 2**30), ("MB", 2**20)):
        if abs(size) >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 2**10:.0f} KB" if abs(size) >= 2**10 else f"{size} B"


def disk_usage(path: Path) -> int:
    """Bytes allocated under path (like `du -s`), hard links counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(folder, name))
            except FileNotFoundError:  # removed while we walked (checkpoint rotation)
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class PeakRss:
    """Samples tree_rss(pid) in a background thread between start() and stop()."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss(self.pid))
            if self._stop.wait(SAMPLE_SECONDS):
                return

    def start(self) -> PeakRss:
        if self.pid is not None:
            self._thread = threading.Thread(target=self._sample, name="smoke-rss", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        if self._thread:
            self._thread.join()
            self.peak = max(self.peak, tree_rss(self.pid))
        return self.peak


# Run inside the kernel, before a task and in its check (the kernel may not have imported torch).
RESET_GPU_PEAK = (
    "import sys as __smoke_sys\n"
    "if 'torch' in __smoke_sys.modules and __smoke_sys.modules['torch'].cuda.is_available():\n"
    "    __smoke_sys.modules['torch'].cuda.reset_peak_memory_stats()\n"
)


def gpu_peak_in_kernel() -> int | None:
    """The reserved-memory peak since RESET_GPU_PEAK ran (called in the kernel, by the check)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return int(torch.cuda.max_memory_reserved())
