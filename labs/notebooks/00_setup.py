# %% [markdown]
# # Shared setup (run once per kernel)
#
# Every lab notebook starts by running this one (`%run ./00_setup.ipynb`), so the
# tokenizer, the tokenized dataset, `model_init` and `base_args` are always the same.
#
# **Source:** [[Trainer.__init__]], [[TrainingArguments]]
#
# What the labs use comes from settings, not literals (see `workshop/settings.py`):
# `WORKSHOP_MODEL`, `WORKSHOP_DATASET`, `WORKSHOP_LAB_SIZE` (`smoke` is a short CPU
# version, `workshop` the classroom default, `full` everything). In the workshop image
# models and data are already cached and `HF_HUB_OFFLINE=1`: nothing is downloaded.
#
# *Changed since the seed (transformers 4.57 → 5.x):* the seed trained on a 2-example
# dataset, so no step count it asked for (save every 50 steps, warm up 100) ever happened;
# we use a real sentiment dataset. The seed's `remove_unused_columns=False` sent the raw
# `text` and `meta` columns into the model and the collator and failed; we keep the default
# and give every `Trainer` the tokenizer as `processing_class=` (the v5 name of the old
# `tokenizer=` argument), which pads each batch dynamically.

# %% tags=["task-setup"]
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # quiet fork warnings from data loaders

from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments
from transformers.utils import logging

from workshop import LAB
from workshop.data import from_pretrained, load_sentiment, num_labels

logging.set_verbosity_warning()
print(f"model={LAB.model}  dataset={LAB.dataset}  lab size={LAB.size.name}")

tokenizer = from_pretrained(AutoTokenizer, LAB.model, "WORKSHOP_MODEL")
if tokenizer.pad_token is None:  # GPT-style tokenizers ship without a padding token
    tokenizer.pad_token = tokenizer.eos_token

raw_ds = load_sentiment()  # DatasetDict with "train" and "eval": columns text, labels, meta


def tokenize(batch):
    return tokenizer(batch["text"], truncation=True, max_length=LAB.size.max_length)


tokenized = raw_ds.map(tokenize, batched=True)
train_ds, eval_ds = tokenized["train"], tokenized["eval"]
NUM_LABELS = num_labels(raw_ds)
print(f"{len(train_ds)} training and {len(eval_ds)} evaluation examples, {NUM_LABELS} labels")


def model_init():
    model = from_pretrained(AutoModelForSequenceClassification, LAB.model, "WORKSHOP_MODEL", num_labels=NUM_LABELS)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


base_args = TrainingArguments(
    output_dir=LAB.out("basic"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    logging_steps=10,
    seed=LAB.seed,
)
