"""Start several training processes from a notebook, as `accelerate launch` does in a terminal.

A notebook kernel is one process; distributed lessons (1C's FSDP, 6E's barrier) need
several. `accelerate_launch` runs the same command a student would type and streams the
processes' output into the cell, instead of the Jupyter server's log.
"""

from __future__ import annotations

import os
import subprocess
import sys


def accelerate_launch(arguments: list[str], cpu: bool = False) -> None:
    """Run `accelerate launch ARGUMENTS...` (options, script, script options), printing its output as it comes.

    cpu=True runs the processes on the CPU, talking over gloo, with any GPU hidden from them
    (ACCELERATE_USE_CPU=true CUDA_VISIBLE_DEVICES=), so a multi-process lesson runs on a
    laptop or beside a single GPU. Raises RuntimeError if the launch failed.
    """
    cpu_only = {"ACCELERATE_USE_CPU": "true", "CUDA_VISIBLE_DEVICES": ""} if cpu else {}
    shown = " ".join(f"{name}={value}" for name, value in cpu_only.items())
    print("$", shown, "accelerate launch", " ".join(arguments))
    environment = {**os.environ, **cpu_only}
    with subprocess.Popen(
        [sys.executable, "-m", "accelerate.commands.launch", *arguments],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        for line in process.stdout:
            print(line, end="")
    if process.returncode:
        raise RuntimeError(f"accelerate launch exited with status {process.returncode}: see its output above")
