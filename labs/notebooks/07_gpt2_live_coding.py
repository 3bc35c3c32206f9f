# %% [markdown]
# # Live coding: fine-tune GPT-2 with `Trainer`
#
# The seed's companion notebook (`notebooks/llm/gpt2.py`): a causal language model learns
# the style of the workshop's movie reviews. We measure perplexity before and after, and
# sample a continuation.
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
from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainingArguments

from workshop import LAB
from workshop.data import from_pretrained, load_sentiment

lm_tokenizer = from_pretrained(AutoTokenizer, LAB.causal_model, "WORKSHOP_CAUSAL_MODEL")
if lm_tokenizer.pad_token is None:  # GPT-2 has no padding token; batches are padded with EOS
    lm_tokenizer.pad_token = lm_tokenizer.eos_token
lm_model = from_pretrained(AutoModelForCausalLM, LAB.causal_model, "WORKSHOP_CAUSAL_MODEL")
print(f"{LAB.causal_model}: {lm_model.num_parameters() / 1e6:.1f}M parameters")

# %% [markdown]
# Tokenize the reviews and cut the token stream into fixed-size blocks: every position
# predicts the next token, so no labels are needed beyond the text itself.

# %% tags=["task-gpt2"]
reviews = load_sentiment()
block_size = min(LAB.size.lm_block_size, lm_tokenizer.model_max_length)


def tokenize_reviews(batch):
    return lm_tokenizer([text + (lm_tokenizer.eos_token or "") for text in batch["text"]])


def group_into_blocks(batch):
    stream = list(itertools.chain.from_iterable(batch["input_ids"]))
    usable = len(stream) // block_size * block_size
    blocks = [stream[i : i + block_size] for i in range(0, usable, block_size)]
    return {"input_ids": blocks, "attention_mask": [[1] * block_size for _ in blocks]}


def lm_split(split, limit):
    rows = reviews[split] if limit is None else reviews[split].select(range(min(limit, len(reviews[split]))))
    tokens = rows.map(tokenize_reviews, batched=True, remove_columns=rows.column_names)
    return tokens.map(group_into_blocks, batched=True, remove_columns=tokens.column_names)


lm_train = lm_split("train", LAB.size.lm_train_examples)
lm_eval = lm_split("eval", LAB.size.lm_eval_examples)
print(f"{len(lm_train)} training blocks and {len(lm_eval)} evaluation blocks of {block_size} tokens")

# %% [markdown]
# `DataCollatorForLanguageModeling(mlm=False)` copies `input_ids` into `labels`; the model
# shifts them by one inside its loss. Perplexity is `exp(eval_loss)`.

# %% tags=["task-gpt2"]
lm_args = TrainingArguments(
    output_dir=LAB.out("gpt2"),
    per_device_train_batch_size=8,
    per_device_eval_batch_size=8,
    num_train_epochs=1 if LAB.size.name != "smoke" else 3,
    learning_rate=5e-4 if lm_model.num_parameters() < 10_000_000 else 5e-5,
    logging_steps=10,
    save_strategy="no",
    seed=LAB.seed,
)
lm_trainer = Trainer(
    model=lm_model,
    args=lm_args,
    train_dataset=lm_train,
    eval_dataset=lm_eval,
    processing_class=lm_tokenizer,
    data_collator=DataCollatorForLanguageModeling(lm_tokenizer, mlm=False),
)
perplexity_before = math.exp(lm_trainer.evaluate()["eval_loss"])
lm_trainer.train()
perplexity_after = math.exp(lm_trainer.evaluate()["eval_loss"])
print(f"perplexity before={perplexity_before:.1f} after={perplexity_after:.1f}")

# %% tags=["task-gpt2"]
prompt = "the film was"
inputs = lm_tokenizer(prompt, return_tensors="pt").to(lm_model.device)
lm_model.eval()
with torch.no_grad():
    generated = lm_model.generate(
        **inputs, max_new_tokens=20, do_sample=True, top_p=0.9, pad_token_id=lm_tokenizer.pad_token_id
    )
sample = lm_tokenizer.decode(generated[0], skip_special_tokens=True)
print(sample)
