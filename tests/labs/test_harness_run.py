"""The smoke harness on this CPU host, for what the image's run cannot show.

The full harness (every task, its reports) runs once, inside the image, offline, as ops run
it: tests/docker/test_docker_image.py. Here, on the host's copy of the labs: a sabotaged copy
proves that each lesson broken on purpose fails its task (a broken cell, a task whose effect
was removed), and a model and data the labs were not tuned on still pass the training tasks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.support.helpers import TESTDATA, task_statuses


def smoke(
    labs: Path,
    out: Path,
    *extra: str,
    timeout: int = 2400,
    model: Path = TESTDATA / "models" / "minilm",
    dataset: Path = TESTDATA / "sentiment",
    **settings: str,
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **settings}
    command = [
        sys.executable,
        "-m",
        "smoke",
        "--labs-dir",
        str(labs),
        "--output",
        str(out),
        "--model",
        str(model),
        "--causal-model",
        str(TESTDATA / "models" / "tiny-gpt2"),
        "--dataset",
        str(dataset),
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="session")
def built_labs(tmp_path_factory) -> Path:
    if not (TESTDATA / "models" / "minilm").exists():
        pytest.fail("offline test models are missing: run `make testdata` (make test does)")
    from build_labs import build

    out = tmp_path_factory.mktemp("labs")
    build(out)
    return out


def sabotage(labs: Path, notebook: str, old: str, new: str) -> None:
    path = labs / notebook
    nb = nbformat.read(path, as_version=4)
    cells = [cell for cell in nb.cells if old in cell.source]
    assert cells, f"{old!r} not found in {notebook}"
    for cell in cells:
        cell.source = cell.source.replace(old, new)
    nbformat.write(nb, path)


def sabotage_file(labs: Path, relative: str, old: str, new: str) -> None:
    path = labs / relative
    text = path.read_text()
    assert old in text, f"{old!r} not found in {relative}"
    path.write_text(text.replace(old, new))


# Each lesson broken the way a wrong claim or a wrong cell would break it; each check must notice.
SABOTAGED = {
    # A student-facing argument renamed: the cell raises.
    "2B": (
        "02_optimization.ipynb",
        "optimizers=(optimizer, None)",
        "optimisers=(optimizer, None)",
        "unexpected keyword argument 'optimisers'",
    ),
    # The false claim restored: a Trainer that keeps the scheduler create_scheduler made.
    "2C": (
        "02_optimization.ipynb",
        "manual_trainer.create_optimizer_and_scheduler(num_training_steps=num_training_steps)",
        "manual_trainer.create_optimizer_and_scheduler(num_training_steps=num_training_steps)\n"
        "manual_trainer._created_lr_scheduler = False",
        "train() kept the scheduler create_optimizer_and_scheduler made",
    ),
    # A Trainer that logs the norm but never clips.
    "2E": (
        "02_optimization.ipynb",
        "clip_trainer.train()",
        "clip_trainer._clip_grad_norm = clip_trainer._get_grad_norm\nclip_trainer.train()",
        "above max_grad_norm 0.5",
    ),
    # The resumed run gets another RNG state than the checkpoint's: dropout differs a little.
    "3A": (
        "03_training_flow.ipynb",
        "resume_trainer.train(resume_from_checkpoint=checkpoint)",
        "resume_trainer._save_rng_state(checkpoint)\nresume_trainer.train(resume_from_checkpoint=checkpoint)",
        "resumed losses differ from the first run",
    ),
    # The custom loss made equal to the plain loss: the cell runs, the check must notice.
    "3B": (
        "03_training_flow.ipynb",
        "base_loss + 0.01 * entropy_penalty",
        "base_loss + 0.0 * entropy_penalty",
        "expected 0.01 x entropy",
    ),
    # A training step without backward: the steps are counted, nothing is learned.
    "3C": (
        "03_training_flow.ipynb",
        "self.accelerator.backward(loss)",
        "pass  # no backward",
        "manual_trainer did not learn",
    ),
    # The language-model collator back: a pad-id (= GPT-2's EOS) label becomes -100.
    "GPT2": (
        "07_gpt2_live_coding.ipynb",
        "data_collator=default_data_collator,",
        "data_collator=__import__('transformers').DataCollatorForLanguageModeling(lm_tokenizer, mlm=False),",
        "the collator turned the label of a pad-id token",
    ),
}


def test_each_broken_lesson_fails_its_task(built_labs, tmp_path):
    labs = tmp_path / "labs"
    shutil.copytree(built_labs, labs, symlinks=True)
    for notebook, old, new, _ in SABOTAGED.values():
        sabotage(labs, notebook, old, new)
    # The barrier demo without its barrier: rank 0 no longer waits for the slow rank.
    sabotage_file(labs, "distributed/barrier.py", "    trainer.accelerator.wait_for_everyone()\n", "")
    result = smoke(labs, tmp_path / "out", "--tasks", ",".join([*SABOTAGED, "6E"]))
    found = task_statuses(result.stdout)
    assert found == {**{task: "FAIL" for task in SABOTAGED}, "6B": "PASS", "6E": "FAIL"}, result.stdout
    for task, (*_, message) in SABOTAGED.items():
        assert message in result.stdout, f"{task}: {message!r} not in the output\n{result.stdout[-6000:]}"
    assert "it did not wait for rank 1" in result.stdout
    assert result.returncode == 1


def test_lessons_hold_with_a_model_and_data_they_were_not_tuned_on(built_labs, tmp_path):
    """Another architecture (DistilBERT, MiniLM's weights converted) on harder data with other
    column and split names: the training lessons must still visibly learn and pass."""
    unseen = TESTDATA / "unseen"
    result = smoke(
        built_labs,
        tmp_path / "out",
        "--tasks",
        "1A,1E,2C,2E,3A,3C,4A",
        model=unseen / "models" / "distilminilm",
        dataset=unseen / "sentiment",
        WORKSHOP_TEXT_COLUMN="sentence",
        WORKSHOP_LABEL_COLUMN="sentiment",
        WORKSHOP_EVAL_SPLIT="test",
    )
    found = task_statuses(result.stdout)
    assert found == dict.fromkeys(["1A", "1E", "2C", "2E", "3A", "3C", "4A"], "PASS"), result.stdout[-8000:]
