"""Lab 6 (06_utilities): hyperparameter search, parameter and batch counts, RNG control, the barrier."""

from __future__ import annotations

import math
import os
import re

from .learning import assert_rng_restored
from .registry import check, need


@check("6A")
def hyperparameter_search(ns, _):
    best_run, study, lab, recorder = need(ns, "best_run", "study", "LAB", "trials")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(study.trials) == lab.size.hp_trials, f"{len(study.trials)} trials ran, {lab.size.hp_trials} requested"
    assert len(complete) == len(study.trials), f"only {len(complete)} of {len(study.trials)} trials completed"
    sampled = [t.params["learning_rate"] for t in study.trials]
    assert len(set(sampled)) == len(sampled), f"trials repeated a learning rate: {sampled}"
    started = recorder.learning_rates
    assert len(started) == len(sampled) and all(math.isclose(a, b) for a, b in zip(started, sampled, strict=True)), (
        f"the trials' optimizers started at {started}, but Optuna sampled {sampled}"
    )
    best = max(complete, key=lambda t: t.value)
    assert math.isclose(best_run.objective, best.value), (
        f"best_run objective {best_run.objective} is not the best trial's {best.value}"
    )
    assert math.isclose(best_run.hyperparameters["learning_rate"], best.params["learning_rate"]), (
        "best_run has another trial's hyperparameters"
    )
    spread = f"{min(sampled):.1e}..{max(sampled):.1e}"
    return (
        f"{len(complete)} trials trained with learning rates {spread}; best {best.params['learning_rate']:.2e} with "
        f"accuracy {best.value:.3f}"
    )


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
    expected = (
        accumulating.per_device_train_batch_size * accumulating.gradient_accumulation_steps * accumulating.world_size
    )
    assert accumulating.gradient_accumulation_steps > 1, "the second run should accumulate gradients"
    assert total == expected, (
        f"get_total_train_batch_size gave {total}, per-device x accumulation x processes is {expected}"
    )
    steps = counting.state.global_step
    assert steps == accumulating.max_steps, (
        f"the counting run took {steps} optimizer steps, expected {accumulating.max_steps}"
    )
    assert counting.examples == total * steps, (
        f"{counting.examples} examples went into {steps} optimizer steps, expected {total} per step"
    )
    return (
        f"total train batch size {plain} here; with accumulation {total}, and {counting.examples} examples fed {steps} "
        "optimizer steps"
    )


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
    assert [ranks[r]["is_world_process_zero"] for r in (0, 1)] == [True, False], (
        "exactly rank 0 must be the world's process zero"
    )
    slow = report["slow_rank_seconds"]
    waited = ranks[0]["waited_seconds"]
    assert waited >= 0.9 * slow, (
        f"rank 0 passed the barrier after {waited:.2f} s: it did not wait for rank 1 ({slow} s late)"
    )
    return (
        f"2 processes: rank 0 waited {waited:.1f} s at wait_for_everyone() for the slow rank 1; only rank 0 is process "
        "zero"
    )
