"""The hash-checked locks, regenerated from their requirements.in with uv: `make lock`,
`make lock-cpu ARCH=...` and `make hub-lock` run this.

- docker/requirements-gpu.lock: the gpu flavour (PyPI's torch, the CUDA build), any platform.
- docker/requirements-cpu-ARCH.lock: the cpu flavour, one per architecture, since torch's CPU
  wheels (TORCH_VERSION+cpu) differ per platform and PyPI's aarch64 torch is not the CPU build.
- ansible/requirements.lock and tests/requirements-dev.lock: the same versions as the cpu lock.
- hub/requirements.lock and hub/proxy/package-lock.json: the hub image.

uv keeps the versions of the lock it writes over, so a lock changes only where its sources did.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".venv" / "bin" / "uv"
PLATFORMS = {"amd64": "x86_64-manylinux_2_28", "arm64": "aarch64-manylinux_2_28"}
CPU_AMD64 = "docker/requirements-cpu-amd64.lock"


def torch_version() -> str:
    return re.search(r"^torch==(\S+)$", (ROOT / "docker" / "requirements.in").read_text(), re.MULTILINE)[1]


def compile_lock(source: str, output: str, *options: str) -> None:
    command = [str(UV), "pip", "compile", source, "--generate-hashes", "--no-header", "-o", output, *options]
    subprocess.run(command, cwd=ROOT, check=True)


def lock_cpu(arch: str, output: str, torch_wheels: str) -> int:
    """The cpu flavour for one architecture, torch TORCH_VERSION+cpu from `torch_wheels` (a
    wheelhouse folder or the CPU index's flat page of torch wheels; every other package from PyPI)."""
    if arch not in PLATFORMS:
        print(f"ARCH={arch}: use ARCH={' or ARCH='.join(PLATFORMS)}", file=sys.stderr)
        return 2
    override = ROOT / "build" / "torch-cpu.override"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text(f"torch=={torch_version()}+cpu\n")
    # Start from this architecture's lock or, for a first lock, from amd64's: every
    # architecture then runs the same versions. Written beside the output, moved on success.
    seed = ROOT / f"docker/requirements-cpu-{arch}.lock"
    pending = Path(f"{output}.new")
    shutil.copyfile(seed if seed.exists() else ROOT / CPU_AMD64, pending)
    try:
        compile_lock(
            "docker/requirements.in",
            str(pending),
            "--override",
            str(override),
            "--python-version",
            "3.11",
            "--python-platform",
            PLATFORMS[arch],
            "--find-links",
            torch_wheels,
            "--no-emit-find-links",
            "--quiet",
        )
    except subprocess.CalledProcessError:
        pending.unlink(missing_ok=True)
        print(
            f"lock-cpu: uv could not lock the cpu flavour for {arch} (its message is above). When it says torch "
            f"{torch_version()}+cpu has no {arch} wheel: run this where PyTorch's CPU index is reachable "
            "(TORCH_CPU_WHEELHOUSE= uses it), or give a wheelhouse holding that wheel",
            file=sys.stderr,
        )
        return 2
    pending.replace(output)
    return 0


def lock_all(torch_wheels: str) -> int:
    compile_lock("docker/requirements.in", "docker/requirements-gpu.lock", "--universal", "--python-version", "3.11")
    status = lock_cpu("amd64", CPU_AMD64, torch_wheels)
    if status:
        return status
    # The controller's Ansible shares the test venv with the labs' stack: the same versions.
    compile_lock(
        "ansible/requirements.in",
        "ansible/requirements.lock",
        "-c",
        CPU_AMD64,
        "--universal",
        "--python-version",
        "3.11",
    )
    compile_lock(
        "tests/requirements-dev.in",
        "tests/requirements-dev.lock",
        "-c",
        CPU_AMD64,
        "-c",
        "ansible/requirements.lock",
        "--python-version",
        "3.11",
        "--python-platform",
        PLATFORMS["amd64"],
        "--find-links",
        torch_wheels,
        "--no-emit-find-links",
    )
    return 0


def lock_hub() -> int:
    compile_lock("hub/requirements.in", "hub/requirements.lock", "--universal", "--python-version", "3.11")
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--ignore-scripts", "--omit-lockfile-registry-resolved"],
        cwd=ROOT / "hub" / "proxy",
        check=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_subparsers(dest="which", required=True)
    every = which.add_parser("all", help="the gpu, cpu (amd64), ansible and test locks")
    cpu = which.add_parser("cpu", help="the cpu lock of one architecture")
    for sub in (every, cpu):
        sub.add_argument("--torch-wheels", required=True, help="a wheelhouse, or the CPU index's torch/ page")
    cpu.add_argument("--arch", required=True, help="amd64 or arm64")
    cpu.add_argument("--output", help="where to write (default docker/requirements-cpu-ARCH.lock)")
    which.add_parser("hub", help="the hub's Python lock and its proxy's npm lock")
    args = parser.parse_args(argv)
    if args.which == "cpu":
        return lock_cpu(args.arch, args.output or f"docker/requirements-cpu-{args.arch}.lock", args.torch_wheels)
    return lock_all(args.torch_wheels) if args.which == "all" else lock_hub()


if __name__ == "__main__":
    sys.exit(main())
