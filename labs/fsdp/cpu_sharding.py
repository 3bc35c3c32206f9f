"""FSDP2 without a GPU: transformers shards the model while loading it, for train_fsdp.py's CPU path.

accelerate 1.15 has no FSDP on the CPU (given distributed_type FSDP there, it wraps DDP), so on
2 CPU processes talking over gloo the model is sharded by
`from_pretrained(..., distributed_config=DistributedConfig(fsdp_size=2, fsdp_plan=...))`, the same
FSDP2 `fully_shard` accelerate uses on GPUs, and Trainer trains the already-sharded model.
"""

from __future__ import annotations

import os

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, set_seed
from transformers.distributed import DistributedConfig

from workshop import LAB
from workshop.data import from_pretrained


def runs_on_cpu() -> bool:
    """The launch asked for CPU processes (ACCELERATE_USE_CPU), or there is no GPU to use."""
    on_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or not torch.cuda.is_available()
    if on_cpu and torch._C._get_accelerator().type != "cpu":
        # from_pretrained(distributed_config=...) builds its mesh on the accelerator it finds
        raise SystemExit("The CPU run must not see a GPU: launch it with CUDA_VISIBLE_DEVICES= (empty).")
    return on_cpu


def layer_names(model: torch.nn.Module) -> list[str]:
    """Names of the modules FSDP wraps one unit each: the classes in `_no_split_modules` (what
    accelerate's TRANSFORMER_BASED_WRAP uses), else the blocks of the longest ModuleList of one
    class (DistilBERT declares no `_no_split_modules`)."""
    wanted = set(getattr(model, "_no_split_modules", None) or ())
    names = [name for name, module in model.named_modules() if type(module).__name__ in wanted]
    if names:
        return names
    lists = [(name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.ModuleList)]
    lists = [(name, module) for name, module in lists if len({type(block) for block in module}) == 1]
    if not lists:
        return []
    name, blocks = max(lists, key=lambda item: len(item[1]))
    return [f"{name}.{index}" for index in range(len(blocks))]


def fsdp_plan(config) -> dict[str, str]:
    """DistributedConfig's plan for an encoder with no FSDP plan of its own: every transformer
    layer its own FSDP2 unit (`free_full_weight`: gathered for forward, freed after it, gathered
    again for backward). from_pretrained shards the root module too, so the embeddings, pooler and
    classifier left over go into a root unit. The names come from an empty (meta) copy of the model."""
    from transformers.distributed.parallel_utils import replace_layer_number_by_wildcard

    with torch.device("meta"):
        skeleton = AutoModelForSequenceClassification.from_config(config)
    return {replace_layer_number_by_wildcard(name): "free_full_weight" for name in layer_names(skeleton)}


def initialise_like_one_process(model: torch.nn.Module, missing: list[str], n_labels: int) -> None:
    """Give the weights the checkpoint lacks (the new classifier head) the values one process would.

    from_pretrained initialises them shard by shard. DTensor's random ops are only rank-aware on
    GPUs (torch/distributed/tensor/_random.py, is_rng_supported_mesh): on a CPU mesh every rank fills
    its shard from its own generator, so with the same seed on both ranks the two halves of the head
    come out as copies of each other (both classes get the same logit). So: load the model plainly
    with the same seed, identically on every rank, and give each rank its slice of those values."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not missing:
        return
    set_seed(LAB.seed)
    plain = from_pretrained(AutoModelForSequenceClassification, LAB.model, "WORKSHOP_MODEL", num_labels=n_labels)
    with torch.no_grad():
        for name in sorted(missing):
            parameter, full = model.get_parameter(name), plain.get_parameter(name).detach()
            if isinstance(parameter, DTensor):
                full = distribute_tensor(full, parameter.device_mesh, parameter.placements).to_local()
                parameter = parameter.to_local()
            parameter.copy_(full)


def load_sharded(n_labels: int, world_size: int) -> tuple[torch.nn.Module, dict[str, str]]:
    """The classifier, each rank holding 1/world_size of it as FSDP2 DTensors, and the plan it was sharded by."""
    plan = fsdp_plan(AutoConfig.from_pretrained(LAB.model, num_labels=n_labels))
    model, loading = from_pretrained(
        AutoModelForSequenceClassification,
        LAB.model,
        "WORKSHOP_MODEL",
        num_labels=n_labels,
        distributed_config=DistributedConfig(fsdp_size=world_size, fsdp_plan=plan),
        output_loading_info=True,
    )
    initialise_like_one_process(model, loading["missing_keys"], n_labels)
    return model, plan
