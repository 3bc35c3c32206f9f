"""How lab 1C proves that train_fsdp.py sharded the model: what each rank holds, and the first step redone.

train_fsdp.py is the lesson; this module checks it and writes OUTPUT_DIR/fsdp_report.json:
which wrapper Trainer really used (FSDP2, FSDP, DDP or none), what was requested and what ran,
the world size, how many parameter elements each rank holds (and the shard shapes of a few named
parameters), and a gradient check: Trainer's first optimizer step, redone in one process on the
same global batch and weights, must give the same loss and gradients.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
from transformers import AutoModelForSequenceClassification, Trainer, TrainerCallback

from cpu_sharding import layer_names
from workshop import LAB
from workshop.data import from_pretrained

# Largest |FSDP gradient - one-process gradient| allowed, relative to the largest gradient entry.
# fp32 on CPU agrees to about 1e-6; CUDA matmuls may use TF32 (accelerate enables it with
# torch_compile), so GPUs get more room. A gradient summed instead of averaged over 2 ranks is off by 1.0.
TOLERANCE = {"cpu": 1e-3, "cuda": 2e-2}


def wrappers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model and what it wraps, from the outermost wrapper (torch.compile's OptimizedModule,
    DDP, FSDP1) inwards to the transformers model."""
    chain = [model]
    while True:
        # torch.compile's OptimizedModule forwards attribute lookups, so ask it for _orig_mod first
        inner = getattr(chain[-1], "_orig_mod", None) or getattr(chain[-1], "module", None)
        if not isinstance(inner, torch.nn.Module):
            return chain
        chain.append(inner)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside all its wrappers."""
    return wrappers(model)[-1]


def wrapper_chain(model: torch.nn.Module) -> list[str]:
    """Class names from the outermost wrapper inwards, e.g. ['DistributedDataParallel', 'BertFor...']."""
    return [type(module).__name__ for module in wrappers(model)]


def classify(model: torch.nn.Module) -> str:
    from torch.distributed.tensor import DTensor

    names = wrapper_chain(model)
    if "FullyShardedDataParallel" in names:
        return "FSDP"
    if any(isinstance(p, DTensor) for p in model.parameters()):
        return "FSDP2"
    if "DistributedDataParallel" in names:
        return "DDP"
    return "none"


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(elements this rank holds, elements of the full model)."""
    from torch.distributed.tensor import DTensor

    local = full = 0
    for parameter in model.parameters():
        if isinstance(parameter, DTensor):
            local += parameter.to_local().numel()
            full += parameter.numel()
        else:
            local += parameter.numel()
            full += parameter.numel()
    return local, full


def full_tensors(model: torch.nn.Module, attribute: str) -> dict[str, torch.Tensor]:
    """Every parameter (or its .grad) as a whole CPU tensor. For a DTensor this all-gathers the
    shards, a collective: every rank must call it at the same point."""
    from torch.distributed.tensor import DTensor

    out = {}
    for name, parameter in unwrap(model).named_parameters():
        tensor = parameter if attribute == "param" else parameter.grad
        if tensor is None:
            continue
        if isinstance(tensor, DTensor):
            tensor = tensor.full_tensor()
        out[name] = tensor.detach().float().cpu().clone()
    return out


class FirstStepProbe(TrainerCallback):
    """Records what Trainer's first optimizer step did, for a one-process re-run on rank 0.

    - the batch: the first batch this rank's data collator built (each rank gets its own);
    - the weights before the step and the gradients Trainer is about to apply (all-gathered);
    - dropout is off for that one step (p=0), so the re-run can be exact; it is back on after it.
    """

    def __init__(self, collator):
        self.collator = collator
        self.batch = self.weights = self.grads = None
        self._dropout: list[tuple[torch.nn.Dropout, float]] = []

    def __call__(self, features):
        batch = self.collator(features)
        if self.batch is None:
            self.batch = {key: value.detach().cpu().clone() for key, value in batch.items()}
        return batch

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self.weights = full_tensors(model, "param")
            self._dropout = [(module, module.p) for module in model.modules() if isinstance(module, torch.nn.Dropout)]
            for module, _ in self._dropout:
                module.p = 0.0

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:  # after backward, the gradient reduction and clipping
            self.grads = full_tensors(model, "grad")

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            for module, p in self._dropout:
                module.p = p


