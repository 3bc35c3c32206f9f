"""What each lab task was meant to show, checked inside the lab's kernel after its cells ran.

The harness calls ``run_check(task_id, namespace, stdout)`` in the kernel; each check reads
the notebook's variables and printed output. A check raises AssertionError (FAIL), raises
Skip (SKIPPED, with the reason), or returns a one-line summary of what it verified (PASS).
Checks live here, one module per notebook, not in the students' notebooks.
"""

from . import (  # noqa: F401  (importing a notebook's module registers its checks)
    bootstrapping,
    checkpointing,
    evaluation,
    gpt2_live_coding,
    optimization,
    setup,
    training_flow,
    utilities,
)
from .registry import CHECKS, Skip, check, need, run_check

__all__ = ["CHECKS", "Skip", "check", "need", "run_check"]
