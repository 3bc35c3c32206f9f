# %% [markdown]
# # Lab 1 – Bootstrapping Trainer
#
# **Goal:** Map the constructor flow and default data pipeline to source code.
#
# **Discuss:** Have students locate [[Trainer]] and follow `__init__` through dataset preparation.
#
# **Do:** Run each task, inspecting console logs to connect arguments with behavior.

# %%
# %run ./00_setup.ipynb

# %% [markdown]
# ## Task 1A — Basic supervised run
#
# **Source:** [[Trainer.__init__]], [[Trainer.train]]
#
# Build a `Trainer` from a model, the shared arguments and the datasets, and train one
# epoch. Evaluate before and after: the evaluation loss on held-out reviews should drop.

# %% tags=["task-1A"]
trainer = Trainer(
    model=model_init(),
    args=base_args,
    train_dataset=train_ds,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
)
before = trainer.evaluate()
trainer.train()
after = trainer.evaluate()
print(f"eval loss before={before['eval_loss']:.4f} after={after['eval_loss']:.4f}")

# %% [markdown]
# ## Task 1B — `model_init` pathway
#
# **Source:** [[Trainer.__init__]], [[Trainer.call_model_init]]
#
# Give `Trainer` a *function* that builds the model instead of a model. `train()` calls it
# again, so every run (and every hyperparameter-search trial in Lab 6) starts from fresh
# weights.

# %% tags=["task-1B"]
model_init_trainer = Trainer(
    model_init=model_init,
    args=base_args,
    train_dataset=train_ds,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
)
model_before_train = model_init_trainer.model
model_init_trainer.train()
print("train() re-created the model:", model_init_trainer.model is not model_before_train)

# %% [markdown]
# ## Task 1C — Accelerator plugins (FSDP)
#
# **Source:** [[Trainer.create_accelerator_and_postprocess]], [[Trainer._prepare_for_training]]
#
# FSDP shards parameters, gradients and optimizer state across processes, and Trainer only
# enables it in a distributed launch, so it cannot run inside this notebook kernel. The
# training code is `fsdp/train_fsdp.py` (the seed's FSDP arguments, gradient checkpointing,
# `torch_compile=True`) with the accelerate config `fsdp/fsdp.yaml`; the cell below runs the
# `accelerate launch` command you would type in a terminal. Read `fsdp/train_fsdp.py`: it is
# the lesson. Beside it, `fsdp/cpu_sharding.py` shards the model at load time when there are
# not several GPUs, and `fsdp/proof.py` records what each process held and checks the first
# training step against one process: that is how this lab proves the sharding happened.
#
# - With several GPUs it starts one process per GPU, and accelerate's FSDP plugin shards the
#   model with FSDP2 (`fully_shard`) when Trainer prepares it.
# - With one GPU or none it starts 2 CPU processes talking over gloo, the GPU hidden:
#   accelerate 1.15 has no FSDP on the CPU (it would wrap DDP), so the script shards the model
#   while loading it, `from_pretrained(..., distributed_config=DistributedConfig(fsdp_size=2,
#   fsdp_plan=...))`, one FSDP2 unit per transformer layer, and Trainer trains that model
#   without wrapping it again.
#
# `fsdp_report.json` shows what each rank really holds (the word-embedding matrix split by
# rows into two halves, for example), and redoes Trainer's first step in one process on both
# ranks' batches: equal loss and gradients show the ranks' gradients were averaged.
#
# *The seed's code was wrong:* `fsdp=` in a one-process notebook kernel never ran FSDP; 4.57
# already raised "Using fsdp only works in distributed training". It has to be started with
# `accelerate launch`.
#
# *Changed in transformers 5:* the string form `fsdp="full_shard"` is deprecated; write
# `fsdp=True, fsdp_config={"reshard_after_forward": True}` (FSDP2 is now the default version).
#
# *Changed in transformers 5:* with several processes Trainer multiplies this classifier's
# loss by the number of processes (its `forward` takes `**kwargs`, so Trainer assumes it
# averages over all processes' tokens itself); the script sets `model.accepts_loss_kwargs = False`.

# %% tags=["task-1C"]
import json

import torch

from workshop.launch import accelerate_launch

