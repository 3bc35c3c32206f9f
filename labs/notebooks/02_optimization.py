# %% [markdown]
# # Lab 2 – Optimization Experiments
#
# **Goal:** Experiment with optimizer switches, schedulers, and gradient controls.
#
# **Discuss:** Compare parameter grouping in [[Trainer.create_optimizer]] vs. manual injection.
#
# **Do:** Mix and match snippets; encourage side-by-side diffing of `trainer_state.json`.

# %%
# %run ./00_setup.ipynb


# %%
def learning_rates(trainer):
    """The learning rate Trainer logged at each logging step."""
    return [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]


def unwrap(optimizer):
    """Trainer wraps optimizers in accelerate's AcceleratedOptimizer; the real one is inside."""
    return getattr(optimizer, "optimizer", optimizer)


# %% [markdown]
# ## Task 2A — Adafactor & warmup
#
# **Source:** [[Trainer.get_optimizer_cls_and_kwargs]], [[Trainer.create_scheduler]]
#
# `optim="adafactor"` is translated into an optimizer class by the switchboard in
# `get_optimizer_cls_and_kwargs`; the scheduler warms up over the first 10% of steps and
# then stays constant.
#
# *Changed since the seed:* `warmup_ratio` is gone in v5; `warmup_steps` takes a float
# below 1 as a ratio of the total steps.

# %% tags=["task-2A"]
adafactor_args = TrainingArguments(
    output_dir=LAB.out("adafactor"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    optim="adafactor",
    learning_rate=5e-4,
    lr_scheduler_type="constant_with_warmup",
    warmup_steps=0.1,
    logging_steps=5,
    seed=LAB.seed,
)
adafactor_trainer = Trainer(
    model=model_init(),
    args=adafactor_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
adafactor_trainer.train()
print("optimizer:", type(unwrap(adafactor_trainer.optimizer)).__name__)
print("learning rates:", learning_rates(adafactor_trainer))

# %% [markdown]
# ## Task 2B — Inject a custom optimizer
#
# **Source:** [[Trainer.create_optimizer]]
#
# Pass `optimizers=(optimizer, None)`: Trainer uses your optimizer as is (no parameter
# grouping of its own) and still builds the default linear scheduler around it.

# %% tags=["task-2B"]
from torch.optim import AdamW

model = model_init()
optimizer = AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)

trainer_with_optimizer = Trainer(
    model=model,
    args=base_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
    optimizers=(optimizer, None),
)
trainer_with_optimizer.train()
print("Trainer used our optimizer:", unwrap(trainer_with_optimizer.optimizer) is optimizer)

# %% [markdown]
# ## Task 2C — Manual optimizer + scheduler
#
# **Source:** [[Trainer.create_optimizer_and_scheduler]]
#
# Create the optimizer and scheduler yourself before `train()`; Trainer only creates the
# ones that are still missing, so yours are used.

# %% tags=["task-2C"]
manual_trainer = Trainer(
    model=model_init(),
    args=base_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
num_batches_per_epoch = len(manual_trainer.get_train_dataloader())
num_training_steps = num_batches_per_epoch * int(manual_trainer.args.num_train_epochs)
manual_trainer.create_optimizer_and_scheduler(num_training_steps=num_training_steps)
manual_optimizer, manual_scheduler = manual_trainer.optimizer, manual_trainer.lr_scheduler
manual_trainer.train()
print(f"{num_training_steps} steps planned, {manual_trainer.state.global_step} run")
print("learning rates:", learning_rates(manual_trainer))

# %% [markdown]
# ## Task 2D — Cosine schedule
#
# **Source:** [[Trainer.create_scheduler]]
#
# Warm up linearly, then follow a cosine down to zero at the last step.
#
# *Changed since the seed:* the seed built a 1000-step scheduler by hand and then trained
# for far fewer steps, so the cosine never came down. Size the schedule by the steps that
# will actually run (here: let `train()` build it). The warmup length comes from the lab
# size (`LAB.size.warmup_steps`: 100 in the classroom, fewer in the short smoke run).

# %% tags=["task-2D"]
cosine_args = TrainingArguments(
    output_dir=LAB.out("cosine"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    learning_rate=5e-5,
    lr_scheduler_type="cosine",
    warmup_steps=LAB.size.warmup_steps,
    logging_steps=5,
    seed=LAB.seed,
)
cosine_trainer = Trainer(
    model=model_init(),
    args=cosine_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
cosine_trainer.train()
print("scheduler:", cosine_trainer.args.lr_scheduler_type)
print("learning rates:", learning_rates(cosine_trainer))

# %% [markdown]
# ## Task 2E — Gradient clipping & norm logging
#
# **Source:** [[Trainer._clip_grad_norm]], [[Trainer._maybe_log_save_evaluate]]
#
# Clip gradients to a norm of 0.5, accumulate 2 batches per step, and print the gradient
# norm each time Trainer logs. (The logged `grad_norm` is the norm *before* clipping.)

# %% tags=["task-2E"]
from transformers import TrainerCallback


class GradNormPrinter(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "grad_norm" in logs:
            print(f"step={state.global_step} grad_norm={logs['grad_norm']:.4f}")


clip_args = TrainingArguments(
    output_dir=LAB.out("clip"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    max_grad_norm=0.5,
    gradient_accumulation_steps=2,
    logging_strategy="steps",
    logging_steps=10,
    seed=LAB.seed,
)
clip_trainer = Trainer(
    model=model_init(),
    args=clip_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
    callbacks=[GradNormPrinter()],
)
clip_trainer.train()
