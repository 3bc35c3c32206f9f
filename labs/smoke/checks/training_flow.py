"""Lab 3 (03_training_flow): resuming, a custom loss, an overridden training step, a logging callback."""

from __future__ import annotations

import json
import math
import os

from .learning import assert_learned, assert_printed_logs, expected_steps
from .registry import check, need


@check("3A")
def resume(ns, _):
    import torch

    trainer, first_run, resumed_run, checkpoint, recorder = need(
        ns, "resume_trainer", "first_run", "resumed_run", "checkpoint", "resumed_steps"
    )
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
        f"the resumed run trained steps {recorder.steps[:1]}..{recorder.steps[-1:]}, expected only "
        f"{resumed_from + 1}..{total}"
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
    return (
        f"resumed from checkpoint-{resumed_from}, trained only steps {resumed_from + 1}..{total}; losses at steps "
        f"{sorted(resumed)} match the first run to {worst:.1e} (relative)"
    )


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
        f"custom loss {custom:.6f} - plain loss {plain:.6f} = {custom - plain:.6f}, expected 0.01 x entropy = "
        f"{0.01 * entropy:.6f}"
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
