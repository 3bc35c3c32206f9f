"""Lab 4 (04_evaluation): metrics, predict, a prediction step, loss-only evaluation, the evaluation loop."""

from __future__ import annotations

import math

from .registry import check, need


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
        f"held-out accuracy {before['validation_accuracy']:.3f} -> {accuracy:.3f} on {len(labels)} examples: not "
        f"above the better of the untrained model and the majority class ({baseline:.3f}) by the margin {margin:.3f}"
    )
    return (
        f"held-out accuracy {before['validation_accuracy']:.3f} -> {accuracy:.3f} (majority class {majority:.3f}, "
        f"margin {margin:.3f})"
    )


@check("4B")
def prediction_api(ns, _):
    output, eval_ds, metrics = need(ns, "prediction_output", "eval_ds", "validation_metrics")
    assert output.predictions.shape == (len(eval_ds), ns["NUM_LABELS"]), f"predictions shape {output.predictions.shape}"
    assert (output.label_ids == eval_ds["labels"]).all(), "label_ids are not the evaluation labels"
    accuracy = float((output.predictions.argmax(-1) == output.label_ids).mean())
    assert math.isclose(output.metrics["test_accuracy"], accuracy, abs_tol=1e-6), (
        "test_accuracy disagrees with the predictions"
    )
    assert math.isclose(accuracy, metrics["validation_accuracy"], abs_tol=1e-6), (
        "predict and evaluate disagree on the same data"
    )
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
    assert predictions.predictions is None and predictions.label_ids is None, (
        "logits were gathered despite prediction_loss_only"
    )
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