def gradient_check(probe: FirstStepProbe, batches: list[dict], trainer: Trainer, n_labels: int, device: str) -> dict:
    """Redo Trainer's first step in this one process: same weights, all ranks' batches together,
    no dropout. FSDP must have averaged the ranks' gradients; a plain model on the whole batch
    gets the average directly."""
    reference = from_pretrained(AutoModelForSequenceClassification, LAB.model, "WORKSHOP_MODEL", num_labels=n_labels)
    reference.config.pad_token_id = trainer.model.config.pad_token_id
    parameters = dict(reference.named_parameters())
    assert parameters.keys() == probe.weights.keys(), (
        "the sharded and the plain model name their parameters differently"
    )
    with torch.no_grad():
        for name, value in probe.weights.items():
            parameters[name].copy_(value)
    reference.eval()  # no dropout
    batch = {key: torch.cat([rank_batch[key] for rank_batch in batches]) for key in batches[0]}
    loss = reference(**batch).loss
    loss.backward()
    grads = {name: parameter.grad for name, parameter in parameters.items() if parameter.grad is not None}
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads.values()])).item()

    # Trainer clipped its gradients before on_pre_optimizer_step; undo that with the norm it logged.
    first = next(entry for entry in trainer.state.log_history if entry.get("step") == 1 and "loss" in entry)
    trainer_norm, max_norm = first["grad_norm"], trainer.args.max_grad_norm
    clip = min(1.0, max_norm / (trainer_norm + 1e-6)) if max_norm and max_norm > 0 else 1.0
    assert grads.keys() == probe.grads.keys(), "the sharded and the plain model have gradients for different parameters"
    difference = max((probe.grads[name] / clip - grad).abs().max().item() for name, grad in grads.items())
    largest = max(grad.abs().max().item() for grad in grads.values())
    tolerance = TOLERANCE["cuda" if device.startswith("cuda") else "cpu"]
    relative = difference / largest
    loss_relative = abs(first["loss"] - loss.item()) / abs(loss.item())
    distinct = len({tuple(rank_batch["input_ids"].flatten().tolist()) for rank_batch in batches}) == len(batches)
    return {
        "what": "Trainer's first optimizer step (dropout off) vs. the same step in one process on the "
        "concatenated batches of all ranks, same weights",
        "global_batch": int(batch["labels"].shape[0]),
        "per_rank_batch": [int(rank_batch["labels"].shape[0]) for rank_batch in batches],
        # data parallel: each rank trained on its own examples, not on copies of one batch
        "ranks_saw_different_examples": distinct,
        "loss_fsdp": first["loss"],
        "loss_reference": loss.item(),
        "loss_relative_difference": loss_relative,
        "grad_norm_fsdp": trainer_norm,
        "grad_norm_reference": norm,
        "grad_max_abs_difference": difference,
        "grad_max_abs_reference": largest,
        "grad_relative_difference": relative,
        "tolerance": tolerance,
        "passed": distinct and relative <= tolerance and loss_relative <= tolerance,
    }


def shard_shapes(model: torch.nn.Module, names: list[str]) -> dict[str, dict]:
    from torch.distributed.tensor import DTensor

    parameters = dict(unwrap(model).named_parameters())
    shapes = {}
    for name in names:
        parameter = parameters[name]
        local = parameter.to_local() if isinstance(parameter, DTensor) else parameter
        shapes[name] = {
            "full_shape": list(parameter.shape),
            "local_shape": list(local.shape),
            "placement": [str(p) for p in parameter.placements] if isinstance(parameter, DTensor) else None,
        }
    return shapes


def sample_parameters(model: torch.nn.Module) -> list[str]:
    """A few parameters worth looking at: the input embeddings, the first layer's first weight, the last one."""
    model = unwrap(model)
    names = [name for name, _ in model.named_parameters()]
    embedding = model.get_input_embeddings().weight
    chosen = [name for name, parameter in model.named_parameters() if parameter is embedding][:1]
    layers = layer_names(model)
    in_layers = [name for name in names if layers and name.startswith(layers[-1] + ".") and name.endswith("weight")]
    return chosen + in_layers[:1] + names[-1:]


def sharded_by(trainer: Trainer, wrapper: str, requested: dict, world_size: int) -> str | None:
    """Who sharded the model, read from what ran: accelerate's plugin, from_pretrained, or nobody (None)."""
    if wrapper not in ("FSDP2", "FSDP"):
        return None
    if trainer.is_fsdp_enabled:
        return "accelerate FSDP plugin (TrainingArguments fsdp=True, fsdp/fsdp.yaml)"
    if requested["sharded_at_load"]:
        return f"from_pretrained(distributed_config=DistributedConfig(fsdp_size={world_size}, fsdp_plan=...))"
    return None


def write_report(trainer: Trainer, probe: FirstStepProbe, steps: int, output_dir: Path, requested: dict) -> None:
    """Gather every rank's shards and first batch, redo the first step on rank 0 and write fsdp_report.json there.
    A collective: every rank calls it after train()."""
    model = trainer.model_wrapped
    local, full = parameter_counts(model)
    world_size = dist.get_world_size() if dist.is_initialized() else 1
    rank = dist.get_rank() if dist.is_initialized() else 0
    watched = sample_parameters(model)
    mine = {"rank": rank, "local_elements": local, "full_elements": full, "shards": shard_shapes(model, watched)}
    ranks, batches = [None] * world_size, [None] * world_size
    if dist.is_initialized():
        dist.all_gather_object(ranks, mine)
        dist.all_gather_object(batches, probe.batch)
    else:
        ranks, batches = [mine], [probe.batch]
    if rank != 0:
        return
    device = str(trainer.args.device)
    wrapper = classify(model)
    n_labels = trainer.model.config.num_labels
    report = {
        "wrapper": wrapper,
        "wrapper_chain": wrapper_chain(model),
        "world_size": world_size,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "device": device,
        # TrainingArguments(fsdp=...): True only where accelerate's FSDP plugin was asked to shard the model
        "fsdp_requested": trainer.args.fsdp,
        "requested": requested,
        "ran": {"wrapper": wrapper, "accelerate_fsdp_plugin": trainer.is_fsdp_enabled},
        "sharded_by": sharded_by(trainer, wrapper, requested, world_size),
        "fsdp_plan": requested["fsdp_plan"],
        "torch_compile": trainer.args.torch_compile,
        "global_step": steps,
        "losses": [entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
        "ranks": [{key: entry[key] for key in ("rank", "local_elements", "full_elements")} for entry in ranks],
        "parameters": [
            {
                "name": name,
                "full_shape": ranks[0]["shards"][name]["full_shape"],
                "placement": ranks[0]["shards"][name]["placement"],
                "local_shapes": [entry["shards"][name]["local_shape"] for entry in ranks],
            }
            for name in watched
        ],
        "gradient_check": gradient_check(probe, batches, trainer, n_labels, device),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "fsdp_report.json").write_text(json.dumps(report, indent=2))
    summary = {key: report[key] for key in ("wrapper", "world_size", "backend", "device")}
    summary["gradient_check_passed"] = report["gradient_check"]["passed"]
    print(json.dumps(summary))
