# %% [markdown]
# # Lab 4 – Evaluation & Prediction
#
# **Goal:** Customize evaluation loops and prediction outputs.
#
# **Discuss:** Compare [[Trainer.evaluation_loop]] with the seed's `prediction_loop`, which
# transformers 5 removed: `evaluation_loop` is now the only loop behind `evaluate` and `predict`.
#
# **Do:** Capture metrics, logits, and probability transforms for downstream tasks.

# %%
# %run ./00_setup.ipynb

# %% [markdown]
# ## Task 4A — Evaluation with metrics
#
# **Source:** [[Trainer.evaluate]]
#
# Measure accuracy on the held-out split before and after fine-tuning.
#
# *The seed's code was wrong:* `evaluate` already prefixed every metric with
# `metric_key_prefix` in 4.57, so `"validation/accuracy"` came back as
# `validation_validation/accuracy`; return plain names (`accuracy` → `validation_accuracy`).

# %% tags=["task-4A"]


def compute_metrics(eval_pred):
    predictions = eval_pred.predictions.argmax(-1)
    labels = eval_pred.label_ids
    return {"accuracy": float((predictions == labels).mean())}


metric_trainer = Trainer(
    model=model_init(),
    args=base_args,
    train_dataset=train_ds,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
    compute_metrics=compute_metrics,
)
metrics_before = metric_trainer.evaluate(metric_key_prefix="validation")
metric_trainer.train()
validation_metrics = metric_trainer.evaluate(metric_key_prefix="validation")
print(
    f"accuracy before={metrics_before['validation_accuracy']:.3f} after={validation_metrics['validation_accuracy']:.3f}"
)
print(validation_metrics)

# %% [markdown]
# ## Task 4B — Prediction API
#
# **Source:** [[Trainer.predict]]
#
# `predict` returns the raw predictions (logits), the labels, and the metrics.

# %% tags=["task-4B"]
prediction_output = metric_trainer.predict(eval_ds, metric_key_prefix="test")
print(prediction_output.predictions[:2])
print(prediction_output.metrics)

# %% [markdown]
# ## Task 4C — Custom `prediction_step`
#
# **Source:** [[Trainer.prediction_step]]
#
# Turn logits into probabilities inside the prediction step.

# %% tags=["task-4C"]
import torch.nn.functional as F


class SoftmaxPredictionTrainer(Trainer):
    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        loss, logits, labels = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
        probs = None if logits is None else F.softmax(logits, dim=-1)
        return loss, probs, labels


softmax_trainer = SoftmaxPredictionTrainer(
    model=metric_trainer.model,  # the fine-tuned model from 4A
    args=base_args,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
)
print(softmax_trainer.evaluate())
probs = softmax_trainer.predict(eval_ds).predictions
print("first rows:", probs[:3], "row sums:", probs.sum(-1)[:3])

# %% [markdown]
# ## Task 4D — Loss-only evaluation
#
# **Source:** [[Trainer.evaluation_loop]]
#
# With `prediction_loss_only=True` the loop keeps only the loss: no logits are gathered,
# which saves memory on big evaluation sets.

# %% tags=["task-4D"]
loss_only_args = TrainingArguments(
    output_dir=LAB.out("loss-only"),
    per_device_eval_batch_size=16,
    prediction_loss_only=True,
    eval_accumulation_steps=32,
)
loss_only_trainer = Trainer(
    model=model_init(),
    args=loss_only_args,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
)
loss_only_metrics = loss_only_trainer.evaluate()
print(loss_only_metrics)
loss_only_predictions = loss_only_trainer.predict(eval_ds)
print("predictions kept:", loss_only_predictions.predictions)

# %% [markdown]
# ## Task 4E — The evaluation loop by hand (was: legacy prediction loop)
#
# **Source:** [[Trainer.evaluation_loop]], [[Trainer.get_eval_dataloader]]
#
# *Changed in transformers 5:* `Trainer.prediction_loop` and `use_legacy_prediction_loop`
# were removed. Call `evaluation_loop` directly with a dataloader: it is what `evaluate` and
# `predict` use, and it returns predictions, labels, metrics and the number of samples.

# %% tags=["task-4E"]
from transformers import Trainer

print("Trainer still has prediction_loop:", hasattr(Trainer, "prediction_loop"))
legacy_trainer = Trainer(
    model=metric_trainer.model,
    args=base_args,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
)
eval_loader = legacy_trainer.get_eval_dataloader()
legacy_output = legacy_trainer.evaluation_loop(
    dataloader=eval_loader,
    description="legacy-eval",
    prediction_loss_only=False,
    ignore_keys=None,
)
print(legacy_output.metrics, legacy_output.num_samples, legacy_output.predictions.shape)
