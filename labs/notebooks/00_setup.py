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
# Two kinds of notes follow the tasks: *Changed in transformers 5* (the seed's code worked
# on 4.57 and does not now) and *The seed's code was wrong* (it failed or misled on 4.57 too).
#
# *The seed's code was wrong:* its 2-example dataset made every run one step long, so the
# steps it asked for (save every 50, warm up 100) never happened; we use a real sentiment dataset.
#
# *The seed's code was wrong:* `remove_unused_columns=False` sent `meta` into `forward`
# (a TypeError in 4.57) and lets the raw text reach the collator, where padding fails; we keep
# the default and give the Trainers the tokenizer as `processing_class=`, which pads each batch.
#
# *Changed in transformers 5:* `Trainer(tokenizer=...)` is gone (4.57 accepted it as a
# deprecated alias of `processing_class=`).

# %% tags=["task-setup"]
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # quiet fork warnings from data loaders

# Trainer is for the labs, which `%run` this notebook: none of its own cells uses it.
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments  # noqa: F401
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
    # By default every train() ends with a checkpoint: weights plus optimizer state, about
    # 0.8 GB for DistilBERT. The labs save only where saving is the lesson (3A, Lab 5).
    save_strategy="no",
    seed=LAB.seed,
)
