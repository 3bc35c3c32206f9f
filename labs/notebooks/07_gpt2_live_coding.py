# %% [markdown]
# # Live coding: fine-tune GPT-2 with `Trainer`
#
# The seed's companion notebook (`notebooks/llm/gpt2.py`): a causal language model learns
# the style of the workshop's movie reviews. We sample a continuation before and after
# fine-tuning, and watch the perplexity fall while it trains.
#
# **Source:** [[Trainer.train]], [[Trainer.evaluate]], [[DataCollatorForLanguageModeling]]
#
# The model is a setting: `WORKSHOP_CAUSAL_MODEL` (default `openai-community/gpt2`).

# %% tags=["task-gpt2"]
import itertools
import math
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)

from workshop import LAB
from workshop.curves import plot_history
from workshop.data import from_pretrained, load_sentiment

lm_tokenizer = from_pretrained(AutoTokenizer, LAB.causal_model, "WORKSHOP_CAUSAL_MODEL")
if lm_tokenizer.pad_token is None:  # GPT-2 has none; generate() gets EOS (training never pads)
    lm_tokenizer.pad_token = lm_tokenizer.eos_token
lm_model = from_pretrained(AutoModelForCausalLM, LAB.causal_model, "WORKSHOP_CAUSAL_MODEL")
print(f"{LAB.causal_model}: {lm_model.num_parameters() / 1e6:.1f}M parameters")

# %% [markdown]
# Tokenize the reviews, end each with the end-of-text token (EOS), and cut the token stream
# into fixed-size blocks. Every position predicts the next token, so the labels are a copy of
# `input_ids`: the model shifts them by one inside its loss
# ([[transformers.loss.loss_utils.ForCausalLMLoss|ForCausalLMLoss]]).
#
# Why not `DataCollatorForLanguageModeling(mlm=False)`? It sets the label to -100 (ignored)
# wherever `input_ids == pad_token_id`, and GPT-2's padding token is its EOS: the model would
# never learn to end a review. Our blocks are all the same length, so nothing needs padding
# and [[default_data_collator]] only stacks them into tensors.

# %% tags=["task-gpt2"]
reviews = load_sentiment()
block_size = min(LAB.size.lm_block_size, lm_tokenizer.model_max_length)


def tokenize_reviews(batch):
    return lm_tokenizer([text + (lm_tokenizer.eos_token or "") for text in batch["text"]])


def group_into_blocks(batch):
    stream = list(itertools.chain.from_iterable(batch["input_ids"]))
    usable = len(stream) // block_size * block_size
    blocks = [stream[i : i + block_size] for i in range(0, usable, block_size)]
    return {"input_ids": blocks, "attention_mask": [[1] * block_size for _ in blocks], "labels": blocks}


def lm_split(split, limit):
    rows = reviews[split] if limit is None else reviews[split].select(range(min(limit, len(reviews[split]))))
    tokens = rows.map(tokenize_reviews, batched=True, remove_columns=rows.column_names)
    return tokens.map(group_into_blocks, batched=True, remove_columns=tokens.column_names)


lm_train = lm_split("train", LAB.size.lm_train_examples)
lm_eval = lm_split("eval", LAB.size.lm_eval_examples)
print(f"{len(lm_train)} training blocks and {len(lm_eval)} evaluation blocks of {block_size} tokens")

# %% [markdown]
# Perplexity is `exp(eval_loss)`. `eval_on_start=True` evaluates the untouched model at
# step 0; `eval_steps=0.25` (a float below 1 is a fraction of the run's steps) evaluates about
# every quarter of the run, and a step-based eval strategy also evaluates at the last step.

# %% tags=["task-gpt2"]
lm_args = TrainingArguments(
    output_dir=LAB.out("gpt2"),
    per_device_train_batch_size=8,
    per_device_eval_batch_size=8,
    num_train_epochs=LAB.size.lm_epochs,
    learning_rate=LAB.size.lm_learning_rate,
    logging_steps=10,
    eval_strategy="steps",
    eval_steps=0.25,
    eval_on_start=True,
    save_strategy="no",
    seed=LAB.seed,
)
lm_trainer = Trainer(
    model=lm_model,
    args=lm_args,
    train_dataset=lm_train,
    eval_dataset=lm_eval,
    processing_class=lm_tokenizer,
    data_collator=default_data_collator,
)

# %% [markdown]
# Before training: how does the model continue a prompt? `continue_prompt()` seeds the
# sampler, so its output is reproducible; we call it again after training.

# %% tags=["task-gpt2"]
prompt = "the film was"


def continue_prompt():
    set_seed(LAB.seed)
    lm_model.eval()
    inputs = lm_tokenizer(prompt, return_tensors="pt").to(lm_model.device)
    with torch.no_grad():
        generated = lm_model.generate(
            **inputs, max_new_tokens=20, do_sample=True, top_p=0.9, pad_token_id=lm_tokenizer.pad_token_id
        )
    return inputs, generated


_, generated_before = continue_prompt()
sample_before = lm_tokenizer.decode(generated_before[0], skip_special_tokens=True)
print(sample_before)

# %% tags=["task-gpt2"]
lm_trainer.train()
perplexities = [math.exp(entry["eval_loss"]) for entry in lm_trainer.state.log_history if "eval_loss" in entry]
perplexity_before, perplexity_after = perplexities[0], perplexities[-1]
print(f"perplexity before={perplexity_before:.1f} after={perplexity_after:.1f}")

# %% tags=["task-gpt2"]
plot_history(lm_trainer, "eval_loss", transform=math.exp, ylabel="perplexity")

# %% tags=["task-gpt2"]
inputs, generated = continue_prompt()
sample = lm_tokenizer.decode(generated[0], skip_special_tokens=True)
print(f"before: {sample_before}\nafter:  {sample}")
