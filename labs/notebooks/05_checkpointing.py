# %% [markdown]
# # Lab 5 – Checkpointing & Hub Sharing
#
# **Goal:** Manage checkpoints locally and push selectively to Hugging Face Hub.
#
# **Discuss:** Trace [[Trainer._save_checkpoint]] and highlight what goes into `trainer_state.json`.
#
# **Do:** Emphasize cleanup and disk budgeting when running multiple saves.

# %%
# %run ./00_setup.ipynb

# %% [markdown]
# ## Task 5A — Manual model save
#
# **Source:** [[Trainer.save_model]]
#
# `save_model` writes the weights, the config and (because we passed `processing_class`)
# the tokenizer: everything `from_pretrained` needs to load the fine-tuned model again.

# %% tags=["task-5A"]
import os

save_args = TrainingArguments(
    output_dir=LAB.out("manual"),
    per_device_train_batch_size=8,
    num_train_epochs=1,
    logging_steps=10,
    save_strategy="no",  # no checkpoint at the end of train(): this task saves by hand
    seed=LAB.seed,
)
save_trainer = Trainer(
    model=model_init(),
    args=save_args,
    train_dataset=train_ds,
    eval_dataset=eval_ds,
    processing_class=tokenizer,
)
save_trainer.train()
save_trainer.save_model(LAB.out("manual-save"))
print(sorted(os.listdir(LAB.out("manual-save"))))

# %% [markdown]
# ## Task 5B — Full state capture
#
# **Source:** [[Trainer._save_checkpoint]], [[Trainer._save_rng_state]], [[Trainer._load_rng_state]]
#
# `save_state` writes `trainer_state.json` (step, log history, best metric); the RNG helpers
# save and restore Python, NumPy and torch generators, which is what makes a resumed run
# draw the same dropout masks (the same batches come from the seeded sampler and the step
# count in `trainer_state.json`). Prove it: draw, restore, draw again.

# %% tags=["task-5B"]
import torch

save_trainer.save_state()
rng_dir = LAB.out("manual/rng")
os.makedirs(rng_dir, exist_ok=True)
save_trainer._save_rng_state(rng_dir)
draw_after_save = torch.rand(3)
save_trainer._load_rng_state(rng_dir)
draw_after_load = torch.rand(3)
print("trainer_state.json:", os.path.exists(os.path.join(save_args.output_dir, "trainer_state.json")))
print("same draws after restoring the RNG:", torch.equal(draw_after_save, draw_after_load))

# %% [markdown]
# ## Task 5C — Push to 🤗 Hub
#
# **Source:** [[Trainer.push_to_hub]]
#
# Pushing needs a Hugging Face token (`hf auth login`, or `HF_TOKEN`) and network access;
# the workshop image runs offline (`HF_HUB_OFFLINE=1`), so there this cell explains why it
# skips instead of failing.
#
# *The seed's code was wrong:* `push_to_hub` never took `repo_id` (4.57 passed it on to
# `create_model_card`: TypeError); the repository is the `hub_model_id` training argument,
# set here before pushing.
#
# *Changed in transformers 5:* `push_to_hub(private=True)` is now a real parameter; in 4.57
# `private=` went to `create_model_card` too and failed (`hub_private_repo=True` was the way).

# %% tags=["task-5C"]
from huggingface_hub import HfApi, get_token

if os.environ.get("HF_HUB_OFFLINE") == "1":
    hub_blocker = "HF_HUB_OFFLINE=1: this environment is offline (unset it on a machine with network access)"
elif get_token() is None:
    hub_blocker = "no Hugging Face token: run `hf auth login` or set HF_TOKEN"
else:
    hub_blocker = None

if hub_blocker:
    print(f"Not pushing: {hub_blocker}")
else:
    hub_repo = f"{HfApi().whoami()['name']}/trainer-workshop-demo"
    save_trainer.args.hub_model_id = hub_repo
    commit = save_trainer.push_to_hub(commit_message="Initial fine-tune", private=True)
    print("pushed:", commit)

# %% [markdown]
# ## Task 5D — Custom model card
#
# **Source:** [[Trainer.create_model_card]]
#
# The card is `README.md` in the output directory: name, dataset, language, the training
# hyperparameters, and the evaluation results Trainer logged (so evaluate first). The base
# model is read from the model's `_name_or_path`: a Hub id is credited as "fine-tuned
# version of …", but a model loaded from a local folder is described as "trained from
# scratch" unless you pass `finetuned_from=`.
#
# *The seed's code was wrong:* `create_model_card` never had `dataset_name=` or `metrics=`
# (4.57 has the same signature); use `dataset=`, and evaluate first: results are read from
# the log history.

# %% tags=["task-5D"]
card_metrics = save_trainer.evaluate()
save_trainer.create_model_card(
    model_name="distilbert-demo",
    dataset=LAB.dataset,
    language="en",
    tasks="text-classification",
)
with open(os.path.join(save_args.output_dir, "README.md")) as handle:
    model_card = handle.read()
print(model_card[:1200])
