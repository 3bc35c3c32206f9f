"""Every seed task is in the student notebooks, in order, with its text and a harness check."""

import re
from pathlib import Path

import pytest

from smoke.checks import CHECKS
from smoke.notebooks import discover
from tests.support.helpers import SEED_TASKS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    from build_labs import build

    out = tmp_path_factory.mktemp("labs")
    build(out)
    return discover(out)


def test_all_28_seed_tasks_plus_setup_and_gpt2_in_order(labs):
    ids = [task.id for nb in labs for task in nb.tasks]
    assert len(SEED_TASKS) == 28
    assert ids == ["SETUP", *SEED_TASKS, "GPT2"]


def test_every_task_has_a_check(labs):
    missing = [task.id for nb in labs for task in nb.tasks if task.id not in CHECKS]
    assert not missing


def test_each_lab_has_goal_discuss_do_and_each_task_a_source(labs):
    for nb in labs:
        markdown = "\n".join(cell.source for cell in nb.node.cells if cell.cell_type == "markdown")
        if re.match(r"0[1-6]_", nb.path.name):
            for word in ("**Goal:**", "**Discuss:**", "**Do:**"):
                assert word in markdown, f"{nb.path.name} lacks {word}"
            assert "%run ./00_setup.ipynb" in nb.node.cells[nb.prelude[0]].source
        for task in nb.tasks:
            heading = next(
                cell.source for cell in reversed(nb.node.cells[: task.cells[0]]) if cell.cell_type == "markdown"
            )
            assert "**Source:**" in heading or "**Source:**" in markdown, f"task {task.id} has no source reference"


def test_notebooks_never_hardcode_model_or_dataset(labs):
    for nb in labs:
        code = "\n".join(cell.source for cell in nb.node.cells if cell.cell_type == "code")
        for literal in ("distilbert-base-uncased", "rotten_tomatoes", "openai-community/gpt2"):
            assert literal not in code, f"{nb.path.name} hard-codes {literal}; use the workshop settings"
        assert not re.search(r"(from_pretrained|load_dataset)\(\s*[\"']", code), f"{nb.path.name} loads a literal name"


def test_notebooks_use_no_argument_removed_in_transformers_5(labs):
    removed = ("evaluation_strategy=", "warmup_ratio=", ".prediction_loop(")
    for nb in labs:
        code = "\n".join(cell.source for cell in nb.node.cells if cell.cell_type == "code")
        for name in removed:
            assert name not in code, f"{nb.path.name} uses {name}, which transformers 5 removed"
