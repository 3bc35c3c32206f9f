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
from typing import Callable

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
    """Run one task's check; returns JSON {status, message}."""
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
    return json.dumps(verdict)


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


def assert_trained(trainer, name: str) -> str:
    """The run went through every planned step and its logged training loss went down."""
    steps = expected_steps(trainer)
    assert trainer.state.global_step == steps, f"{name} ran {trainer.state.global_step} steps, expected {steps}"
    losses = [loss for _, loss in logged(trainer, "loss")]
    assert len(losses) >= 2, f"{name} logged {len(losses)} training losses; expected at least 2"
    head, tail = losses[: max(1, len(losses) // 3)], losses[-max(1, len(losses) // 3) :]
    first, last = sum(head) / len(head), sum(tail) / len(tail)
    assert last < first, f"{name}'s training loss did not decrease ({first:.4f} -> {last:.4f})"
    return f"{steps} steps, loss {first:.3f} -> {last:.3f}"


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
    summary = assert_trained(trainer, "trainer")
    # Held-out improvement is 4A's check (accuracy); a tiny random-weight model may not
    # improve its eval loss in one short smoke epoch, so here it is reported, not asserted.
    assert math.isfinite(after["eval_loss"]), f"eval loss is {after['eval_loss']}"
    return f"{summary}; eval loss {before['eval_loss']:.3f} -> {after['eval_loss']:.3f}"


@check("1B")
def model_init_pathway(ns, _):
    trainer, model_before, model_init = need(ns, "model_init_trainer", "model_before_train", "model_init")
    assert trainer.model_init is model_init, "the trainer was not given model_init"
    assert trainer.model is not model_before, "train() did not re-create the model through model_init"
    return assert_trained(trainer, "model_init_trainer") + "; train() re-created the model"


@check("1C")
def fsdp(ns, _):
    report = need(ns, "fsdp_report")
    world, wrapper = report["world_size"], report["wrapper"]
    assert report["global_step"] > 0, "the FSDP run trained no steps"
    assert len(report["ranks"]) == world, f"report has {len(report['ranks'])} ranks for world size {world}"
    ran = f"{world} process(es) on {report['device']}, backend {report['backend']}, wrapper chain {' > '.join(report['wrapper_chain'])}"
    if wrapper in ("FSDP", "FSDP2"):
        full = report["ranks"][0]["full_elements"]
        held = [rank["local_elements"] for rank in report["ranks"]]
        if world > 1:
            assert all(h < full for h in held), f"{wrapper} ran but a rank holds the whole model ({held} of {full})"
            assert abs(sum(held) - full) <= full * 0.01 + 1024 * world, f"shards {held} do not add up to {full}"
            return f"{wrapper} sharded the model: ranks hold {held} of {full} elements; {ran}"
        return f"{wrapper} ran with one process (one shard holds all {full} elements); {ran}"
    if wrapper == "DDP":
        raise Skip(
            f"FSDP did not run: Trainer wrapped the model in DDP ({ran}). Distributed training ran; "
            "sharding was not exercised (needs GPUs)."
        )
    raise AssertionError(f"fsdp='full_shard' was requested but the model ran unwrapped ({ran})")


@check("1D")
def custom_collator(ns, _):
    trainer, train_ds = need(ns, "collator_trainer", "train_ds")
    summary = assert_trained(trainer, "collator_trainer")
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
    return f"{assert_trained(trainer, 'weighted_trainer')}; negatives oversampled {base_share:.2f} -> {shares[-1]:.2f}"


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
    return f"Adafactor; {assert_trained(trainer, 'adafactor_trainer')}; warmup to {peak} then constant"


@check("2B")
def injected_optimizer(ns, _):
    trainer, optimizer = need(ns, "trainer_with_optimizer", "optimizer")
    assert unwrap_optimizer(trainer.optimizer) is optimizer, "Trainer did not use the injected optimizer"
    assert all(group["weight_decay"] == 0.01 for group in optimizer.param_groups), "weight decay changed"
    return f"the injected AdamW ran; {assert_trained(trainer, 'trainer_with_optimizer')}"


@check("2C")
def manual_optimizer_scheduler(ns, _):
    trainer, optimizer, scheduler, steps = need(ns, "manual_trainer", "manual_optimizer", "manual_scheduler", "num_training_steps")
    assert unwrap_optimizer(trainer.optimizer) is unwrap_optimizer(optimizer), "train() replaced the manual optimizer"
    assert steps == expected_steps(trainer), f"planned {steps} steps, the epoch has {expected_steps(trainer)}"
    rates = [lr for _, lr in logged(trainer, "learning_rate")]
    assert rates[-1] < rates[0], f"the manual linear schedule did not decay ({rates[0]} -> {rates[-1]})"
    return f"manual optimizer and scheduler used; {assert_trained(trainer, 'manual_trainer')}"


@check("2D")
def cosine(ns, _):
    trainer = need(ns, "cosine_trainer")
    scheduler = trainer.lr_scheduler
    name = getattr(getattr(scheduler, "lr_lambdas", [None])[0], "func", None)
    name = getattr(name, "__name__", type(scheduler).__name__)
    assert "cosine" in name, f"the scheduler is {name}, not cosine"
    rates = dict(logged(trainer, "learning_rate"))
    peak_step = max(rates, key=rates.get)
    warmup = trainer.args.warmup_steps
    assert peak_step <= warmup + trainer.args.logging_steps, f"learning rate peaked at step {peak_step}, after the {warmup}-step warmup"
    final = rates[max(rates)]
    assert final < 0.25 * rates[peak_step], f"cosine did not decay: peak {rates[peak_step]:.2e}, last {final:.2e}"
    return f"cosine ({name}): peak {rates[peak_step]:.1e} at step {peak_step}, {final:.1e} at the end"


@check("2E")
def clipping(ns, stdout):
    trainer = need(ns, "clip_trainer")
    assert trainer.args.max_grad_norm == 0.5 and trainer.args.gradient_accumulation_steps == 2
    return f"{assert_trained(trainer, 'clip_trainer')}; {assert_printed_logs(stdout, trainer, 'grad_norm')}"


# ---- Lab 3 ----------------------------------------------------------------------------------


@check("3A")
def resume(ns, _):
    trainer, first_run, resumed_run = need(ns, "resume_trainer", "first_run", "resumed_run")
    checkpoint = os.path.join(trainer.args.output_dir, "checkpoint-50")
    for name in ("trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        assert os.path.exists(os.path.join(checkpoint, name)), f"checkpoint-50 has no {name}"
    with open(os.path.join(checkpoint, "trainer_state.json")) as handle:
        assert json.load(handle)["global_step"] == 50, "checkpoint-50 does not record step 50"
    assert resumed_run and min(resumed_run) > 50, f"the resumed run logged steps {sorted(resumed_run)}"
    assert trainer.state.global_step == expected_steps(trainer), "the resumed run did not finish the epoch"
    for step, loss in resumed_run.items():
        assert math.isclose(loss, first_run[step], rel_tol=2e-2), f"step {step}: resumed loss {loss:.4f} != first run {first_run[step]:.4f}"
    return f"resumed at step 50; losses at steps {sorted(resumed_run)} match the first run (same data order and RNG)"


@check("3B")
def custom_loss(ns, _):
    import torch
    import torch.nn.functional as F

    trainer = need(ns, "aux_trainer")
    summary = assert_trained(trainer, "aux_trainer")
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
    summary = assert_trained(trainer, "manual_trainer")
    calls = trainer.manual_steps
    expected = trainer.state.global_step * trainer.args.gradient_accumulation_steps
    assert calls == expected, f"the overridden training_step ran {calls} times for {expected} micro-batches"
    return f"{summary}; the override ran {calls} times"


@check("3D")
def logging_hook(ns, stdout):
    trainer = need(ns, "callback_trainer")
    return f"{assert_trained(trainer, 'callback_trainer')}; {assert_printed_logs(stdout, trainer, 'loss')}"


# ---- Lab 4 ----------------------------------------------------------------------------------


@check("4A")
def evaluation_metrics(ns, _):
    before, after = need(ns, "metrics_before", "validation_metrics")
    assert "validation_accuracy" in after, f"no validation_accuracy in {sorted(after)}"
    gain = after["validation_accuracy"] - before["validation_accuracy"]
    assert gain > 0, f"accuracy did not improve with fine-tuning ({before['validation_accuracy']:.3f} -> {after['validation_accuracy']:.3f})"
    return f"held-out accuracy {before['validation_accuracy']:.3f} -> {after['validation_accuracy']:.3f}"


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
    summary = assert_trained(trainer, "save_trainer")
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
    card, lab = need(ns, "model_card", "LAB")
    assert "distilbert-demo" in card, "the card does not name the model"
    assert "language:" in card and "- en" in card or "language: en" in card, "the card does not declare language en"
    assert lab.dataset in card or os.path.basename(lab.dataset.rstrip("/")) in card, "the card does not name the dataset"
    assert "Loss" in card or "loss" in card, "the card carries no evaluation result"
    return "README.md names the model, dataset, language and evaluation results"


# ---- Lab 6 ----------------------------------------------------------------------------------


@check("6A")
def hyperparameter_search(ns, _):
    best_run, study, lab = need(ns, "best_run", "study", "LAB")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(study.trials) == lab.size.hp_trials, f"{len(study.trials)} trials ran, {lab.size.hp_trials} requested"
    assert len(complete) == len(study.trials), f"only {len(complete)} of {len(study.trials)} trials completed"
    best = max(complete, key=lambda t: t.value)
    assert math.isclose(best_run.objective, best.value), f"best_run objective {best_run.objective} is not the best trial's {best.value}"
    assert math.isclose(best_run.hyperparameters["learning_rate"], best.params["learning_rate"]), "best_run has another trial's hyperparameters"
    return f"{len(complete)} trials; best learning_rate {best.params['learning_rate']:.2e} with accuracy {best.value:.3f}"


@check("6B")
def parameter_count(ns, stdout):
    trainer = need(ns, "param_trainer")
    expected = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    assert trainer.get_num_trainable_parameters() == expected, "get_num_trainable_parameters disagrees with the model"
    assert str(expected) in stdout, "the task did not print the parameter count"
    return f"{expected} trainable parameters, matching the model"


@check("6C")
def effective_batch(ns, stdout):
    trainer = need(ns, "param_trainer")
    args = trainer.args
    expected = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
    assert trainer.get_total_train_batch_size(args) == expected, "total batch size is not batch x accumulation x processes"
    assert re.search(rf"^{expected}$", stdout, re.MULTILINE), f"the task did not print {expected}"
    return f"total train batch size {expected}"


@check("6D")
def rng_control(ns, _):
    rng_dir = need(ns, "rng_dir")
    assert os.path.exists(os.path.join(rng_dir, "rng_state.pth")), "no rng_state.pth was written"
    assert_rng_restored(ns["first_draw"], ns["second_draw"])
    return "restoring the saved RNG state repeats the draw"


@check("6E")
def barrier(ns, stdout):
    trainer = need(ns, "param_trainer")
    assert "Primary rank finished syncing." in stdout, "rank 0 did not print after the barrier"
    return f"barrier passed with {trainer.accelerator.num_processes} process(es)"


# ---- GPT-2 live coding ------------------------------------------------------------------------


@check("GPT2")
def gpt2(ns, _):
    before, after, sample, generated, inputs = need(ns, "perplexity_before", "perplexity_after", "sample", "generated", "inputs")
    summary = assert_trained(ns["lm_trainer"], "lm_trainer")
    assert after < before, f"perplexity did not drop ({before:.1f} -> {after:.1f})"
    new_tokens = generated.shape[-1] - inputs["input_ids"].shape[-1]
    assert new_tokens > 0 and sample.strip(), f"generation added nothing to the prompt: {sample!r}"
    return f"{summary}; perplexity {before:.1f} -> {after:.1f}; sample {sample[:60]!r}"
