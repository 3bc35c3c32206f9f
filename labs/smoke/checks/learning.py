"""What the checks of several labs share: the training log, the planned step count, whether a
run learned from its input, and the callback's printed log lines."""

from __future__ import annotations

import math
import re
from contextlib import contextmanager

from .registry import Namespace, need


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
        return sum(w * x for w, x in zip(weights, values, strict=True)) / sum(weights)

    blind, trained, untrained = blind_loss(labels, weight), mean(losses), mean(untrained_losses(ns))
    bar = blind - MIN_GAIN - max(0.0, blind - untrained)
    assert trained <= bar, (
        f"{name} did not learn: its loss on {len(losses)} training examples is {trained:.3f}, not below {bar:.3f} "
        f"(the input-blind loss {blind:.3f}, an untrained model's {untrained:.3f}, and a margin of {MIN_GAIN})"
    )
    return f"{steps} steps, fitted loss {trained:.3f} (input-blind {blind:.3f}, untrained {untrained:.3f})"


def printed(stdout: str, pattern: str) -> list[re.Match]:
    return list(re.finditer(pattern, stdout, re.MULTILINE))


def assert_printed_logs(stdout: str, trainer, key: str) -> str:
    """The callback printed one `step=N key=V` line per logged value, with the logged values."""
    lines = {
        int(m["step"]): float(m["value"]) for m in printed(stdout, rf"^step=(?P<step>\d+) {key}=(?P<value>[-\d.e]+)$")
    }
    values = dict(logged(trainer, key))
    assert values, f"Trainer logged no {key}"
    assert sorted(lines) == sorted(values), (
        f"callback printed {key} for steps {sorted(lines)}, Trainer logged {sorted(values)}"
    )
    for step, value in values.items():
        assert abs(lines[step] - value) < 1e-3 + 1e-3 * abs(value), (
            f"step {step}: printed {key} {lines[step]} != logged {value}"
        )
    return f"callback printed {len(lines)} {key} lines matching the log"


def assert_rng_restored(first, second) -> None:
    import torch

    assert torch.equal(first, second), "draws after restoring the RNG state differ from the draws after saving it"
