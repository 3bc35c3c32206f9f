"""Start-up checks of the workshop image: fail early, saying what to do.

* each of WORKSHOP_MODEL, WORKSHOP_CAUSAL_MODEL, WORKSHOP_DATASET must be in this
  image's read-only cache or be a local directory: runs are offline (HF_HUB_OFFLINE=1)
  (the smoke harness checks its own --model/--causal-model/--dataset the same way);
* on the gpu flavour with GPUs requested, the NVIDIA driver must be new enough for
  torch's CUDA (13.0: driver 580 or newer).
Exit status 2, with one message per problem, when something is wrong.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

MIN_DRIVER = 580  # CUDA 13.0, what PyPI's torch 2.13.0 is built for
MANIFEST = Path("/opt/workshop/MANIFEST.json")


def baked() -> dict:
    try:
        return json.loads(MANIFEST.read_text()).get("models", {})
    except (OSError, ValueError):
        return {}


def in_cache(value: str, repo_type: str) -> bool:
    if os.path.isdir(value):
        return True
    from huggingface_hub import scan_cache_dir

    try:
        cache = scan_cache_dir()
    except Exception:
        return False
    return any(repo.repo_id == value and repo.repo_type == repo_type for repo in cache.repos)


def check_models() -> list[str]:
    problems = []
    names = (
        ", ".join(f"{k}={v.get('id') or v.get('path')}" for k, v in baked().items())
        or "see /opt/workshop/MANIFEST.json"
    )
    for variable, repo_type in (
        ("WORKSHOP_MODEL", "model"),
        ("WORKSHOP_CAUSAL_MODEL", "model"),
        ("WORKSHOP_DATASET", "dataset"),
    ):
        value = os.environ.get(variable, "")
        if not value:
            problems.append(f"{variable} is empty. Baked into this image: {names}.")
        elif not in_cache(value, repo_type):
            problems.append(
                f"{variable}={value} is not in this image's model cache, and runs are offline (HF_HUB_OFFLINE=1).\n"
                f"   Fix: use what is baked in ({names}),\n"
                f"   or rebuild the image with it: make image {variable}={value}\n"
                f"   (a local directory: mount it into the container and give its path)."
            )
    return problems


def driver_version() -> str | None:
    try:
        text = Path(os.environ.get("WORKSHOP_NVIDIA_VERSION_FILE", "/proc/driver/nvidia/version")).read_text()
    except OSError:
        return None
    match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+\.\d+(?:\.\d+)?)", text) or re.search(
        r"\s(\d{3}\.\d+(?:\.\d+)?)\s", text
    )
    return match.group(1) if match else None


def check_gpu() -> tuple[list[str], list[str]]:
    """(problems, notes) about the GPU; only on the gpu flavour with GPUs requested."""
    requested = os.environ.get("NVIDIA_VISIBLE_DEVICES", "")
    if os.environ.get("WORKSHOP_FLAVOR") != "gpu" or requested in ("", "void", "none"):
        return [], []
    version = driver_version()
    if version is None:
        return [], [
            f"GPU requested (NVIDIA_VISIBLE_DEVICES={requested}) but no NVIDIA driver is visible in the container: "
            "is the NVIDIA Container Toolkit installed on the host? The labs will run on CPU."
        ]
    major = int(version.split(".")[0])
    if major < MIN_DRIVER:
        message = (
            f"NVIDIA driver {version} found, >= {MIN_DRIVER} needed: this image's torch is built for CUDA 13.0.\n"
            f"   Fix: update the host's NVIDIA driver to the {MIN_DRIVER} series or newer, or use the cpu flavour "
            "(trainer-workshop:cpu). WORKSHOP_ALLOW_OLD_DRIVER=1 starts anyway (CUDA will not work)."
        )
        if os.environ.get("WORKSHOP_ALLOW_OLD_DRIVER") == "1":
            return [], [message]
        return [message], []
    return [], [f"NVIDIA driver {version} found (>= {MIN_DRIVER} needed): ok"]


def main() -> int:
    problems, notes = check_gpu()
    problems += check_models()
    for note in notes:
        print(f"workshop: {note}", file=sys.stderr)
    if problems:
        print("workshop: cannot start:", file=sys.stderr)
        for problem in problems:
            print(f" - {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