gpus = torch.cuda.device_count()
num_processes = gpus if gpus >= 2 else 2  # one process per GPU; otherwise 2 CPU processes
accelerate_launch(
    [
        "--config_file",
        "fsdp/fsdp.yaml",
        "--num_processes",
        str(num_processes),
        "fsdp/train_fsdp.py",
        "--output-dir",
        LAB.out("fsdp"),
    ],
    cpu=gpus < 2,
)
with open(f"{LAB.out('fsdp')}/fsdp_report.json") as handle:
    fsdp_report = json.load(handle)
print(
    json.dumps({key: fsdp_report[key] for key in ("wrapper", "world_size", "backend", "ranks", "parameters")}, indent=1)
)
print(json.dumps(fsdp_report["gradient_check"], indent=1))

# %% [markdown]
# ## Task 1D — Custom data collator
#
# **Source:** [[Trainer.__init__]], [[Trainer._get_dataloader]], [[Trainer._remove_unused_columns]]
#
# A collator turns a list of examples into a batch. This one carries the `meta` column
# (side information the model never sees) alongside the padded tensors.
#
# *The seed's code was wrong:* `remove_unused_columns=False` is what lets `meta` reach the
# collator, but it also lets the raw text in, which the seed's collator tried to pad and
# failed (on 4.57 too); this collator drops it.
#
# *Changed in transformers 5:* a `meta` left in the batch is silently ignored (the model's
# `forward` now takes `**kwargs`; 4.57 raised TypeError), so take it out before `forward` or
# you lose it unnoticed.

# %% tags=["task-1D"]
from dataclasses import dataclass

import torch
from transformers import DataCollatorWithPadding


@dataclass
class MetaCollator(DataCollatorWithPadding):
    def __call__(self, features):
        meta = [f.pop("meta") for f in features]
        for f in features:
            f.pop("text", None)  # raw strings cannot be padded into a tensor
        batch = super().__call__(features)
        batch["meta"] = torch.tensor(meta)
        return batch


class MetaAwareTrainer(Trainer):
    """Takes `meta` out of each batch before the model sees it, and keeps it."""

    seen_meta: list

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self.seen_meta.extend(inputs.pop("meta").tolist())
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


collator = MetaCollator(tokenizer=tokenizer, padding=True)
collator_args = TrainingArguments(
    output_dir=LAB.out("collator"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    logging_steps=10,
    remove_unused_columns=False,  # let `meta` and `text` reach the collator
    save_strategy="no",
    seed=LAB.seed,
)
collator_trainer = MetaAwareTrainer(
    model=model_init(),
    args=collator_args,
    train_dataset=train_ds,
    data_collator=collator,
)
collator_trainer.seen_meta = []
collator_trainer.train()
print(f"the collator delivered meta for {len(collator_trainer.seen_meta)} examples")

# %% [markdown]
# ## Task 1E — Custom dataloader
#
# **Source:** [[Trainer.get_train_dataloader]], [[Trainer._get_dataloader]]
#
# Override `get_train_dataloader` to oversample the negative class 5:1 with a
# `WeightedRandomSampler`.
#
# *The seed's code was wrong:* iterating `self.train_dataset` decodes every row (read the
# `labels` column once), and its loader skipped `_remove_unused_columns` and
# `accelerator.prepare`, which Trainer's own loader applied in 4.57 too.

# %% tags=["task-1E"]
import torch


class WeightedTrainer(Trainer):
    def get_train_dataloader(self):
        labels = torch.tensor(self.train_dataset["labels"])
        weights = torch.where(labels == 0, 5.0, 1.0)
        sampler = torch.utils.data.WeightedRandomSampler(weights, len(weights))
        loader = torch.utils.data.DataLoader(
            self._remove_unused_columns(self.train_dataset, description="training"),
            batch_size=self.args.train_batch_size,
            sampler=sampler,
            collate_fn=self.data_collator,
            drop_last=self.args.dataloader_drop_last,
            num_workers=self.args.dataloader_num_workers,
        )
        return self.accelerator.prepare(loader)


weighted_trainer = WeightedTrainer(
    model=model_init(),
    args=base_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
sampled = torch.cat([batch["labels"] for batch in weighted_trainer.get_train_dataloader()])
print(
    f"negative share: dataset={float((torch.tensor(train_ds['labels']) == 0).float().mean()):.2f} "
    f"sampled={float((sampled == 0).float().mean()):.2f}"
)
weighted_trainer.train()
