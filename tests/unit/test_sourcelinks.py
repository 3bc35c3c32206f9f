"""The anchor resolver and the drift check, on small fake trees and on a shifted copy of the real one."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from notes import anchor_links, anchor_lock, lab_sources, transformers_tree
from tests.support.helpers import ROOT

LABS = ROOT / "labs"

SCRIPT = LABS / "notes" / "sourcelinks.py"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "transformers"
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return pkg


FAKE = {
    "__init__.py": """
        __version__ = "9.8.7"
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from .trainer import Trainer as Trainer
            from .trainer import Seq2SeqTrainer
            from .utils.helpers import helper
        """,
    "trainer.py": """
        import functools

        from .pt_utils import save_state as _unused


        class Trainer:
            \"\"\"Docstring mentioning def train(self) on purpose.\"\"\"

            from .pt_utils import save_state

            alias = None

            @staticmethod
            @functools.lru_cache
            def build(args):
                return args

            def train(self):
                pass

            async def stream(self):
                pass


        class Seq2SeqTrainer(Trainer):
            def evaluate(self):
                pass
        """,
    "pt_utils.py": """
        # Trainer helper method
        def save_state(self):
            pass
        """,
    "utils/__init__.py": "",
    "utils/helpers.py": """
        def helper():
            pass
        """,
}


@pytest.fixture
def fake(tmp_path):
    return transformers_tree.Source(write_tree(tmp_path, FAKE))


@pytest.mark.parametrize(
    "anchor, where",
    [
        ("Trainer", "trainer.py:6"),
        ("Trainer.train", "trainer.py:18"),  # not the docstring's "def train"
        ("Trainer.build", "trainer.py:15"),  # the def line, after two decorators
        ("Trainer.stream", "trainer.py:21"),
        ("Trainer.save_state", "pt_utils.py:2"),  # imported into the class body
        ("Seq2SeqTrainer.train", "trainer.py:18"),  # inherited
        ("Seq2SeqTrainer.evaluate", "trainer.py:26"),
        ("helper", "utils/helpers.py:1"),
        ("transformers.pt_utils.save_state", "pt_utils.py:2"),
        ("transformers.utils.helpers.helper", "utils/helpers.py:1"),
        ("transformers.trainer.Trainer.train", "trainer.py:18"),
    ],
)
def test_resolves_to_the_def_line(fake, anchor, where):
    assert str(fake.resolve(anchor)) == where
    path, line = where.split(":")
    text = (fake.root / path).read_text().splitlines()[int(line) - 1]
    assert re.match(rf"\s*(async def|def|class) {anchor.split('.')[-1]}\b", text)


@pytest.mark.parametrize(
    "anchor, reason",
    [
        ("Trainer.prediction_loop", "Trainer has no 'prediction_loop'"),
        ("Trainer.alias", "assignment"),
        ("Nope", "transformers has no 'Nope'"),
        ("Trainer.train.inner", "Trainer.train is not a class"),
        ("transformers.missing.thing", "no module transformers.missing"),
    ],
)
def test_unresolvable_anchors_say_why(fake, anchor, reason):
    with pytest.raises(transformers_tree.Unresolved, match=re.escape(reason)):
        fake.resolve(anchor)


def test_render_both_links_and_leaves_code_alone(fake):
    text = "See [[Trainer.train]] and [[Trainer.save_state|save it]].\n`[[Trainer.train]]`\n```\n[[Nope]]\n```\n"
    out = anchor_links.render(text, "../transformers-src", fake)
    assert (
        "See [`Trainer.train`](../transformers-src/trainer.py#line=17) (trainer.py:18, "
        "[v9.8.7](https://github.com/huggingface/transformers/blob/v9.8.7/src/transformers/trainer.py#L18))"
    ) in out
    assert "[`save it`](../transformers-src/pt_utils.py#line=1)" in out
    assert "`[[Trainer.train]]`\n```\n[[Nope]]\n```\n" in out  # code untouched, even an unresolvable anchor
    assert anchor_links.anchors(text) == ["Trainer.train", "Trainer.save_state"]


def test_render_refuses_an_unresolvable_anchor(fake):
    with pytest.raises(transformers_tree.Unresolved, match="prediction_loop"):
        anchor_links.render("[[Trainer.prediction_loop]]", "transformers-src", fake)


def test_check_reports_drift_by_name(fake):
    used = {"Trainer.train": ["a.md"], "Trainer.save_state": ["a.md"], "Trainer.gone": ["b.md"], "helper": ["c.md"]}
    lock = (
        "9.8.7",
        {"Trainer.train": "trainer.py:10", "Trainer.save_state": "pt_utils.py:2", "Trainer.gone": "trainer.py:1"},
    )
    problems = anchor_lock.check(fake, used, lock)
    assert problems == [
        "MOVED      Trainer.train: trainer.py:10 -> trainer.py:18 (used in a.md)",
        "UNRESOLVED Trainer.gone (used in b.md): Trainer.gone: Trainer has no 'gone'; no def of that name anywhere",
        "UNLOCKED   helper -> utils/helpers.py:1 (used in c.md): run --update after checking the note",
    ]
    assert anchor_lock.check(fake, used, ("1.0.0", lock[1]))[0].startswith("transformers 9.8.7 at ")


def test_unresolved_anchor_gets_the_new_location_when_there_is_one(fake):
    problems = anchor_lock.check(fake, {"Trainer.evaluate": ["n.md"]}, ("9.8.7", {"Trainer.evaluate": "trainer.py:5"}))
    assert problems == [
        "UNRESOLVED Trainer.evaluate (used in n.md): Trainer.evaluate: Trainer has no 'evaluate'; "
        "a def of that name now at trainer.py:26"
    ]


def test_notebook_source_lines_belong_to_the_next_tagged_cell(tmp_path):
    nb = tmp_path / "01_x.py"
    nb.write_text(
        "# %% [markdown]\n# ## Task 1A — x\n#\n# **Source:** [[Trainer.train]], [[Trainer]]\n\n"
        '# %% tags=["task-1A"]\nx = 1\n\n# %%\ny = 2\n\n'
        '# %% [markdown]\n# **Source:** [[Trainer.save_state]]\n\n# %% tags=["task-1B", "slow"]\nz = 3\n'
    )
    assert lab_sources.notebook_task_sources(nb) == {"1A": ["Trainer.train", "Trainer"], "1B": ["Trainer.save_state"]}


def shifted_copy(tmp_path: Path, real: transformers_tree.Source, edits: dict[str, callable]) -> Path:
    """A transformers tree whose files are links to the installed ones, except the edited ones."""
    root = tmp_path / "transformers"
    root.mkdir()
    for entry in real.root.iterdir():
        if entry.name in edits:
            (root / entry.name).write_text(edits[entry.name](entry.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            (root / entry.name).symlink_to(entry)
    return root


def test_cli_flags_every_drifted_anchor_of_the_notes(tmp_path):
    """The real notes against a copy of the installed transformers with trainer.py shifted by
    three lines, `evaluation_loop` renamed and `save_state` no longer attached to the class."""
    real = transformers_tree.Source()
    version, locked = anchor_lock.read_lock()

    def shift(text):
        text = text.replace("    def evaluation_loop(", "    def evaluation_loop_v2(", 1)
        text = text.replace("        save_state,\n", "        # save_state,\n", 1)  # same line count
        return "# one\n# two\n# three\n" + text

    root = shifted_copy(tmp_path, real, {"trainer.py": shift})
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--src", str(root)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1, run.stdout + run.stderr
    report = run.stderr
    for anchor, where in locked.items():
        path, line = where.split(":")
        if anchor in ("Trainer.evaluation_loop", "Trainer.save_state"):
            assert f"UNRESOLVED {anchor} " in report
        elif path == "trainer.py":
            assert f"MOVED      {anchor}: {where} -> trainer.py:{int(line) + 3} " in report
        else:
            assert f" {anchor}:" not in report and f" {anchor} " not in report  # unchanged files: no report
    # the removed import leaves save_state where it was: the check says where to look
    assert f"a def of that name now at {locked['Trainer.save_state']}" in report
    assert "Trainer has no 'evaluation_loop'" in report


def test_cli_check_passes_on_the_installed_tree():
    run = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert re.search(r"^  Trainer\.create_optimizer +trainer\.py:\d+$", run.stdout, re.M)
