"""The GPU pool's device IDs: HUB_GPUS parsed and checked, and `nvidia-smi -L` read.

Pure Python (no Docker, no JupyterHub), so it is unit-tested on its own, and it
doubles as a script that turns `nvidia-smi -L` into a HUB_GPUS line:

    nvidia-smi -L | python3 hub/workshop_hub/gpus.py

A GPU split into MIG instances is listed as its MIG devices (one slot each),
not as the whole GPU, since a MIG device is what one attendee should get.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable

# Device IDs the NVIDIA runtime accepts: an index ("0"), a GPU UUID
# ("GPU-8f3c..."), a MIG UUID ("MIG-..."), or a GPU:MIG index pair ("0:1").
_DEVICE_RE = re.compile(r"^(\d+|\d+:\d+|GPU-[0-9A-Za-z-]+|MIG-[0-9A-Za-z/-]+)$")
CPU_ONLY_WORDS = {"", "none", "cpu", "off"}


def parse_pool(text: str | None) -> list[str]:
    """HUB_GPUS ("0,1,2", "GPU-…,MIG-…", "none") -> device IDs; [] means CPU-only."""
    text = (text or "").strip()
    if text.lower() in CPU_ONLY_WORDS:
        return []
    devices = [d.strip() for d in re.split(r"[,\s]+", text) if d.strip()]
    bad = [d for d in devices if not _DEVICE_RE.match(d)]
    if bad:
        raise ValueError(
            f"HUB_GPUS: {', '.join(map(repr, bad))} is not a GPU index, GPU-… UUID or MIG-… UUID "
            "(fill it from `nvidia-smi -L | python3 hub/workshop_hub/gpus.py`, or set HUB_GPUS=none for CPU-only)"
        )
    dupes = sorted(d for d, n in Counter(devices).items() if n > 1)
    if dupes:
        raise ValueError(f"HUB_GPUS lists {', '.join(dupes)} more than once")
    return devices


def devices_from_nvidia_smi(lines: Iterable[str]) -> list[dict[str, str]]:
    """The slots in `nvidia-smi -L` output, each {"id", "gpu", "model"}: a GPU by its UUID, or,
    where a GPU is split, each of its MIG devices by MIG UUID ("model" then names the profile)."""
    devices: list[dict[str, str]] = []
    gpu: dict[str, str] | None = None
    gpu_has_mig = False
    for line in lines:
        whole = re.match(r"^GPU (\d+):\s*(.*?)\s*\(UUID: (GPU-[^)]+)\)", line.strip())
        mig = re.match(r"^MIG\s+(\S+).*\(UUID: (MIG-[^)]+)\)", line.strip())
        if whole:
            if gpu and not gpu_has_mig:
                devices.append(gpu)
            gpu, gpu_has_mig = {"id": whole.group(3), "gpu": whole.group(1), "model": whole.group(2)}, False
        elif mig and gpu:
            gpu_has_mig = True
            devices.append({"id": mig.group(2), "gpu": gpu["gpu"], "model": f"{gpu['model']} MIG {mig.group(1)}"})
    if gpu and not gpu_has_mig:
        devices.append(gpu)
    return devices


def from_nvidia_smi(lines: Iterable[str]) -> list[str]:
    """Device IDs from `nvidia-smi -L` output: GPU UUIDs, or MIG UUIDs where a GPU is split."""
    return [device["id"] for device in devices_from_nvidia_smi(lines)]


def main() -> int:
    devices = from_nvidia_smi(sys.stdin)
    if not devices:
        print("no GPUs found in the input (expected `nvidia-smi -L` output)", file=sys.stderr)
        return 1
    print("HUB_GPUS=" + ",".join(devices))
    return 0


if __name__ == "__main__":
    sys.exit(main())
