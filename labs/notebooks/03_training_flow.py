# %% [markdown]
# # Lab 3 – Training Flow & Control
#
# **Goal:** Manipulate the core training loop and reason about gradient flow.
#
# **Discuss:** Step through [[Trainer._inner_training_loop]] while running a short training job.
#
# **Do:** Encourage learners to inspect `trainer_state.json` between tasks.

# %%
# %run ./00_setup.ipynb

# %% [markdown]
# ## Task 3A — Resume from checkpoint
#
# **Source:** [[Trainer.train]], [[Trainer._load_from_checkpoint]], [[Trainer._load_rng_state]]
#
# Train one epoch with a checkpoint every 50 steps, then resume from `checkpoint-50`.
# The checkpoint holds the weights, optimizer, scheduler, the data position and the RNG
# state, so the resumed run repeats the first run's steps 51… exactly: compare the losses.

# %% tags=["task-3A"]
import os

resume_args = TrainingArguments(
    output_dir=LAB.out("resume"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    save_strategy="steps",
    save_steps=50,
    logging_steps=10,
    seed=LAB.seed,
)
resume_trainer = Trainer(
    model=model_init(),
    args=resume_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
resume_trainer.train()
first_run = {e["step"]: e["loss"] for e in resume_trainer.state.log_history if "loss" in e}

checkpoint = os.path.join(LAB.out("resume"), "checkpoint-50")
print("checkpoint-50 holds:", sorted(os.listdir(checkpoint)))
resume_trainer.train(resume_from_checkpoint=checkpoint)
resumed_run = {e["step"]: e["loss"] for e in resume_trainer.state.log_history if "loss" in e and e["step"] > 50}
for step, loss in resumed_run.items():
    print(f"step {step}: first run {first_run[step]:.4f}  resumed {loss:.4f}")

# %% [markdown]
# ## Task 3B — Custom loss shaping
#
# **Source:** [[Trainer.compute_loss]]
#
# Add an entropy term to the model's loss.
#
# *Changed since the seed:* `compute_loss` now also receives `num_items_in_batch` (used to
# normalise the loss over gradient-accumulation steps); an override must accept it.

# %% tags=["task-3B"]
import torch
import torch.nn.functional as F


class AuxPenaltyTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        base_loss = outputs.loss
        probs = F.softmax(outputs.logits, dim=-1)
        entropy_penalty = -(probs * probs.clamp_min(1e-9).log()).sum(dim=-1).mean()
        loss = base_loss + 0.01 * entropy_penalty
        return (loss, outputs) if return_outputs else loss


aux_trainer = AuxPenaltyTrainer(
    model=model_init(),
    args=base_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
aux_trainer.train()

# %% [markdown]
# ## Task 3C — Override `training_step`
#
# **Source:** [[Trainer.training_step]]
#
# Write the forward/backward step yourself.
#
# *Changed since the seed:* `training_step` now receives `num_items_in_batch`, and the
# backward pass should go through `self.accelerator.backward(loss)` (plain `loss.backward()`
# skips mixed-precision scaling and distributed hooks).

# %% tags=["task-3C"]
class ManualStepTrainer(Trainer):
    manual_steps = 0

    def training_step(self, model, inputs, num_items_in_batch=None):
        model.train()
        inputs = self._prepare_inputs(inputs)
        outputs = model(**inputs)
        loss = outputs.loss / self.args.gradient_accumulation_steps
        self.accelerator.backward(loss)
        self.manual_steps += 1
        return loss.detach()


manual_trainer = ManualStepTrainer(
    model=model_init(),
    args=base_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
manual_trainer.train()
print(f"our training_step ran {manual_trainer.manual_steps} times")

# %% [markdown]
# ## Task 3D — Custom logging hook
#
# **Source:** [[Trainer._maybe_log_save_evaluate]], [[TrainerCallback]]
#
# A callback's `on_log` sees every dictionary Trainer logs.

# %% tags=["task-3D"]
from transformers import TrainerCallback


class LossPrinter(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            print(f"step={state.global_step} loss={logs['loss']:.4f}")


callback_trainer = Trainer(
    model=model_init(),
    args=base_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
    callbacks=[LossPrinter()],
)
callback_trainer.train()
