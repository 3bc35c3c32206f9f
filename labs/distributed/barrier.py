"""Lab 6 Task E: what `wait_for_everyone` does, with two processes.

    accelerate launch --num_processes 2 distributed/barrier.py --output-dir out/barrier

Rank 1 is made slow (it sleeps, as if it were still writing a checkpoint); rank 0 reaches
the barrier first and waits there until rank 1 arrives. Writes OUTPUT_DIR/barrier_report.json
with how long each rank waited and which one is the world's process zero.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from accelerate.utils import gather_object
from transformers import Trainer, TrainingArguments

SLOW_RANK_SECONDS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="out/barrier")
    output_dir = Path(parser.parse_args().output_dir)

    # Any model will do: the lesson is the Trainer's process helpers, not training.
    trainer = Trainer(model=torch.nn.Linear(2, 2), args=TrainingArguments(output_dir=str(output_dir), report_to="none"))
    rank = trainer.args.process_index
    started = time.monotonic()
    if rank == 1:
        time.sleep(SLOW_RANK_SECONDS)
    trainer.accelerator.wait_for_everyone()
    waited = time.monotonic() - started
    print(f"rank {rank}: passed the barrier after {waited:.1f} s")

    ranks = gather_object(
        [{"rank": rank, "waited_seconds": round(waited, 3), "is_world_process_zero": trainer.is_world_process_zero()}]
    )
    if trainer.is_world_process_zero():
        report = {"world_size": trainer.args.world_size, "slow_rank_seconds": SLOW_RANK_SECONDS, "ranks": ranks}
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "barrier_report.json").write_text(json.dumps(report, indent=2))
        print("Primary rank finished syncing.")
    # Close the process group before exiting: a rank that exits with gloo's group still open
    # can abort ("terminate called without an active exception"), failing the launch.
    trainer.accelerator.end_training()


if __name__ == "__main__":
    main()
