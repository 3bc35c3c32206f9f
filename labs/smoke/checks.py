"""What each lab task was meant to show, checked inside the lab's kernel after its cells ran.

The harness calls ``run_check(task_id, namespace, stdout)`` in the kernel; each check reads
the notebook's variables and printed output. A check raises AssertionError (FAIL), raises
Skip (SKIPPED, with the reason), or returns a one-line summary of what it verified (PASS).
Checks live here, not in the students' notebooks.
"""

from __future__ import annotations

import json
import math
import os
import re
import traceback
from contextlib import contextmanager
from typing import Callable

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


# ---- helpers -------------------------------------------------------------------------------


def need(namespace: Namespace, *names: str):
    missing = [name for name in names if name not in namespace]
    assert not missing, f"the notebook defined no {', '.join(missing)}"
    values = [namespace[name] for name in names]
    return values[0] if len(values) == 1 else values


def logged(trainer, key: str) -> list[tuple[int, float]]:
    return [(entry["step"], entry[key]) for entry in trainer.state.log_history if key in entry]


def expected_steps(trainer) -> int:
    args = trainer.args
    batches = math.ceil(len(trainer.train_dataset) / (args.per_device_train_batch_size * max(args.world_size, 1)))
    return math.ceil(batches / args.gradient_accumulation_steps) * int(args.num_train_epochs)


LEARNING_SAMPLE = 192  # training examples the learning check scores
MIN_GAIN = 0.05  # nats beyond what an untrained model reaches: smaller is not a lesson anyone can see


