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
# *Changed since the seed:* `evaluation_strategy` is now `eval_strategy`, and the metric is
# `eval_accuracy` (see Lab 4A). The number of trials follows the lab size.

# %% tags=["task-6A"]
import os

import optuna


def hp_space(trial):
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-5, 5e-4, log=True)}


def compute_metrics(eval_pred):
    predictions = eval_pred.predictions.argmax(-1)
    return {"accuracy": float((predictions == eval_pred.label_ids).mean())}


search_args = TrainingArguments(
    output_dir=LAB.out("hp"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    eval_strategy="steps",
    eval_steps=50,
    save_strategy="no",
    seed=LAB.seed,
)
search_trainer = Trainer(
    model_init=model_init,
    args=search_args,
    train_dataset=train_ds,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
    compute_metrics=compute_metrics,
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
for trial in study.trials:
    print(trial.number, trial.state.name, trial.params, trial.value)

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
# *Changed since the seed:* the method now takes the `TrainingArguments` to compute from:
# per-device batch × gradient accumulation × data-parallel processes.

# %% tags=["task-6C"]
print(param_trainer.get_total_train_batch_size(param_trainer.args))

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
# In a notebook there is one process, so the barrier returns at once; in Lab 1C's
# `accelerate launch` run every process waits here until all arrive.

# %% tags=["task-6E"]
param_trainer.accelerator.wait_for_everyone()
if param_trainer.is_world_process_zero():
    print("Primary rank finished syncing.")
print("processes:", param_trainer.accelerator.num_processes)
