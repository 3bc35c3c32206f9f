"""The register of checks by task id, and how the harness runs one in the lab's kernel.

A check raises AssertionError (FAIL), raises Skip (SKIPPED, with the reason), or returns a
one-line summary of what it verified (PASS).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable

from smoke.usage import gpu_peak_in_kernel

Namespace = dict


class Skip(Exception):
    """The task cannot be verified on this host; the message says why."""


CHECKS: dict[str, Callable[[Namespace, str], str]] = {}


def check(task_id: str):
    def register(function):
        CHECKS[task_id] = function
        return function

    return register


def run_check(task_id: str, namespace: Namespace, stdout: str) -> str:
    """Run one task's check; returns JSON {status, message, gpu_peak}."""
    function = CHECKS.get(task_id)
    if function is None:
        verdict = {"status": "FAIL", "message": f"no check is defined for task {task_id}"}
    else:
        try:
            verdict = {"status": "PASS", "message": function(namespace, stdout) or ""}
        except Skip as reason:
            verdict = {"status": "SKIPPED", "message": str(reason)}
        except AssertionError as failure:
            verdict = {"status": "FAIL", "message": f"check failed: {failure}"}
        except Exception as error:  # a check that crashes is a failure, with where it crashed
            last = traceback.extract_tb(error.__traceback__)[-1]
            verdict = {"status": "FAIL", "message": f"check error {type(error).__name__}: {error} (line {last.lineno})"}
    return json.dumps({**verdict, "gpu_peak": gpu_peak_in_kernel()})


def need(namespace: Namespace, *names: str):
    missing = [name for name in names if name not in namespace]
    assert not missing, f"the notebook defined no {', '.join(missing)}"
    values = [namespace[name] for name in names]
    return values[0] if len(values) == 1 else values
