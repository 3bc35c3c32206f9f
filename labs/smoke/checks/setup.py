"""The shared setup (00_setup): the tokenized splits and model_init every lab uses."""

from __future__ import annotations

from .registry import check, need


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
