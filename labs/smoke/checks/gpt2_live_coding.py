"""The GPT-2 live coding (07_gpt2_live_coding): causal fine-tuning that lowers perplexity and keeps EOS labels."""

from __future__ import annotations

import math

from .learning import MIN_GAIN, evaluating, expected_steps, logged
from .registry import check, need


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
    assert ignored == 0, (
        f"{ignored} of {labels.numel()} training labels are -100; the unpadded blocks should keep them all"
    )
    assert bool((labels == ids).all()), "the training labels are not a copy of input_ids (the model shifts them itself)"
    assert eos is not None and bool((ids == eos).any()), (
        f"no EOS token (id {eos}) in a training batch: the reviews do not end with it"
    )
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
    assert len(evaluations) >= 3, (
        f"lm_trainer evaluated {len(evaluations)} times; expected a curve (eval_strategy='steps')"
    )
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
    return (
        f"{steps} steps, EOS labels kept; perplexity {before:.1f} -> {after:.1f} ({drop:.2f} nats/token, margin "
        f"{margin:.2f}); sample {sample[:60]!r}"
    )
