"""Lab 1 Task C: FSDP2 with Trainer, so that each process holds only a shard of the model.

Several GPUs (one process per GPU, NCCL): accelerate's FSDP plugin shards the model when
Trainer prepares it (`fsdp=True` and `fsdp_config` in TrainingArguments: Trainer's plugin takes
these over fsdp/fsdp.yaml's FSDP settings; the yaml supplies the launch):

    accelerate launch --config_file fsdp/fsdp.yaml --num_processes N fsdp/train_fsdp.py --output-dir out/fsdp

No GPU, or only one: two CPU processes talking over gloo. accelerate 1.15 has no FSDP on CPU
(it would wrap DDP), so transformers shards the model while loading it,
`from_pretrained(..., distributed_config=DistributedConfig(fsdp_size=2, fsdp_plan=...))`,
with the same FSDP2 `fully_shard`, and Trainer trains the already-sharded model:

    CUDA_VISIBLE_DEVICES= ACCELERATE_USE_CPU=true accelerate launch --config_file fsdp/fsdp.yaml \
        --num_processes 2 fsdp/train_fsdp.py --output-dir out/fsdp

Either way the script trains with gradient checkpointing and `torch_compile=True`, then writes
OUTPUT_DIR/fsdp_report.json: which wrapper Trainer really used (FSDP2, FSDP, DDP or none), the
world size, how many parameter elements each rank holds (and the shard shapes of a few named
parameters), and a gradient check: Trainer's first optimizer step, redone in one process on
the same global batch and weights, must give the same loss and gradients.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from workshop import LAB
from workshop.data import from_pretrained, load_sentiment, num_labels

# Steps per process: FSDP's point here is what gets sharded, not a converged model.
MAX_STEPS = {"smoke": 10, "workshop": 60, "full": -1}
PER_DEVICE_BATCH = 2
# Largest |FSDP gradient - one-process gradient| allowed, relative to the largest gradient entry.
# fp32 on CPU agrees to about 1e-6; CUDA matmuls may use TF32 (accelerate enables it with
# torch_compile), so GPUs get more room. A gradient summed instead of averaged over 2 ranks is off by 1.0.
TOLERANCE = {"cpu": 1e-3, "cuda": 2e-2}


def require_c_compiler() -> None:
    """torch_compile=True makes Inductor (and Triton) build kernels with a C compiler."""
    if not any(shutil.which(name) for name in ("cc", "gcc", "clang")):
        raise SystemExit(
            "torch_compile=True needs a C compiler (Inductor/Triton compile kernels at run time), "
            "and none was found on PATH. Install gcc in the image, or set torch_compile=False."
        )


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
    assert parameters.keys() == probe.weights.keys(), "the sharded and the plain model name their parameters differently"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default=LAB.out("fsdp"))
    output_dir = Path(parser.parse_args().output_dir)
    require_c_compiler()

    on_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or not torch.cuda.is_available()
    if on_cpu and torch._C._get_accelerator().type != "cpu":
        # from_pretrained(distributed_config=...) builds its mesh on the accelerator it finds
        raise SystemExit("The CPU run must not see a GPU: launch it with CUDA_VISIBLE_DEVICES= (empty).")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))

    tokenizer = from_pretrained(AutoTokenizer, LAB.model, "WORKSHOP_MODEL")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = load_sentiment()
    # Fixed-length batches: one compiled graph instead of a recompile per sequence length.
    tokenized = data.map(
        lambda batch: tokenizer(batch["text"], truncation=True, padding="max_length", max_length=LAB.size.max_length),
        batched=True,
    )
    n_labels = num_labels(data)

    fsdp_args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=PER_DEVICE_BATCH,
        num_train_epochs=1,
        max_steps=MAX_STEPS[LAB.size.name],
        # GPUs: the seed's fsdp="full_shard", which v5 spells fsdp=True plus reshard_after_forward
        # (free the gathered weights after each forward). On CPU accelerate ignores it, so it is not set.
        fsdp=not on_cpu,
        fsdp_config={"reshard_after_forward": True} if not on_cpu else None,
        gradient_checkpointing=True,
        torch_compile=True,
        logging_steps=5,
        logging_first_step=True,  # the gradient check reads step 1's loss and grad_norm
        save_strategy="no",
        seed=LAB.seed,
    )

    set_seed(LAB.seed)  # the classifier head is new: the same seed gives it the same start every run
    if on_cpu:
        from transformers.distributed import DistributedConfig

        config = AutoConfig.from_pretrained(LAB.model, num_labels=n_labels)
        plan = fsdp_plan(config)
        distributed = DistributedConfig(fsdp_size=world_size, fsdp_plan=plan)
        model, loading = from_pretrained(
            AutoModelForSequenceClassification,
            LAB.model,
            "WORKSHOP_MODEL",
            num_labels=n_labels,
            distributed_config=distributed,
            output_loading_info=True,
        )
        initialise_like_one_process(model, loading["missing_keys"], n_labels)
        sharded_by = f"from_pretrained(distributed_config=DistributedConfig(fsdp_size={world_size}, fsdp_plan=...))"
    else:
        plan = None
        model = from_pretrained(AutoModelForSequenceClassification, LAB.model, "WORKSHOP_MODEL", num_labels=n_labels)
        sharded_by = "accelerate FSDP plugin (TrainingArguments fsdp=True, fsdp/fsdp.yaml)"
    model.config.pad_token_id = tokenizer.pad_token_id
    # The classifier's loss is a mean over its own batch and ignores num_items_in_batch, but its
    # forward takes **kwargs, so Trainer would assume it does not and multiply the loss by the
    # number of processes (average_tokens_across_devices): gradients and logged loss N times too big.
    model.accepts_loss_kwargs = False

    probe = FirstStepProbe(DataCollatorWithPadding(tokenizer))
    trainer = Trainer(
        model=model,
        args=fsdp_args,
        train_dataset=tokenized["train"],
        processing_class=tokenizer,
        data_collator=probe,
        callbacks=[probe],
    )
    result = trainer.train()

    local, full = parameter_counts(trainer.model_wrapped)
    world_size = dist.get_world_size() if dist.is_initialized() else 1
    rank = dist.get_rank() if dist.is_initialized() else 0
    watched = sample_parameters(trainer.model_wrapped)
    mine = {"rank": rank, "local_elements": local, "full_elements": full, "shards": shard_shapes(trainer.model_wrapped, watched)}
    ranks, batches = [None] * world_size, [None] * world_size
    if dist.is_initialized():
        dist.all_gather_object(ranks, mine)
        dist.all_gather_object(batches, probe.batch)
    else:
        ranks, batches = [mine], [probe.batch]
    if rank == 0:
        device = str(trainer.args.device)
        report = {
            "wrapper": classify(trainer.model_wrapped),
            "wrapper_chain": wrapper_chain(trainer.model_wrapped),
            "world_size": world_size,
            "backend": dist.get_backend() if dist.is_initialized() else None,
            "device": device,
            "fsdp_requested": True,
            "sharded_by": sharded_by,
            "fsdp_plan": plan,
            "torch_compile": trainer.args.torch_compile,
            "global_step": result.global_step,
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
        summary = {k: report[k] for k in ("wrapper", "world_size", "backend", "device")}
        summary["gradient_check_passed"] = report["gradient_check"]["passed"]
        print(json.dumps(summary))
    # Close the process group before exiting: a rank that exits with gloo's group still open
    # can abort ("terminate called without an active exception"), failing the launch.
    trainer.accelerator.end_training()


if __name__ == "__main__":
    main()
