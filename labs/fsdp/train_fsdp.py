"""Lab 1 Task C: FSDP2 with Trainer, so that each process holds only a shard of the model.

Several GPUs (one process per GPU, NCCL): accelerate's FSDP plugin shards the model when
Trainer prepares it (`fsdp=True` and `fsdp_config` in TrainingArguments: Trainer's plugin takes
these over fsdp/fsdp.yaml's FSDP settings; the yaml supplies the launch):

    accelerate launch --config_file fsdp/fsdp.yaml --num_processes N fsdp/train_fsdp.py --output-dir out/fsdp

No GPU, or only one: two CPU processes talking over gloo. accelerate 1.15 has no FSDP on CPU
(it would wrap DDP), so transformers shards the model while loading it (cpu_sharding.py), with
the same FSDP2 `fully_shard`, and Trainer trains the already-sharded model:

    CUDA_VISIBLE_DEVICES= ACCELERATE_USE_CPU=true accelerate launch --config_file fsdp/fsdp.yaml \\
        --num_processes 2 fsdp/train_fsdp.py --output-dir out/fsdp

Either way Trainer trains with gradient checkpointing and `torch_compile=True`; proof.py then
writes OUTPUT_DIR/fsdp_report.json with what each rank held and the first step redone in one process.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)

from cpu_sharding import load_sharded, runs_on_cpu
from proof import FirstStepProbe, write_report
from workshop import LAB
from workshop.data import from_pretrained, load_sentiment, num_labels

# Steps per process: FSDP's point here is what gets sharded, not a converged model.
MAX_STEPS = {"smoke": 10, "workshop": 60, "full": -1}
PER_DEVICE_BATCH = 2


def require_c_compiler() -> None:
    """torch_compile=True makes Inductor (and Triton) build kernels with a C compiler."""
    if not any(shutil.which(name) for name in ("cc", "gcc", "clang")):
        raise SystemExit(
            "torch_compile=True needs a C compiler (Inductor/Triton compile kernels at run time), "
            "and none was found on PATH. Install gcc in the image, or set torch_compile=False."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default=LAB.out("fsdp"))
    output_dir = Path(parser.parse_args().output_dir)
    require_c_compiler()
    on_cpu = runs_on_cpu()

    tokenizer = from_pretrained(AutoTokenizer, LAB.model, "WORKSHOP_MODEL")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = load_sentiment()
    # Fixed-length batches: one compiled graph instead of a recompile per sequence length.
    tokenized = data.map(
        lambda batch: tokenizer(batch["text"], truncation=True, padding="max_length", max_length=LAB.size.max_length),
        batched=True,
    )
    n_labels = num_labels(data)

    set_seed(LAB.seed)  # the classifier head is new: the same seed gives it the same start every run
    if on_cpu:
        # One GPU or none: each process loads only its shard; accelerate must not wrap it again.
        model, plan = load_sharded(n_labels, world_size=int(os.environ.get("WORLD_SIZE", "1")))
        fsdp, fsdp_config = False, None
    else:
        # Several GPUs: a whole model per process; accelerate's FSDP plugin shards it when Trainer prepares it.
        # fsdp="full_shard" is spelled fsdp=True plus reshard_after_forward (free gathered weights after forward).
        model = from_pretrained(AutoModelForSequenceClassification, LAB.model, "WORKSHOP_MODEL", num_labels=n_labels)
        plan = None
        fsdp, fsdp_config = True, {"reshard_after_forward": True}
    model.config.pad_token_id = tokenizer.pad_token_id
    # The classifier's loss is a mean over its own batch and ignores num_items_in_batch, but its
    # forward takes **kwargs, so Trainer would assume it does not and multiply the loss by the
    # number of processes (average_tokens_across_devices): gradients and logged loss N times too big.
    model.accepts_loss_kwargs = False

    fsdp_args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=PER_DEVICE_BATCH,
        num_train_epochs=1,
        max_steps=MAX_STEPS[LAB.size.name],
        fsdp=fsdp,
        fsdp_config=fsdp_config,
        gradient_checkpointing=True,
        torch_compile=True,
        logging_steps=5,
        logging_first_step=True,  # the gradient check reads step 1's loss and grad_norm
        save_strategy="no",
        seed=LAB.seed,
    )
    # The probe is both the data collator and a callback: it keeps the first batch, weights and gradients.
    probe = FirstStepProbe(DataCollatorWithPadding(tokenizer))
    trainer = Trainer(
        model=model,
        args=fsdp_args,
        train_dataset=tokenized["train"],
        processing_class=tokenizer,
        data_collator=probe,
        callbacks=[probe],
    )
    result = trainer.train()

    requested = {"fsdp": fsdp, "fsdp_config": fsdp_config, "sharded_at_load": on_cpu, "fsdp_plan": plan}
    write_report(trainer, probe, result.global_step, output_dir, requested)
    # Close the process group before exiting: a rank that exits with gloo's group still open
    # can abort ("terminate called without an active exception"), failing the launch.
    trainer.accelerator.end_training()


if __name__ == "__main__":
    main()