@contextmanager
def evaluating(model):
    """Eval mode (no dropout) and no gradients while scoring; the model's mode is restored after.
    Yields the device its parameters are on."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield next(model.parameters()).device
    finally:
        model.train(was_training)


def fitted_loss(model, dataset, tokenizer, limit: int = LEARNING_SAMPLE) -> tuple[list[float], list[int]]:
    """Per-example cross-entropy of a classifier on the first `limit` examples, and their labels."""
    import torch.nn.functional as F
    from transformers import DataCollatorWithPadding

    inputs = [c for c in ("input_ids", "attention_mask", "token_type_ids", "labels") if c in dataset.column_names]
    rows = dataset.select(range(min(limit, len(dataset)))).select_columns(inputs)
    collate = DataCollatorWithPadding(tokenizer)
    losses: list[float] = []
    labels: list[int] = []
    with evaluating(model) as device:
        for start in range(0, len(rows), 32):
            batch = collate([rows[i] for i in range(start, min(start + 32, len(rows)))])
            batch = {k: v.to(device) for k, v in batch.items()}
            target = batch.pop("labels")
            logits = model(**batch).logits.float()
            losses += F.cross_entropy(logits, target, reduction="none").tolist()
            labels += target.tolist()
    return losses, labels


def blind_loss(labels: list[int], weight: dict[int, float]) -> float:
    """The lowest mean loss any model that ignores its input can reach on these labels, drawn
    with these class weights: the entropy of the weighted label distribution."""
    totals = {label: weight.get(label, 1.0) * labels.count(label) for label in set(labels)}
    mass = sum(totals.values())
    return -sum(t / mass * math.log(t / mass) for t in totals.values())


_UNTRAINED: dict[int, list[float]] = {}


def untrained_losses(ns: Namespace) -> list[float]:
    """fitted_loss of a fresh model_init() model: what a run that learned nothing scores
    (measured once per kernel; the global RNG is left as it was)."""
    import torch

    dataset = need(ns, "train_ds")
    if id(dataset) not in _UNTRAINED:
        with torch.random.fork_rng():
            model = need(ns, "model_init")()
        _UNTRAINED[id(dataset)] = fitted_loss(model, dataset, need(ns, "tokenizer"))[0]
    return _UNTRAINED[id(dataset)]


def assert_learned(trainer, name: str, ns: Namespace, class_weight: dict[int, float] | None = None) -> str:
    """The run went through every planned step and learned from its input, beyond noise.

    On the training examples it was fitted to (weighted as its sampler drew them), no model
    that ignores its input can score below the entropy of the labels, and an untrained one
    scores about there (a random head's chance fit to the labels is all it gains). The
    trained model must beat the entropy by MIN_GAIN more than the untrained model does.
    """
    steps = expected_steps(trainer)
    assert trainer.state.global_step == steps, f"{name} ran {trainer.state.global_step} steps, expected {steps}"
    losses, labels = fitted_loss(trainer.model, need(ns, "train_ds"), need(ns, "tokenizer"))
    weight = class_weight or {}
    weights = [weight.get(label, 1.0) for label in labels]

    def mean(values: list[float]) -> float:
        return sum(w * x for w, x in zip(weights, values)) / sum(weights)

    blind, trained, untrained = blind_loss(labels, weight), mean(losses), mean(untrained_losses(ns))
    bar = blind - MIN_GAIN - max(0.0, blind - untrained)
    assert trained <= bar, (
        f"{name} did not learn: its loss on {len(losses)} training examples is {trained:.3f}, not below {bar:.3f} "
        f"(the input-blind loss {blind:.3f}, an untrained model's {untrained:.3f}, and a margin of {MIN_GAIN})"
    )
    return f"{steps} steps, fitted loss {trained:.3f} (input-blind {blind:.3f}, untrained {untrained:.3f})"


def unwrap_optimizer(optimizer):
    return getattr(optimizer, "optimizer", optimizer)


def printed(stdout: str, pattern: str) -> list[re.Match]:
    return list(re.finditer(pattern, stdout, re.MULTILINE))


def assert_printed_logs(stdout: str, trainer, key: str) -> str:
    """The callback printed one `step=N key=V` line per logged value, with the logged values."""
    lines = {int(m["step"]): float(m["value"]) for m in printed(stdout, rf"^step=(?P<step>\d+) {key}=(?P<value>[-\d.e]+)$")}
    values = dict(logged(trainer, key))
    assert values, f"Trainer logged no {key}"
    assert sorted(lines) == sorted(values), f"callback printed {key} for steps {sorted(lines)}, Trainer logged {sorted(values)}"
    for step, value in values.items():
        assert abs(lines[step] - value) < 1e-3 + 1e-3 * abs(value), f"step {step}: printed {key} {lines[step]} != logged {value}"
    return f"callback printed {len(lines)} {key} lines matching the log"


def assert_rng_restored(first, second) -> None:
    import torch

    assert torch.equal(first, second), "draws after restoring the RNG state differ from the draws after saving it"


# ---- shared setup -------------------------------------------------------------------------


@check("SETUP")
def setup(ns, _):
    tokenized, model_init, base_args = need(ns, "tokenized", "model_init", "base_args")
    assert {"train", "eval"} <= set(tokenized), "tokenized needs train and eval splits"
    for split in ("train", "eval"):
        assert len(tokenized[split]) > 0, f"the {split} split is empty"
        assert {"input_ids", "labels", "meta"} <= set(tokenized[split].column_names), f"{split} lacks tokenized columns"
    model = model_init()
    assert model.config.num_labels == ns["NUM_LABELS"], "model_init built a head with the wrong number of labels"
    return f"{len(tokenized['train'])} train / {len(tokenized['eval'])} eval examples, model {type(model).__name__}"


# ---- Lab 1 ----------------------------------------------------------------------------------


@check("1A")
def basic_run(ns, _):
    trainer, before, after = need(ns, "trainer", "before", "after")
    summary = assert_learned(trainer, "trainer", ns)
    # Held-out improvement is 4A's check (accuracy); a tiny random-weight model may not
    # improve its eval loss in one short smoke epoch, so here it is reported, not asserted.
    assert math.isfinite(after["eval_loss"]), f"eval loss is {after['eval_loss']}"
    return f"{summary}; eval loss {before['eval_loss']:.3f} -> {after['eval_loss']:.3f}"


@check("1B")
def model_init_pathway(ns, _):
    trainer, model_before, model_init = need(ns, "model_init_trainer", "model_before_train", "model_init")
    assert trainer.model_init is model_init, "the trainer was not given model_init"
    assert trainer.model is not model_before, "train() did not re-create the model through model_init"
    return assert_learned(trainer, "model_init_trainer", ns) + "; train() re-created the model"


@check("1C")
def fsdp(ns, _):
    """FSDP2 really sharded the model across the processes, and the sharded run's first
    gradients are the ones a single process computes on the same global batch."""
    report = need(ns, "fsdp_report")
    world, wrapper, ranks = report["world_size"], report["wrapper"], report["ranks"]
    ran = f"{world} process(es) on {report['device']}, backend {report['backend']}, wrapper chain {' > '.join(report['wrapper_chain'])}"
    assert report["global_step"] > 0, "the FSDP run trained no steps"
    assert report["losses"] and all(math.isfinite(loss) for loss in report["losses"]), f"losses {report['losses']}"
    assert len(ranks) == world, f"report has {len(ranks)} ranks for world size {world}"
    assert wrapper == "FSDP2", (
        f"FSDP2 did not run: the model's parameters are not DTensors, wrapper {wrapper} ({ran}). "
        "On CPU accelerate wraps DDP; the script must shard at load time (DistributedConfig)."
    )
    assert world >= 2, f"FSDP2 ran in one process, so nothing was sharded ({ran}); the notebook launches 2 or more"
    expected_backend = "gloo" if report["device"].startswith("cpu") else "nccl"
    assert report["backend"] == expected_backend, f"backend {report['backend']} on {report['device']} ({ran})"

    # Every rank holds a strict part of the model, and the parts add up to it exactly
    # (to_local() is the unpadded shard: a replicated tensor would push the sum over).
    full = ranks[0]["full_elements"]
    held = [rank["local_elements"] for rank in ranks]
    assert all(rank["full_elements"] == full for rank in ranks), f"ranks disagree on the model size: {ranks}"
    assert all(h < full for h in held), f"{wrapper} ran but a rank holds the whole model ({held} of {full})"
    assert sum(held) == full, f"shards {held} add up to {sum(held)}, not the model's {full} elements"
    shown = report["parameters"]
    assert len(shown) >= 2, "the report names fewer than 2 parameters with their shard shapes"
    for parameter in shown:
        shape, local_shapes = parameter["full_shape"], parameter["local_shapes"]
        assert len(local_shapes) == world, f"{parameter['name']}: {len(local_shapes)} shard shapes for {world} ranks"
        assert all(local[1:] == shape[1:] for local in local_shapes), f"{parameter['name']}: shards {local_shapes} of {shape}"
        assert sum(local[0] for local in local_shapes) == shape[0], f"{parameter['name']}: shards {local_shapes} of {shape}"
        if shape[0] >= world:
            assert all(local[0] < shape[0] for local in local_shapes), f"{parameter['name']} is not split: {local_shapes} of {shape}"

    # Trainer's first step equals the same step in one process: a mean over the ranks, not a sum.
    first = report["gradient_check"]
    tolerance = first["tolerance"]
    assert 0 < tolerance <= 0.05, f"gradient tolerance {tolerance} is too loose to tell a mean from a sum"
    assert len(first["per_rank_batch"]) == world and min(first["per_rank_batch"]) > 0, first["per_rank_batch"]
    assert first["global_batch"] == sum(first["per_rank_batch"]), "the reference did not see every rank's batch"
    assert first["ranks_saw_different_examples"], "the ranks trained on copies of one batch, not on their own examples"
    ratio = first["grad_norm_fsdp"] / first["grad_norm_reference"]
    assert abs(ratio - 1) <= tolerance, (
        f"the first step's gradient norm is {ratio:.3f}x the one-process norm on the same batch "
        f"({float(world):.3f}x would be a sum over the ranks instead of a mean)"
    )
    relative = first["grad_max_abs_difference"] / first["grad_max_abs_reference"]
    assert relative <= tolerance, (
        f"the first step's gradients differ from the one-process ones by {relative:.2e} of the largest gradient (tolerance {tolerance})"
    )
    loss_gap = abs(first["loss_fsdp"] - first["loss_reference"]) / abs(first["loss_reference"])
    assert loss_gap <= tolerance, (
        f"Trainer logged a first-step loss of {first['loss_fsdp']:.4f}, one process computes {first['loss_reference']:.4f} on the same batch and weights"
    )
    shards = ", ".join(f"{p['name']} {p['full_shape']} -> {p['local_shapes']}" for p in shown[:2])
    return (f"FSDP2 sharded the model over {world} ranks ({ran}): ranks hold {held} of {full} elements; {shards}; "
            f"first-step gradients match one process within {relative:.1e} (tolerance {tolerance}), grad norm ratio {ratio:.6f}")


@check("1D")
def custom_collator(ns, _):
    trainer, train_ds = need(ns, "collator_trainer", "train_ds")
    summary = assert_learned(trainer, "collator_trainer", ns)
    seen = trainer.seen_meta
    assert len(seen) == len(train_ds), f"meta arrived for {len(seen)} of {len(train_ds)} examples"
    expected = sorted(train_ds["meta"])
    assert all(abs(a - b) < 1e-5 for a, b in zip(sorted(seen), expected)), "the meta values in the batches are not the dataset's"
    return f"{summary}; the collator delivered meta for all {len(seen)} examples"


@check("1E")
def custom_dataloader(ns, stdout):
    trainer, train_ds = need(ns, "weighted_trainer", "train_ds")
    import torch

    labels = torch.tensor(train_ds["labels"])
    base_share = float((labels == 0).float().mean())
    # Expected negative share with 5:1 weights: 5n / (5n + p).
    expected = 5 * base_share / (5 * base_share + (1 - base_share))
    shares = [float(m["share"]) for m in printed(stdout, r"sampled=(?P<share>[\d.]+)")]
    assert shares, "the task printed no sampled share"
    assert abs(shares[-1] - expected) < 0.12, f"sampled negative share {shares[-1]:.2f}, expected about {expected:.2f}"
    # Judged on the distribution it was trained on: negatives drawn 5 times as often.
    learned = assert_learned(trainer, "weighted_trainer", ns, class_weight={0: 5.0, 1: 1.0})
    return f"{learned}; negatives oversampled {base_share:.2f} -> {shares[-1]:.2f}"


# ---- Lab 2 ----------------------------------------------------------------------------------


@check("2A")
def adafactor(ns, _):
    trainer = need(ns, "adafactor_trainer")
    optimizer = type(unwrap_optimizer(trainer.optimizer)).__name__
    assert optimizer == "Adafactor", f"the optimizer is {optimizer}, not Adafactor"
    rates = [lr for _, lr in logged(trainer, "learning_rate")]
    peak = trainer.args.learning_rate
    assert rates and rates[0] < peak, f"no warmup: first logged learning rate {rates[:1]} vs peak {peak}"
    assert all(abs(lr - peak) < 1e-9 for lr in rates[-2:]), f"learning rate not constant after warmup: {rates[-2:]}"
    return f"Adafactor; {assert_learned(trainer, 'adafactor_trainer', ns)}; warmup to {peak} then constant"


@check("2B")
def injected_optimizer(ns, _):
    trainer, optimizer = need(ns, "trainer_with_optimizer", "optimizer")
    assert unwrap_optimizer(trainer.optimizer) is optimizer, "Trainer did not use the injected optimizer"
    assert all(group["weight_decay"] == 0.01 for group in optimizer.param_groups), "weight decay changed"
    return f"the injected AdamW ran; {assert_learned(trainer, 'trainer_with_optimizer', ns)}"


@check("2C")
def manual_optimizer_scheduler(ns, _):
    trainer, optimizer, scheduler, steps = need(ns, "manual_trainer", "manual_optimizer", "manual_scheduler", "num_training_steps")
    own_trainer, own_scheduler = need(ns, "own_trainer", "own_scheduler")
    assert steps == expected_steps(trainer), f"planned {steps} steps, the epoch has {expected_steps(trainer)}"
    assert unwrap_optimizer(trainer.optimizer) is unwrap_optimizer(optimizer), "train() replaced the optimizer made before it"
    # The lesson: a scheduler from create_scheduler is Trainer's own and is rebuilt at train().
    assert trainer.lr_scheduler is not scheduler, (
        "train() kept the scheduler create_optimizer_and_scheduler made; 2C teaches that "
        "_prepare_for_training replaces it: the lesson is now false, update the notebook"
    )
    rates = [lr for _, lr in logged(trainer, "learning_rate")]
    assert rates[-1] < 0.25 * rates[0], f"the rebuilt linear schedule did not decay ({rates[0]:.2e} -> {rates[-1]:.2e})"
    # ... and one passed in optimizers=(optimizer, scheduler) is kept.
    assert own_trainer.lr_scheduler is own_scheduler, "train() replaced the scheduler passed in optimizers=(optimizer, scheduler)"
    own_rates = [lr for _, lr in logged(own_trainer, "learning_rate")]
    peak = own_trainer.args.learning_rate
    assert own_rates and all(math.isclose(lr, peak) for lr in own_rates), (
        f"the passed-in constant schedule did not run: learning rates {own_rates[0]:.2e} .. {own_rates[-1]:.2e}, expected {peak:.2e} throughout"
    )
    learned = assert_learned(trainer, "manual_trainer", ns)
    assert_learned(own_trainer, "own_trainer", ns)
    return (f"optimizer kept, create_scheduler's scheduler replaced at train() (lr {rates[0]:.1e} -> {rates[-1]:.1e}); "
            f"the one passed in optimizers= kept (constant {peak:.0e}); {learned}")


@check("2D")
def cosine(ns, _):
    trainer, seed_scheduler = need(ns, "cosine_trainer", "seed_scheduler")
    assert trainer.lr_scheduler is not seed_scheduler, (
        "train() kept the 1000-step scheduler built before it; 2D teaches that train() replaces it: update the notebook"
    )
    scheduler = trainer.lr_scheduler
    name = getattr(getattr(scheduler, "lr_lambdas", [None])[0], "func", None)
    name = getattr(name, "__name__", type(scheduler).__name__)
    assert "cosine" in name, f"the scheduler is {name}, not cosine"
    rates = dict(logged(trainer, "learning_rate"))
    peak_step = max(rates, key=rates.get)
    warmup = trainer.args.warmup_steps
    assert peak_step <= warmup + trainer.args.logging_steps, f"learning rate peaked at step {peak_step}, after the {warmup}-step warmup"
    final = rates[max(rates)]
    assert final < 0.1 * rates[peak_step], (
        f"cosine did not come down: peak {rates[peak_step]:.2e}, last {final:.2e} (a schedule sized for more steps than ran?)"
    )
    return f"1000-step scheduler replaced; cosine ({name}): peak {rates[peak_step]:.1e} at step {peak_step}, {final:.1e} at the end"


def accumulation_scale(trainer) -> float:
    """What Trainer multiplies a micro-batch's loss by before backward (1/accumulation steps, or 1),
    measured: one training_step against a plain forward with the same dropout masks."""
    import torch

    model = trainer.model
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    items = torch.tensor(int((batch["labels"] != -100).sum()))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model.train()
        with torch.no_grad():
            plain = float(model(**batch).loss)
        torch.manual_seed(0)
        stepped = float(trainer.training_step(model, dict(batch), num_items_in_batch=items))
    model.zero_grad()
    return stepped / plain


@check("2E")
def clipping(ns, stdout):
    trainer, recorder = need(ns, "clip_trainer", "clipped_norms")
    args = trainer.args
    assert args.max_grad_norm == 0.5 and args.gradient_accumulation_steps == 2, "clip at 0.5 with 2 accumulation steps"
    summary = assert_learned(trainer, "clip_trainer", ns)
    stepped = {entry["step"]: entry["grad_norm"] for entry in recorder.history}
    assert sorted(stepped) == list(range(1, trainer.state.global_step + 1)), "the recorder did not see every optimizer step"
    largest = max(stepped.values())
    assert largest <= 0.5 * (1 + 1e-3), f"the optimizer stepped with a gradient norm of {largest:.3f}, above max_grad_norm 0.5"
    logged_norms = dict(logged(trainer, "grad_norm"))
    clipped = [step for step, norm in logged_norms.items() if norm > 0.5]
    assert clipped, f"no logged gradient norm exceeded 0.5 ({logged_norms}): nothing was clipped to show"
    for step, norm in logged_norms.items():
        # Logged is before clipping: above 0.5 it was scaled to 0.5, below it was left alone.
        expected = min(norm, 0.5)
        assert math.isclose(stepped[step], expected, rel_tol=1e-2), (
            f"step {step}: logged (pre-clip) norm {norm:.3f}, stepped with {stepped[step]:.3f}, expected {expected:.3f}"
        )
    divides = not trainer.model_accepts_loss_kwargs
    assert re.search(rf"divides each micro-batch's loss by the accumulation steps: {divides}$", stdout, re.MULTILINE), (
        f"the notebook did not print whether Trainer divides the loss ({divides})"
    )
    scale = accumulation_scale(trainer)
    expected_scale = 1 / args.gradient_accumulation_steps if divides else 1.0
    assert math.isclose(scale, expected_scale, rel_tol=1e-3), (
        f"Trainer scaled a micro-batch's loss by {scale:.3f} before backward; the notebook says {expected_scale:.3f}"
    )
    return (f"{summary}; loss scaled by {scale:.2f} per micro-batch; logged norms up to {max(logged_norms.values()):.2f} (before clipping), every step taken "
            f"with norm <= 0.5; {assert_printed_logs(stdout, trainer, 'grad_norm')}")


# ---- Lab 3 ----------------------------------------------------------------------------------


@check("3A")
def resume(ns, _):
    import torch

    trainer, first_run, resumed_run, checkpoint, recorder = need(ns, "resume_trainer", "first_run", "resumed_run", "checkpoint", "resumed_steps")
    resumed_from = int(checkpoint.rsplit("-", 1)[1])
    for name in ("trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        assert os.path.exists(os.path.join(checkpoint, name)), f"{os.path.basename(checkpoint)} has no {name}"
    with open(os.path.join(checkpoint, "trainer_state.json")) as handle:
        assert json.load(handle)["global_step"] == resumed_from, f"{checkpoint} does not record step {resumed_from}"
    kept = [name for name in os.listdir(trainer.args.output_dir) if name.startswith("checkpoint-")]
    assert len(kept) <= 2, f"save_total_limit=2, but {len(kept)} checkpoints are on disk: {sorted(kept)}"
    total = expected_steps(trainer)
    assert trainer.state.global_step == total, "the resumed run did not finish the epoch"
    assert recorder.steps == list(range(resumed_from + 1, total + 1)), (
        f"the resumed run trained steps {recorder.steps[:1]}..{recorder.steps[-1:]}, expected only {resumed_from + 1}..{total}"
    )
    first = {entry["step"]: entry["loss"] for entry in first_run if "loss" in entry}
    resumed = {entry["step"]: entry["loss"] for entry in resumed_run if "loss" in entry}
    assert resumed, "the resumed run logged no loss"
    # Same weights, optimizer, data position and dropout RNG: a CPU repeats the losses to
    # rounding; GPU kernels are not bit-for-bit deterministic.
    tolerance = 1e-3 if torch.cuda.is_available() else 1e-5
    worst = max(abs(loss - first[step]) / abs(first[step]) for step, loss in resumed.items())
    assert worst <= tolerance, (
        "resumed losses differ from the first run: "
        + ", ".join(f"step {step}: {first[step]:.6f} vs {loss:.6f}" for step, loss in resumed.items())
        + f" (largest relative difference {worst:.1e}, tolerance {tolerance:.0e})"
    )
    return (f"resumed from checkpoint-{resumed_from}, trained only steps {resumed_from + 1}..{total}; losses at steps "
            f"{sorted(resumed)} match the first run to {worst:.1e} (relative)")


@check("3B")
def custom_loss(ns, _):
    import torch
    import torch.nn.functional as F

    trainer = need(ns, "aux_trainer")
    summary = assert_learned(trainer, "aux_trainer", ns)
    model = trainer.model.eval()  # no dropout: both losses see the same forward pass
    batch = next(iter(trainer.get_train_dataloader()))
    batch = trainer._prepare_inputs(batch)
    with torch.no_grad():
        custom = float(trainer.compute_loss(model, dict(batch)))
        outputs = model(**batch)
        probs = F.softmax(outputs.logits, dim=-1)
        entropy = float(-(probs * probs.clamp_min(1e-9).log()).sum(dim=-1).mean())
    plain = float(outputs.loss)
    assert entropy > 1e-6, "the model's predictions have no entropy to penalise"
    assert math.isclose(custom - plain, 0.01 * entropy, rel_tol=1e-3, abs_tol=1e-6), (
        f"custom loss {custom:.6f} - plain loss {plain:.6f} = {custom - plain:.6f}, expected 0.01 x entropy = {0.01 * entropy:.6f}"
    )
    return f"{summary}; custom - plain loss = 0.01 x entropy ({custom - plain:.2e})"


@check("3C")
def manual_training_step(ns, _):
    trainer = need(ns, "manual_trainer")
    summary = assert_learned(trainer, "manual_trainer", ns)
    calls = trainer.manual_steps
    expected = trainer.state.global_step * trainer.args.gradient_accumulation_steps
    assert calls == expected, f"the overridden training_step ran {calls} times for {expected} micro-batches"
    return f"{summary}; the override ran {calls} times"


@check("3D")
def logging_hook(ns, stdout):
    trainer = need(ns, "callback_trainer")
    return f"{assert_learned(trainer, 'callback_trainer', ns)}; {assert_printed_logs(stdout, trainer, 'loss')}"


# ---- Lab 4 ----------------------------------------------------------------------------------


@check("4A")
def evaluation_metrics(ns, _):
    before, after, eval_ds = need(ns, "metrics_before", "validation_metrics", "eval_ds")
    assert "validation_accuracy" in after, f"no validation_accuracy in {sorted(after)}"
    labels = list(eval_ds["labels"])
    majority = max(labels.count(label) for label in set(labels)) / len(labels)
    baseline = max(before["validation_accuracy"], majority)
    accuracy = after["validation_accuracy"]
    # Two standard errors of an accuracy on this many held-out examples, and at least 5 points.
    margin = max(0.05, 2 * (accuracy * (1 - accuracy) / len(labels)) ** 0.5)
    assert accuracy >= baseline + margin, (
        f"held-out accuracy {before['validation_accuracy']:.3f} -> {accuracy:.3f} on {len(labels)} examples: not above the "
        f"better of the untrained model and the majority class ({baseline:.3f}) by the margin {margin:.3f}"
    )
    return f"held-out accuracy {before['validation_accuracy']:.3f} -> {accuracy:.3f} (majority class {majority:.3f}, margin {margin:.3f})"


@check("4B")
def prediction_api(ns, _):
    output, eval_ds, metrics = need(ns, "prediction_output", "eval_ds", "validation_metrics")
    assert output.predictions.shape == (len(eval_ds), ns["NUM_LABELS"]), f"predictions shape {output.predictions.shape}"
    assert (output.label_ids == eval_ds["labels"]).all(), "label_ids are not the evaluation labels"
    accuracy = float((output.predictions.argmax(-1) == output.label_ids).mean())
    assert math.isclose(output.metrics["test_accuracy"], accuracy, abs_tol=1e-6), "test_accuracy disagrees with the predictions"
    assert math.isclose(accuracy, metrics["validation_accuracy"], abs_tol=1e-6), "predict and evaluate disagree on the same data"
    return f"{len(eval_ds)} predictions, test_accuracy {accuracy:.3f} = validation accuracy"


@check("4C")
def softmax_prediction_step(ns, _):
    import numpy as np

    probs = np.asarray(need(ns, "probs"))
    assert probs.ndim == 2 and len(probs) == len(ns["eval_ds"]), f"probabilities shape {probs.shape}"
    assert np.allclose(probs.sum(-1), 1.0, atol=1e-4), "rows do not sum to 1"
    assert (probs >= 0).all() and (probs <= 1).all(), "probabilities outside [0, 1]"
    return f"{len(probs)} rows of probabilities, each summing to 1"


@check("4D")
def loss_only(ns, _):
    metrics, predictions = need(ns, "loss_only_metrics", "loss_only_predictions")
    assert "eval_loss" in metrics and math.isfinite(metrics["eval_loss"]), f"no finite eval_loss in {metrics}"
    assert predictions.predictions is None and predictions.label_ids is None, "logits were gathered despite prediction_loss_only"
    return f"eval_loss {metrics['eval_loss']:.3f}; no logits gathered"


@check("4E")
def evaluation_loop(ns, _):
    from transformers import Trainer

    output, eval_ds = need(ns, "legacy_output", "eval_ds")
    assert not hasattr(Trainer, "prediction_loop"), "prediction_loop exists again: update Lab 4E and the notes"
    assert output.num_samples == len(eval_ds), f"the loop saw {output.num_samples} of {len(eval_ds)} samples"
    assert output.predictions.shape[0] == len(eval_ds), f"predictions shape {output.predictions.shape}"
    assert "legacy-eval_loss" in output.metrics or "eval_loss" in output.metrics, f"no loss in {output.metrics}"
    return f"evaluation_loop returned {output.num_samples} predictions and {sorted(output.metrics)}"


# ---- Lab 5 ----------------------------------------------------------------------------------


@check("5A")
def save_model(ns, _):
    import torch
    from transformers import AutoModelForSequenceClassification

    trainer, lab = need(ns, "save_trainer", "LAB")
    summary = assert_learned(trainer, "save_trainer", ns)
    directory = lab.out("manual-save")
    files = set(os.listdir(directory))
    assert "config.json" in files and any(f.endswith(".safetensors") for f in files), f"no weights/config in {sorted(files)}"
    assert "tokenizer_config.json" in files, "the tokenizer was not saved with the model"
    reloaded = AutoModelForSequenceClassification.from_pretrained(directory)
    saved = trainer.model.state_dict()
    for name, tensor in reloaded.state_dict().items():
        assert torch.equal(tensor.cpu(), saved[name].cpu()), f"reloaded weight {name} differs from the trained one"
    return f"{summary}; the saved model reloads with identical weights"


@check("5B")
def full_state(ns, _):
    trainer, rng_dir = need(ns, "save_trainer", "rng_dir")
    state_file = os.path.join(trainer.args.output_dir, "trainer_state.json")
    with open(state_file) as handle:
        state = json.load(handle)
    assert state["global_step"] == trainer.state.global_step, "trainer_state.json records another step"
    assert os.path.exists(os.path.join(rng_dir, "rng_state.pth")), "no rng_state.pth was written"
    assert_rng_restored(ns["draw_after_save"], ns["draw_after_load"])
    return f"trainer_state.json at step {state['global_step']}; restoring rng_state.pth repeats the draws"


@check("5C")
def push_to_hub(ns, _):
    blocker = need(ns, "hub_blocker")
    if blocker:
        raise Skip(f"push to the Hub not attempted: {blocker}")
    from huggingface_hub import HfApi

    files = HfApi().list_repo_files(ns["hub_repo"])
    assert any(f.endswith(".safetensors") for f in files), f"the Hub repo has no weights: {files}"
    return f"pushed to {ns['hub_repo']}: {len(files)} files"


@check("5D")
def model_card(ns, _):
    from transformers.modelcard import _maybe_round  # how the card writes a metric

    card, lab, metrics, trainer = need(ns, "model_card", "LAB", "card_metrics", "save_trainer")
    assert "# distilbert-demo" in card, "the card does not name the model"
    assert re.search(r"^language:\n- en$", card, re.MULTILINE), "the card's metadata does not declare language en"
    assert lab.dataset in card or os.path.basename(lab.dataset.rstrip("/")) in card, "the card does not name the dataset"
    loss = f"- Loss: {_maybe_round(metrics['eval_loss'])}"
    assert loss in card, f"the card does not carry the evaluation this task ran ({loss!r})"
    for setting in (f"- learning_rate: {trainer.args.learning_rate}", f"- train_batch_size: {trainer.args.per_device_train_batch_size}"):
        assert setting in card, f"the card does not list the training hyperparameter {setting!r}"
    base = "trained from scratch" if os.path.isdir(lab.model) else f"fine-tuned version of [{lab.model}]"
    assert base in card, f"the card does not say {base!r}, as the notebook says it does for this model"
    return f"README.md names the model, dataset and language, the training hyperparameters, the eval loss {metrics['eval_loss']:.4f}, and '{base}'"


# ---- Lab 6 ----------------------------------------------------------------------------------


@check("6A")
def hyperparameter_search(ns, _):
    best_run, study, lab, recorder = need(ns, "best_run", "study", "LAB", "trials")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(study.trials) == lab.size.hp_trials, f"{len(study.trials)} trials ran, {lab.size.hp_trials} requested"
    assert len(complete) == len(study.trials), f"only {len(complete)} of {len(study.trials)} trials completed"
    sampled = [t.params["learning_rate"] for t in study.trials]
    assert len(set(sampled)) == len(sampled), f"trials repeated a learning rate: {sampled}"
    started = recorder.learning_rates
    assert len(started) == len(sampled) and all(math.isclose(a, b) for a, b in zip(started, sampled)), (
        f"the trials' optimizers started at {started}, but Optuna sampled {sampled}"
    )
    best = max(complete, key=lambda t: t.value)
    assert math.isclose(best_run.objective, best.value), f"best_run objective {best_run.objective} is not the best trial's {best.value}"
    assert math.isclose(best_run.hyperparameters["learning_rate"], best.params["learning_rate"]), "best_run has another trial's hyperparameters"
    spread = f"{min(sampled):.1e}..{max(sampled):.1e}"
    return f"{len(complete)} trials trained with learning rates {spread}; best {best.params['learning_rate']:.2e} with accuracy {best.value:.3f}"


@check("6B")
def parameter_count(ns, stdout):
    trainer = need(ns, "param_trainer")
    expected = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    assert trainer.get_num_trainable_parameters() == expected, "get_num_trainable_parameters disagrees with the model"
    assert str(expected) in stdout, "the task did not print the parameter count"
    return f"{expected} trainable parameters, matching the model"


@check("6C")
def effective_batch(ns, stdout):
    trainer, counting, total = need(ns, "param_trainer", "counting_trainer", "total_batch")
    args = trainer.args
    plain = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
    assert re.search(rf"^{plain}$", stdout, re.MULTILINE), f"the task did not print {plain}"
    accumulating = counting.args
    expected = accumulating.per_device_train_batch_size * accumulating.gradient_accumulation_steps * accumulating.world_size
    assert accumulating.gradient_accumulation_steps > 1, "the second run should accumulate gradients"
    assert total == expected, f"get_total_train_batch_size gave {total}, per-device x accumulation x processes is {expected}"
    steps = counting.state.global_step
    assert steps == accumulating.max_steps, f"the counting run took {steps} optimizer steps, expected {accumulating.max_steps}"
    assert counting.examples == total * steps, f"{counting.examples} examples went into {steps} optimizer steps, expected {total} per step"
    return f"total train batch size {plain} here; with accumulation {total}, and {counting.examples} examples fed {steps} optimizer steps"


@check("6D")
def rng_control(ns, _):
    rng_dir = need(ns, "rng_dir")
    assert os.path.exists(os.path.join(rng_dir, "rng_state.pth")), "no rng_state.pth was written"
    assert_rng_restored(ns["first_draw"], ns["second_draw"])
    return "restoring the saved RNG state repeats the draw"


@check("6E")
def barrier(ns, stdout):
    trainer, report = need(ns, "param_trainer", "barrier_report")
    assert "Primary rank finished syncing." in stdout, "the notebook's process zero did not print after the barrier"
    assert trainer.is_world_process_zero(), "the notebook's single process should be process zero"
    assert report["world_size"] == 2, f"the barrier demo ran with world size {report['world_size']}, expected 2"
    ranks = {rank["rank"]: rank for rank in report["ranks"]}
    assert [ranks[r]["is_world_process_zero"] for r in (0, 1)] == [True, False], "exactly rank 0 must be the world's process zero"
    slow = report["slow_rank_seconds"]
    waited = ranks[0]["waited_seconds"]
    assert waited >= 0.9 * slow, f"rank 0 passed the barrier after {waited:.2f} s: it did not wait for rank 1 ({slow} s late)"
    return f"2 processes: rank 0 waited {waited:.1f} s at wait_for_everyone() for the slow rank 1; only rank 0 is process zero"


# ---- GPT-2 live coding ------------------------------------------------------------------------


def block_losses(model, dataloader, limit: int = 64) -> list[float]:
    """Mean next-token cross-entropy of each of the first `limit` blocks (labels shifted, -100 ignored)."""
    import torch.nn.functional as F

    losses: list[float] = []
    with evaluating(model) as device:
        for batch in dataloader:
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()[:, :-1]
            token = F.cross_entropy(logits.transpose(1, 2), labels[:, 1:], reduction="none", ignore_index=-100)
            counted = (labels[:, 1:] != -100).sum(dim=1).clamp(min=1)
            losses += (token.sum(dim=1) / counted).tolist()
            if len(losses) >= limit:
                break
    return losses[:limit]


def assert_eos_labels_kept(trainer, tokenizer, model) -> None:
    """Unpadded blocks keep every label, and a token equal to the pad id (GPT-2's pad is its EOS)
    keeps its label through the collator (DataCollatorForLanguageModeling(mlm=False) sets it to -100)."""
    eos = model.config.eos_token_id
    batch = next(iter(trainer.get_train_dataloader()))
    assert "labels" in batch, f"the training batches carry no labels (keys: {sorted(batch)})"
    ids, labels = batch["input_ids"], batch["labels"]
    ignored = int((labels == -100).sum())
    assert ignored == 0, f"{ignored} of {labels.numel()} training labels are -100; the unpadded blocks should keep them all"
    assert bool((labels == ids).all()), "the training labels are not a copy of input_ids (the model shifts them itself)"
    assert eos is not None and bool((ids == eos).any()), f"no EOS token (id {eos}) in a training batch: the reviews do not end with it"
    if tokenizer.pad_token_id is not None:
        feature = {k: list(v) for k, v in dict(trainer.train_dataset[0]).items()}
        feature["input_ids"][1] = feature["labels"][1] = tokenizer.pad_token_id
        kept = int(trainer.data_collator([feature])["labels"][0][1])
        assert kept == tokenizer.pad_token_id, (
            f"the collator turned the label of a pad-id token ({tokenizer.pad_token_id}) into {kept}: "
            "with pad = EOS the model would never learn to end a text"
        )


@check("GPT2")
def gpt2(ns, _):
    trainer, tokenizer, model = need(ns, "lm_trainer", "lm_tokenizer", "lm_model")
    before, after = need(ns, "perplexity_before", "perplexity_after")
    sample_before, sample, generated, inputs = need(ns, "sample_before", "sample", "generated", "inputs")
    steps = expected_steps(trainer)
    assert trainer.state.global_step == steps, f"lm_trainer ran {trainer.state.global_step} steps, expected {steps}"
    assert_eos_labels_kept(trainer, tokenizer, model)

    # Perplexity on the untrained model (step 0) and the final one: the eval loss must fall by
    # MIN_GAIN nats/token and by three standard errors of the trained model's per-block losses.
    evaluations = logged(trainer, "eval_loss")
    assert len(evaluations) >= 3, f"lm_trainer evaluated {len(evaluations)} times; expected a curve (eval_strategy='steps')"
    (first_step, first), (last_step, last) = evaluations[0], evaluations[-1]
    assert first_step == 0 and math.isclose(before, math.exp(first), rel_tol=1e-6), (
        f"perplexity_before={before:.1f} is not the step-0 evaluation (step {first_step}: {math.exp(first):.1f})"
    )
    assert last_step == steps and math.isclose(after, math.exp(last), rel_tol=1e-6), (
        f"perplexity_after={after:.1f} is not the last-step evaluation (step {last_step}: {math.exp(last):.1f})"
    )
    losses = block_losses(trainer.model, trainer.get_eval_dataloader())
    mean = sum(losses) / len(losses)
    error = (sum((x - mean) ** 2 for x in losses) / max(len(losses) - 1, 1) / len(losses)) ** 0.5
    margin = max(MIN_GAIN, 3 * error)
    drop = math.log(before) - math.log(after)
    assert drop >= margin, (
        f"perplexity {before:.1f} -> {after:.1f} is a drop of {drop:.3f} nats/token, "
        f"less than the margin {margin:.3f} (MIN_GAIN or 3 standard errors over {len(losses)} eval blocks)"
    )
    new_tokens = generated.shape[-1] - inputs["input_ids"].shape[-1]
    assert new_tokens > 0 and sample.strip(), f"generation added nothing to the prompt: {sample!r}"
    assert isinstance(sample_before, str) and sample_before.strip(), f"no sample before fine-tuning: {sample_before!r}"
    assert sample_before != sample, f"the samples before and after fine-tuning are the same: {sample!r}"
    return f"{steps} steps, EOS labels kept; perplexity {before:.1f} -> {after:.1f} ({drop:.2f} nats/token, margin {margin:.2f}); sample {sample[:60]!r}"
