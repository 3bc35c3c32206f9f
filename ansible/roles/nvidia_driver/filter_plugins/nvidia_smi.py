"""Filters that read nvidia-smi output, for the roles and the readiness play.

The GPU slots come from the hub's own parser (hub/workshop_hub/gpus.py), so the devices
the hub hands out and the devices readiness tests are the same list, read one way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ansible.errors import AnsibleFilterError

_GPUS_PY = Path(__file__).resolve().parents[4] / "hub" / "workshop_hub" / "gpus.py"


def _hub_gpus():
    if not _GPUS_PY.is_file():
        raise AnsibleFilterError(f"{_GPUS_PY} is missing: run the playbooks from a checkout of the repository")
    spec = importlib.util.spec_from_file_location("workshop_hub_gpus", _GPUS_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gpu_slots(lines):
    """`nvidia-smi -L` lines -> [{"id", "gpu", "model"}]: whole GPUs, or their MIG devices."""
    return _hub_gpus().devices_from_nvidia_smi(lines)


def nvidia_smi_rows(lines, fields):
    """`nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits` lines -> one dict per GPU."""
    names = [name.strip() for name in fields.split(",")]
    rows = []
    for line in lines:
        if not line.strip():
            continue
        values = [value.strip() for value in line.split(",")]
        if len(values) != len(names):
            raise AnsibleFilterError(f"nvidia-smi printed {line!r}; expected {len(names)} fields: {fields}")
        rows.append(dict(zip(names, values, strict=True)))
    return rows


class FilterModule:
    def filters(self):
        return {"workshop_gpu_slots": gpu_slots, "workshop_nvidia_smi_rows": nvidia_smi_rows}
