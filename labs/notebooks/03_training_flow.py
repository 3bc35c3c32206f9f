# %% [markdown]
# # Lab 3 – Training Flow & Control
#
# **Goal:** Manipulate the core training loop and reason about gradient flow.
#
# **Discuss:** Step through [[Trainer._inner_training_loop]] and its per-epoch [[Trainer._run_epoch]] while
# running a short training job.
#
# **Do:** Encourage learners to inspect `trainer_state.json` between tasks.

# %%
# %run ./00_setup.ipynb

# %% [markdown]
# ## Task 3A — Resume from checkpoint
#
# **Source:** [[Trainer.train]], [[Trainer._load_from_checkpoint]], [[Trainer._load_rng_state]]
#
# Train one epoch with a checkpoint every 50 steps, keeping the newest two
# (`save_total_limit=2`: each checkpoint holds the weights *and* the optimizer state, about
# 0.8 GB for DistilBERT). Then resume from the older one. The checkpoint holds the weights,
# optimizer, scheduler, the position in the data and the RNG state, so the resumed run
# trains only the steps after the checkpoint, and repeats the first run's losses at those
# steps exactly (on a CPU to the last digits; a GPU may differ in the last few).

# %% tags=["task-3A"]
import glob
import os

from transformers import TrainerCallback

from workshop.curves import plot_history

resume_args = TrainingArguments(
    output_dir=LAB.out("resume"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    save_strategy="steps",
    save_steps=50,
    save_total_limit=2,
    logging_steps=5,
    seed=LAB.seed,
)
resume_trainer = Trainer(
    model=model_init(),
    args=resume_args,
    train_dataset=train_ds,
    processing_class=tokenizer,
)
resume_trainer.train()
first_run = list(resume_trainer.state.log_history)

kept = sorted(glob.glob(os.path.join(LAB.out("resume"), "checkpoint-*")), key=lambda path: int(path.rsplit("-", 1)[1]))
checkpoint = kept[0]  # the older of the two kept: the run has steps left after it
resumed_from = int(checkpoint.rsplit("-", 1)[1])
print("checkpoints kept:", [os.path.basename(path) for path in kept])
print(f"{os.path.basename(checkpoint)} holds:", sorted(os.listdir(checkpoint)))


# %% tags=["task-3A"]
class StepRecorder(TrainerCallback):
    """Which optimizer steps a run really trains."""

    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


resumed_steps = StepRecorder()
resume_trainer.add_callback(resumed_steps)
resume_trainer.train(resume_from_checkpoint=checkpoint)
resumed_run = [entry for entry in resume_trainer.state.log_history if entry["step"] > resumed_from]
print(f"the resumed run trained steps {resumed_steps.steps[0]}..{resumed_steps.steps[-1]}")
first_losses = {entry["step"]: entry["loss"] for entry in first_run if "loss" in entry}
for entry in resumed_run:
    if "loss" in entry:
        print(f"step {entry['step']}: first run {first_losses[entry['step']]:.6f}  resumed {entry['loss']:.6f}")
plot_history(
    {"first run": first_run, f"resumed from checkpoint-{resumed_from}": resumed_run}, "loss", mark_steps=[resumed_from]
)

# %% [markdown]
# ## Task 3B — Custom loss shaping
#
# **Source:** [[Trainer.compute_loss]]
#
# Add an entropy term to the model's loss.
#
# *The seed's code was wrong:* 4.57 already called `compute_loss(model, inputs,
# num_items_in_batch=...)`, so the seed's override without that parameter raised TypeError.

# %% tags=["task-3B"]
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
# *The seed's code was wrong:* 4.57 already called `training_step(model, inputs,
# num_items_in_batch)`, so the two-argument override raised TypeError. Backward goes through
# `self.accelerator.backward(loss)`: plain `loss.backward()` skips fp16 loss scaling and
# DeepSpeed's backward.


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
