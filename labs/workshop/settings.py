"""Workshop settings, read from environment variables.

| variable                | default                                   | why |
| ----------------------- | ----------------------------------------- | --- |
| WORKSHOP_MODEL          | distilbert-base-uncased                   | the classification labs' model |
| WORKSHOP_CAUSAL_MODEL   | openai-community/gpt2                     | the GPT-2 live-coding notebook's causal LM |
| WORKSHOP_DATASET        | cornell-movie-review-data/rotten_tomatoes | a small real sentiment dataset |
| WORKSHOP_DATASET_CONFIG | (none)                                    | configuration name, for datasets with several |
| WORKSHOP_TEXT_COLUMN    | text                                      | column holding the text |
| WORKSHOP_LABEL_COLUMN   | label                                     | column holding the integer class |
| WORKSHOP_TRAIN_SPLIT    | train                                     | split to fine-tune on |
| WORKSHOP_EVAL_SPLIT     | validation                                | held-out split for evaluation |
| WORKSHOP_LAB_SIZE       | workshop                                  | smoke / workshop / full: data and steps |
| WORKSHOP_OUTPUT_DIR     | out                                       | checkpoints and runs, relative to the notebook |

The models and the dataset are Hub ids or local directories (a dataset's holds its train and
validation files).

With `HF_HUB_OFFLINE=1` (the image sets it), models and data load from the local
cache only; nothing reaches the Hub.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class SettingsError(ValueError):
    """A workshop setting has a value the labs cannot use."""


@dataclass(frozen=True)
class LabSize:
    """How much of the dataset, and how many steps, a lab run uses."""

    name: str
    train_examples: int | None  # None: the whole split
    eval_examples: int | None
    max_length: int  # tokens per example after truncation
    warmup_steps: int  # the seed's Lab 2D uses 100; the smoke size has fewer steps in all
    hp_trials: int  # Lab 6A's number of hyperparameter-search trials
    lm_block_size: int  # GPT-2 notebook: tokens per training block
    lm_train_examples: int | None
    lm_eval_examples: int | None
    lm_epochs: int  # GPT-2 notebook: passes over its training blocks
    lm_learning_rate: float  # GPT-2 notebook: peak learning rate


LAB_SIZES = {
    # Seconds per task on a laptop CPU; what the smoke harness and CI run.
    # 960 examples at batch size 8 are 120 steps at the default learning rate: the
    # fewest with which small pretrained encoders the labs were not tuned on learn
    # visibly (60 steps left some at chance), with checkpoints at steps 50 and 100.
    # 192 held-out examples make an accuracy gain of about 6 points tell from noise.
    # The smoke harness runs the GPT-2 notebook with a tiny random-weight model, which
    # needs a larger learning rate and a few passes to show a perplexity drop.
    "smoke": LabSize("smoke", 960, 192, 64, 10, 3, 64, 300, 80, lm_epochs=3, lm_learning_rate=5e-4),
    # The classroom default on one GPU: a minute or two per task.
    "workshop": LabSize("workshop", 2000, 500, 128, 100, 5, 128, 2000, 300, lm_epochs=1, lm_learning_rate=5e-5),
    # Everything the dataset has: homework on a GPU.
    "full": LabSize("full", None, None, 256, 100, 10, 256, None, None, lm_epochs=1, lm_learning_rate=5e-5),
}


@dataclass(frozen=True)
class Settings:
    model: str
    causal_model: str
    dataset: str
    dataset_config: str | None
    text_column: str
    label_column: str
    train_split: str
    eval_split: str
    size: LabSize
    output_dir: Path
    seed: int = 42

    def out(self, name: str) -> str:
        """The output directory for one lab task, e.g. ``LAB.out("resume")``."""
        return str(self.output_dir / name)


def _read(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip()
    return value or default


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and validate the settings; a bad value raises SettingsError naming the fix."""
    size_name = _read(environ, "WORKSHOP_LAB_SIZE", "workshop").lower()
    if size_name not in LAB_SIZES:
        raise SettingsError(
            f"WORKSHOP_LAB_SIZE={size_name!r} is not a lab size. "
            f"Set it to one of: {', '.join(LAB_SIZES)} (smoke is the short CPU version)."
        )
    return Settings(
        model=_read(environ, "WORKSHOP_MODEL", "distilbert-base-uncased"),
        causal_model=_read(environ, "WORKSHOP_CAUSAL_MODEL", "openai-community/gpt2"),
        dataset=_read(environ, "WORKSHOP_DATASET", "cornell-movie-review-data/rotten_tomatoes"),
        dataset_config=environ.get("WORKSHOP_DATASET_CONFIG") or None,
        text_column=_read(environ, "WORKSHOP_TEXT_COLUMN", "text"),
        label_column=_read(environ, "WORKSHOP_LABEL_COLUMN", "label"),
        train_split=_read(environ, "WORKSHOP_TRAIN_SPLIT", "train"),
        eval_split=_read(environ, "WORKSHOP_EVAL_SPLIT", "validation"),
        size=LAB_SIZES[size_name],
        output_dir=Path(_read(environ, "WORKSHOP_OUTPUT_DIR", "out")),
    )


LAB = load_settings()
