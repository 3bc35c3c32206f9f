"""Loading the workshop's model and dataset from the settings, with errors that name the fix."""

from __future__ import annotations

import os

from datasets import Dataset, DatasetDict, load_dataset

from workshop.settings import LAB, Settings, SettingsError


def _offline_hint(what: str, name: str, variable: str) -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return (
            f"{what} {name!r} is not in the local cache and HF_HUB_OFFLINE=1 forbids downloading it. "
            f"Set {variable} to one in the local cache (in the workshop image: see /opt/workshop/MANIFEST.json) "
            f"or to a local directory."
        )
    return f"{what} {name!r} could not be loaded. Check {variable} (a Hub id or a local directory)."


def _take(split: Dataset, limit: int | None, seed: int) -> Dataset:
    """A reproducible subset of at most ``limit`` rows (the whole split when limit is None)."""
    if limit is None or limit >= len(split):
        return split
    return split.shuffle(seed=seed).select(range(limit))


def load_sentiment(settings: Settings = LAB) -> DatasetDict:
    """The classification dataset as ``train``/``eval`` splits with columns text, labels, meta.

    ``meta`` is per-example side information the model never sees (the review's
    length, scaled to 0..1): Lab 1 Task D's collator carries it through a batch.
    """
    try:
        raw = load_dataset(settings.dataset, settings.dataset_config)
    except Exception as error:  # datasets raises several types for "not found"/"offline"
        raise SettingsError(_offline_hint("Dataset", settings.dataset, "WORKSHOP_DATASET")) from error
    for split in (settings.train_split, settings.eval_split):
        if split not in raw:
            raise SettingsError(
                f"Dataset {settings.dataset!r} has no split {split!r} (it has {', '.join(raw)}). "
                "Set WORKSHOP_TRAIN_SPLIT / WORKSHOP_EVAL_SPLIT."
            )
    size = settings.size
    splits = DatasetDict(
        train=_take(raw[settings.train_split], size.train_examples, settings.seed),
        eval=_take(raw[settings.eval_split], size.eval_examples, settings.seed),
    )
    columns = splits["train"].column_names
    for column, variable in (
        (settings.text_column, "WORKSHOP_TEXT_COLUMN"),
        (settings.label_column, "WORKSHOP_LABEL_COLUMN"),
    ):
        if column not in columns:
            raise SettingsError(
                f"Dataset {settings.dataset!r} has no column {column!r} (it has {columns}). Set {variable}."
            )
    longest = max(len(t) for t in splits["train"][settings.text_column]) or 1

    def normalise(batch):
        texts = batch[settings.text_column]
        return {
            "text": texts,
            "labels": batch[settings.label_column],
            "meta": [round(len(t) / longest, 3) for t in texts],
        }

    keep = {"text", "labels", "meta"}
    return DatasetDict(
        {
            name: split.map(normalise, batched=True, remove_columns=[c for c in split.column_names if c not in keep])
            for name, split in splits.items()
        }
    )


def num_labels(dataset: DatasetDict) -> int:
    return len(set(dataset["train"]["labels"]) | set(dataset["eval"]["labels"]))


def from_pretrained(loader, name: str, variable: str, **kwargs):
    """``loader.from_pretrained(name)``, turning a missing model into an actionable error."""
    try:
        return loader.from_pretrained(name, **kwargs)
    except OSError as error:
        raise SettingsError(_offline_hint("Model", name, variable)) from error
