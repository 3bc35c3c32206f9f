"""Lab 5 (05_checkpointing): saving the model and the full state, pushing to the Hub, the model card."""

from __future__ import annotations

import json
import os
import re

from .learning import assert_learned, assert_rng_restored
from .registry import Skip, check, need


@check("5A")
def save_model(ns, _):
    import torch
    from transformers import AutoModelForSequenceClassification

    trainer, lab = need(ns, "save_trainer", "LAB")
    summary = assert_learned(trainer, "save_trainer", ns)
    directory = lab.out("manual-save")
    files = set(os.listdir(directory))
    assert "config.json" in files and any(f.endswith(".safetensors") for f in files), (
        f"no weights/config in {sorted(files)}"
    )
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
    assert lab.dataset in card or os.path.basename(lab.dataset.rstrip("/")) in card, (
        "the card does not name the dataset"
    )
    loss = f"- Loss: {_maybe_round(metrics['eval_loss'])}"
    assert loss in card, f"the card does not carry the evaluation this task ran ({loss!r})"
    for setting in (
        f"- learning_rate: {trainer.args.learning_rate}",
        f"- train_batch_size: {trainer.args.per_device_train_batch_size}",
    ):
        assert setting in card, f"the card does not list the training hyperparameter {setting!r}"
    base = "trained from scratch" if os.path.isdir(lab.model) else f"fine-tuned version of [{lab.model}]"
    assert base in card, f"the card does not say {base!r}, as the notebook says it does for this model"
    return (
        "README.md names the model, dataset and language, the training hyperparameters, the eval loss "
        f"{metrics['eval_loss']:.4f}, and '{base}'"
    )
