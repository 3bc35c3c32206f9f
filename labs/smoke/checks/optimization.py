"""Lab 2 (02_optimization): optimizers, schedulers, gradient clipping and accumulation."""

from __future__ import annotations

import math
import re

from .learning import assert_learned, assert_printed_logs, expected_steps, logged
from .registry import check, need


def unwrap_optimizer(optimizer):
    return getattr(optimizer, "optimizer", optimizer)


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
    trainer, optimizer, scheduler, steps = need(
        ns, "manual_trainer", "manual_optimizer", "manual_scheduler", "num_training_steps"
    )
    own_trainer, own_scheduler = need(ns, "own_trainer", "own_scheduler")
    assert steps == expected_steps(trainer), f"planned {steps} steps, the epoch has {expected_steps(trainer)}"
    assert unwrap_optimizer(trainer.optimizer) is unwrap_optimizer(optimizer), (
        "train() replaced the optimizer made before it"
    )
    # The lesson: a scheduler from create_scheduler is Trainer's own and is rebuilt at train().
    assert trainer.lr_scheduler is not scheduler, (
        "train() kept the scheduler create_optimizer_and_scheduler made; 2C teaches that "
        "_prepare_for_training replaces it: the lesson is now false, update the notebook"
    )
    rates = [lr for _, lr in logged(trainer, "learning_rate")]
    assert rates[-1] < 0.25 * rates[0], f"the rebuilt linear schedule did not decay ({rates[0]:.2e} -> {rates[-1]:.2e})"
    # ... and one passed in optimizers=(optimizer, scheduler) is kept.
    assert own_trainer.lr_scheduler is own_scheduler, (
        "train() replaced the scheduler passed in optimizers=(optimizer, scheduler)"
    )
    own_rates = [lr for _, lr in logged(own_trainer, "learning_rate")]
    peak = own_trainer.args.learning_rate
    assert own_rates and all(math.isclose(lr, peak) for lr in own_rates), (
        f"the passed-in constant schedule did not run: learning rates {own_rates[0]:.2e} .. {own_rates[-1]:.2e}, "
        f"expected {peak:.2e} throughout"
    )
    learned = assert_learned(trainer, "manual_trainer", ns)
    assert_learned(own_trainer, "own_trainer", ns)
    return (
        f"optimizer kept, create_scheduler's scheduler replaced at train() (lr {rates[0]:.1e} -> {rates[-1]:.1e}); "
        f"the one passed in optimizers= kept (constant {peak:.0e}); {learned}"
    )


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
    assert peak_step <= warmup + trainer.args.logging_steps, (
        f"learning rate peaked at step {peak_step}, after the {warmup}-step warmup"
    )
    final = rates[max(rates)]
    assert final < 0.1 * rates[peak_step], (
        f"cosine did not come down: peak {rates[peak_step]:.2e}, last {final:.2e} (a schedule sized for more steps "
        "than ran?)"
    )
    return (
        f"1000-step scheduler replaced; cosine ({name}): peak {rates[peak_step]:.1e} at step {peak_step}, {final:.1e} "
        "at the end"
    )


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
    assert sorted(stepped) == list(range(1, trainer.state.global_step + 1)), (
        "the recorder did not see every optimizer step"
    )
    largest = max(stepped.values())
    assert largest <= 0.5 * (1 + 1e-3), (
        f"the optimizer stepped with a gradient norm of {largest:.3f}, above max_grad_norm 0.5"
    )
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
    return (
        f"{summary}; loss scaled by {scale:.2f} per micro-batch; logged norms up to {max(logged_norms.values()):.2f} "
        f"(before clipping), every step taken with norm <= 0.5; {assert_printed_logs(stdout, trainer, 'grad_norm')}"
    )
