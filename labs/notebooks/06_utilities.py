# %% [markdown]
# # Lab 6 – Utilities & Extensions
#
# **Goal:** Explore advanced APIs for experimentation and distributed runs.
#
# **Discuss:** Review [[Trainer.hyperparameter_search]] requirements (`model_init`, reinitialization).
#
# **Do:** Position these as optional stretch goals or homework.

# %%
# %run ./00_setup.ipynb

# %% [markdown]
# ## Task 6A — Hyperparameter search
#
# **Source:** [[Trainer.hyperparameter_search]]
#
# Optuna tries several learning rates; each trial re-creates the model with `model_init`.
# The study is stored in SQLite so you can inspect every trial afterwards.
#
# The number of trials follows the lab size.
#
# *The seed's code was wrong:* 4.57 already had only `eval_strategy` (`evaluation_strategy`
# raised TypeError), and the objective's key is `eval_accuracy`, not `validation/accuracy`
# (see Lab 4A).

# %% tags=["task-6A"]
import os

import optuna
from transformers import TrainerCallback


def hp_space(trial):
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-5, 5e-4, log=True)}


def compute_metrics(eval_pred):
    predictions = eval_pred.predictions.argmax(-1)
    return {"accuracy": float((predictions == eval_pred.label_ids).mean())}


class TrialRecorder(TrainerCallback):
    """The learning rate each trial's optimizer really started with."""

    def __init__(self):
        self.learning_rates = []

    def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
        self.learning_rates.append(optimizer.param_groups[0]["initial_lr"])


search_args = TrainingArguments(
    output_dir=LAB.out("hp"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    eval_strategy="steps",
    eval_steps=50,
    save_strategy="no",
    seed=LAB.seed,
)
trials = TrialRecorder()
search_trainer = Trainer(
    model_init=model_init,
    args=search_args,
    train_dataset=train_ds,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
    compute_metrics=compute_metrics,
    callbacks=[trials],
)

study_db = os.path.abspath(os.path.join(LAB.out("hp"), "optuna.db"))
os.makedirs(os.path.dirname(study_db), exist_ok=True)
if os.path.exists(study_db):
    os.remove(study_db)  # a fresh study each time the cell runs
best_run = search_trainer.hyperparameter_search(
    direction="maximize",
    backend="optuna",
    hp_space=hp_space,
    compute_objective=lambda metrics: metrics["eval_accuracy"],
    n_trials=LAB.size.hp_trials,
    study_name="workshop-hp",
    storage=f"sqlite:///{study_db}",
)
print(best_run)
study = optuna.load_study(study_name="workshop-hp", storage=f"sqlite:///{study_db}")
for trial, started_with in zip(study.trials, trials.learning_rates, strict=True):
    print(trial.number, trial.state.name, trial.params, f"optimizer lr {started_with:.2e}", trial.value)

# %% [markdown]
# ## Task 6B — Parameter accounting
#
# **Source:** [[Trainer.get_num_trainable_parameters]]

# %% tags=["task-6B"]
param_trainer = Trainer(
    model=model_init(),
    args=base_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
print(param_trainer.get_num_trainable_parameters())

# %% [markdown]
# ## Task 6C — Effective batch size
#
# **Source:** [[Trainer.get_total_train_batch_size]]
#
# One optimizer step consumes per-device batch × gradient-accumulation steps × data-parallel
# processes examples. In this one-process notebook with at most one GPU that is just the
# batch size (a kernel that sees several GPUs uses DataParallel and multiplies it by their
# number); with 4
# accumulation steps it is 4 times that, and a short run shows Trainer really feeds that
# many examples into each optimizer step.
#
# *The seed's code was wrong:* `get_total_train_batch_size` already required the
# `TrainingArguments` in 4.57; pass `trainer.args`.

# %% tags=["task-6C"]
print(param_trainer.get_total_train_batch_size(param_trainer.args))


class CountingTrainer(Trainer):
    """Counts the examples that go through training_step."""

    examples = 0

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.examples += len(inputs["labels"])
        return super().training_step(model, inputs, num_items_in_batch)


accumulation_args = TrainingArguments(
    output_dir=LAB.out("accumulation"),
    per_device_train_batch_size=8,
    gradient_accumulation_steps=4,
    max_steps=3,
    save_strategy="no",
    seed=LAB.seed,
)
counting_trainer = CountingTrainer(
    model=model_init(),
    args=accumulation_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
total_batch = counting_trainer.get_total_train_batch_size(accumulation_args)
counting_trainer.train()
print(
    f"total train batch size {total_batch}: {counting_trainer.examples} examples "
    f"in {counting_trainer.state.global_step} optimizer steps"
)

# %% [markdown]
# ## Task 6D — Explicit RNG control
#
# **Source:** [[Trainer._load_rng_state]], [[Trainer._save_rng_state]]

# %% tags=["task-6D"]
import torch

rng_dir = LAB.out("basic/rng")
os.makedirs(rng_dir, exist_ok=True)
param_trainer._save_rng_state(rng_dir)
first_draw = torch.randn(4)
param_trainer._load_rng_state(rng_dir)
second_draw = torch.randn(4)
print("restored RNG repeats the draw:", torch.equal(first_draw, second_draw))

# %% [markdown]
# ## Task 6E — Distributed barrier helpers
#
# **Source:** [[Trainer.is_world_process_zero]]
#
# In a notebook there is one process, so the barrier returns at once and this process is
# the world's process zero. A barrier only means something with several processes:
# `distributed/barrier.py` starts two (on the CPU, talking over gloo), makes rank 1 slow,
# and shows rank 0 waiting at `wait_for_everyone()` until rank 1 arrives. Each rank prints
# how long it waited; only rank 0, the world's process zero, prints "Primary rank finished
# syncing." and writes the report.

# %% tags=["task-6E"]
import json

from workshop.launch import accelerate_launch

param_trainer.accelerator.wait_for_everyone()
if param_trainer.is_world_process_zero():
    print("Primary rank finished syncing.")
print("processes:", param_trainer.accelerator.num_processes)

accelerate_launch(
    ["--multi_gpu", "--num_processes", "2", "distributed/barrier.py", "--output-dir", LAB.out("barrier")], cpu=True
)
with open(os.path.join(LAB.out("barrier"), "barrier_report.json")) as handle:
    barrier_report = json.load(handle)
print(json.dumps(barrier_report, indent=2))
