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
from workshop.curves import plot_history


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
# `get_optimizer_cls_and_kwargs` dispatches `optim="adafactor"` to its handler in
# `trainer_optimizer.py`; the scheduler warms up over the first 10% of steps and then stays
# constant.
#
# *Changed in transformers 5:* `warmup_ratio` is gone (TypeError); `warmup_steps` takes a
# float below 1 as a ratio of the total steps (4.57 accepted only an integer there).

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
    save_strategy="no",
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
plot_history(adafactor_trainer, "learning_rate", title="Adafactor: warmup, then constant")

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
# **Source:** [[Trainer.create_optimizer_and_scheduler]], [[Trainer.create_scheduler]],
# [[Trainer._prepare_for_training]]
#
# Create the optimizer and the scheduler before `train()` with Trainer's own
# `create_optimizer_and_scheduler`, then see which of them `train()` uses. It keeps the
# optimizer. The scheduler is a different story: `create_scheduler` marks the one it builds
# as Trainer's own (`_created_lr_scheduler`), and `_prepare_for_training` throws that one
# away at `train()` and builds a new one for the steps the run will really take.
#
# *The seed's code was wrong:* its hand-made scheduler was never used: 4.57's `train()` also
# discarded a scheduler built by `create_scheduler` and rebuilt it for the real step count.

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
print("train() kept our optimizer:", unwrap(manual_trainer.optimizer) is manual_optimizer)
print("train() kept our scheduler:", manual_trainer.lr_scheduler is manual_scheduler)

# %% [markdown]
# To keep a schedule of your own, build it yourself and hand Trainer both objects:
# `optimizers=(optimizer, scheduler)`. A scheduler passed in is never replaced. Here it is
# a constant learning rate, which `base_args` alone would never give (its default is a
# linear decay to zero), so the logged rates show whose scheduler ran.

# %% tags=["task-2C"]
from torch.optim import AdamW
from transformers import get_constant_schedule

own_model = model_init()
own_optimizer = AdamW(own_model.parameters(), lr=base_args.learning_rate)
own_scheduler = get_constant_schedule(own_optimizer)
own_trainer = Trainer(
    model=own_model,
    args=base_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
    optimizers=(own_optimizer, own_scheduler),
)
own_trainer.train()
print("train() kept our scheduler:", own_trainer.lr_scheduler is own_scheduler)
plot_history({"create_scheduler (replaced)": manual_trainer, "passed in optimizers=": own_trainer}, "learning_rate")

# %% [markdown]
# ## Task 2D — Cosine schedule
#
# **Source:** [[Trainer.create_scheduler]], [[Trainer._prepare_for_training]]
#
# Warm up linearly, then follow a cosine down to zero. The seed builds the optimizer and a
# 1000-step scheduler by hand before `train()`; as in 2C, `train()` replaces that scheduler
# with one sized for the steps it really runs, so the cosine reaches zero at the last step
# whatever number you gave. The warmup length comes from the lab size
# (`LAB.size.warmup_steps`: 100 in the classroom, fewer in the short smoke run).
#
# *The seed's code was wrong:* `train()` discarded its 1000-step scheduler (on 4.57 too) and
# rebuilt it for the real run: one step of a 2-example dataset, inside the 100-step warmup.

# %% tags=["task-2D"]
cosine_args = TrainingArguments(
    output_dir=LAB.out("cosine"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    learning_rate=5e-5,
    lr_scheduler_type="cosine",
    warmup_steps=LAB.size.warmup_steps,
    logging_steps=5,
    save_strategy="no",
    seed=LAB.seed,
)
cosine_trainer = Trainer(
    model=model_init(),
    args=cosine_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
cosine_trainer.create_optimizer()
seed_scheduler = cosine_trainer.create_scheduler(num_training_steps=1000)
cosine_trainer.train()
print("train() kept the 1000-step scheduler:", cosine_trainer.lr_scheduler is seed_scheduler)
print(f"{cosine_trainer.state.global_step} steps run; learning rates:", learning_rates(cosine_trainer))
plot_history(cosine_trainer, "learning_rate", title="cosine with warmup, sized by train()")

# %% [markdown]
# ## Task 2E — Gradient clipping & norm logging
#
# **Source:** [[Trainer._clip_grad_norm]], [[Trainer._maybe_log_save_evaluate]], [[TrainerCallback]]
#
# Clip gradients to a norm of 0.5, accumulate 2 batches per step, and print the gradient
# norm each time Trainer logs. The logged `grad_norm` is the norm *before* clipping
# (`_clip_grad_norm` returns it). To see the clipping itself, a second callback measures
# the norm in `on_pre_optimizer_step`, which Trainer calls after clipping and before the
# optimizer step: it never exceeds 0.5.
#
# *Changed in transformers 5:* with gradient accumulation, Trainer divides each micro-batch's
# loss by the accumulation steps only when the model does not accept loss kwargs
# (`model_accepts_loss_kwargs`: its `accepts_loss_kwargs` attribute, else whether `forward`
# takes `**kwargs`) and no `compute_loss_func` is given, unless `loss_is_scaled_for_ga` is
# set. DistilBERT's and BERT's `forward` now take `**kwargs`, so Trainer assumes their loss
# is already normalised (a sequence classifier's is not): the logged loss and the gradient
# here are the *sum* of the 2 micro-batch means, about twice one batch's. 4.57 divided. Set
# `loss_is_scaled_for_ga = False` on a Trainer subclass to get the mean back.

# %% tags=["task-2E"]
import torch
from transformers import TrainerCallback


class GradNormPrinter(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "grad_norm" in logs:
            print(f"step={state.global_step} grad_norm={logs['grad_norm']:.4f}")


class ClippedNormRecorder(TrainerCallback):
    """The gradient norm the optimizer really steps with, one entry per optimizer step."""

    def __init__(self):
        self.history = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
        self.history.append({"step": state.global_step + 1, "grad_norm": float(norm)})


clip_args = TrainingArguments(
    output_dir=LAB.out("clip"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    max_grad_norm=0.5,
    gradient_accumulation_steps=2,
    logging_strategy="steps",
    logging_steps=10,
    save_strategy="no",
    seed=LAB.seed,
)
clipped_norms = ClippedNormRecorder()
clip_trainer = Trainer(
    model=model_init(),
    args=clip_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
    callbacks=[GradNormPrinter(), clipped_norms],
)
clip_trainer.train()
print("Trainer divides each micro-batch's loss by the accumulation steps:", not clip_trainer.model_accepts_loss_kwargs)
plot_history(
    {"logged (before clipping)": clip_trainer, "stepped with (after clipping)": clipped_norms.history}, "grad_norm"
)
