"""The study notes and the notebooks' source links against the installed (pinned) transformers.

Run `python labs/notes/sourcelinks.py --check` to see every anchor with its location; after a
transformers upgrade it lists what moved, and these tests fail until the notes are re-read and
the lock rewritten (`--update`).
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import pytest

from notes import anchor_links, anchor_lock, lab_sources, transformers_tree
from tests.support.helpers import ROOT as REPO

LABS = REPO / "labs"

SOURCE = transformers_tree.default_source()
USED = lab_sources.used_anchors()
TASKS = ["setup", "gpt2"] + [
    f"{lab}{t}"
    for lab, ts in ((1, "ABCDE"), (2, "ABCDE"), (3, "ABCD"), (4, "ABCDE"), (5, "ABCD"), (6, "ABCDE"))
    for t in ts
]
# A rendered anchor: [`label`](PREFIX/path#line=LINE-1) (path:LINE, [vX](https://github.com/.../blob/vX/src/transformers/path#LLINE))
# (JupyterLab's editor reads `#line=N` as 0-based line N.)
LINK = re.compile(
    r"\[`([^`]+)`\]\((?P<local>[^)#]+)#line=(?P<line0>\d+)\) \((?P<path>[^:]+):(?P<line>\d+), "
    r"\[v(?P<v>[^\]]+)\]\(https://github\.com/huggingface/transformers/blob/v(?P=v)/src/transformers/(?P=path)#L(?P=line)\)\)"
)


def pinned_version() -> str:
    text = (REPO / "docker" / "requirements.in").read_text()
    return re.search(r"^transformers==(\S+)", text, re.M).group(1)


def def_name_at(path: Path, line: int) -> str | None:
    """The name a `def`/`class` statement at `line` of `path` defines, read from the text."""
    match = re.match(r"\s*(?:async\s+def|def|class)\s+(\w+)", path.read_text(encoding="utf-8").splitlines()[line - 1])
    return match.group(1) if match else None


def test_installed_transformers_is_the_pinned_one_and_the_one_the_lock_was_reviewed_against():
    assert SOURCE.version == pinned_version() == anchor_lock.read_lock()[0]


@pytest.mark.parametrize("anchor", sorted(USED))
def test_anchor_resolves_to_the_def_it_names(anchor):
    """Every anchor in the notes and the notebooks opens the `def`/`class` line it names."""
    loc = SOURCE.resolve(anchor)  # raises Unresolved, with the reason, for a name the pinned version lacks
    assert def_name_at(SOURCE.root / loc.path, loc.line) == anchor.split(".")[-1], f"{anchor} -> {loc}"


def test_every_note_anchor_is_where_the_lock_says():
    problems = anchor_lock.check(SOURCE, USED, anchor_lock.read_lock())
    assert not problems, "\n".join(problems)


def test_resolution_agrees_with_the_imported_objects():
    """Cross-check of the ast resolver: the object Python gets for each anchor lives in that file,
    and its source (decorators skipped) starts on that line."""
    import importlib

    transformers = importlib.import_module("transformers")
    for anchor in USED:
        parts = anchor.split(".")
        if parts[0] == "transformers":
            for cut in range(len(parts), 1, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                    break
                except ImportError:
                    continue
            rest = parts[cut:]
        else:
            obj, rest = transformers, parts
        for name in rest:
            obj = getattr(obj, name)
        obj = inspect.unwrap(getattr(obj, "__func__", obj))
        loc = SOURCE.resolve(anchor)
        assert Path(inspect.getsourcefile(obj)).resolve() == (SOURCE.root / loc.path).resolve(), anchor
        start = inspect.getsourcelines(obj)[1]
        lines = (SOURCE.root / loc.path).read_text(encoding="utf-8").splitlines()
        while lines[start - 1].lstrip().startswith("@") or not re.match(
            r"\s*(async\s+def|def|class)\b", lines[start - 1]
        ):
            start += 1  # skip decorators, including ones that span lines
        assert start == loc.line, f"{anchor}: inspect says line {start}, resolver {loc.line}"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The lab folder as `make labs` builds it."""
    import build_labs

    out = tmp_path_factory.mktemp("labs")
    build_labs.build(out)
    return out


def rendered_links(text: str):
    return list(LINK.finditer(text))


def check_links(text: str, base: Path, expected: int, where: str):
    links = rendered_links(text)
    assert len(links) == expected, f"{where}: {len(links)} rendered links for {expected} anchors"
    for link in links:
        local = (base / link["local"]).resolve()  # through the transformers-src symlink
        assert local == (SOURCE.root / link["path"]).resolve(), f"{where}: {link[0]}"
        assert link["v"] == SOURCE.version
        line = int(link["line"])
        assert int(link["line0"]) == line - 1, f"{where}: {link[0]}: JupyterLab would open another line"
        assert def_name_at(local, line) is not None, f"{where}: {link[0]} opens a line that is no def"
    assert "[[" not in re.sub(r"`[^`\n]*`|```.*?```", "", text, flags=re.S), f"{where}: an anchor was not rendered"


def test_lab_folder_links_transformers_src_to_the_installed_package(built):
    link = built / "transformers-src"
    assert link.is_symlink() and link.resolve() == SOURCE.root
    assert (link / "trainer.py").is_file()


@pytest.mark.parametrize("note", [p.name for p in lab_sources.note_sources()])
def test_rendered_note_opens_the_named_defs(built, note):
    source_text = (LABS / "notes" / note).read_text(encoding="utf-8")
    rendered = (built / "notes" / note).read_text(encoding="utf-8")
    names = anchor_links.anchors(source_text)
    check_links(rendered, built / "notes", len(names), note)
    for name, link in zip(names, rendered_links(rendered), strict=True):
        loc = SOURCE.resolve(name)
        assert (link["path"], int(link["line"])) == (loc.path, loc.line)
        assert def_name_at(SOURCE.root / loc.path, loc.line) == name.split(".")[-1]


@pytest.mark.parametrize("notebook", [p.stem for p in lab_sources.notebook_sources()])
def test_rendered_notebook_opens_the_named_defs(built, notebook):
    source = LABS / "notebooks" / f"{notebook}.py"
    cells = json.loads((built / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    expected = sum(len(anchor_links.anchors(text)) for text in lab_sources.notebook_markdown(source))
    check_links(markdown, built, expected, notebook)


def note_task_locations() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in lab_sources.note_sources():
        for task, section in lab_sources.task_sections(path.read_text(encoding="utf-8")).items():
            found.setdefault(task, set()).update(str(SOURCE.resolve(a)) for a in anchor_links.anchors(section))
    return found


def test_notes_give_every_lab_task_a_source_line():
    sources = lab_sources.task_sources((LABS / "notes" / "labs.md").read_text(encoding="utf-8"))
    assert sorted(sources) == sorted(TASKS)
    assert all(sources[t] for t in TASKS), [t for t in TASKS if not sources[t]]


@pytest.mark.parametrize("notebook", [p.stem for p in lab_sources.notebook_sources()])
def test_notebook_task_sources_appear_in_the_notes_for_that_task(notebook):
    """Notebooks and notes agree: each task's **Source:** anchors in the notebook name defs that
    the notes' section for the same task names too (compared by location, so
    `Trainer.save_state` and `transformers.trainer_pt_utils.save_state` count as the same)."""
    in_notes = note_task_locations()
    tasks = lab_sources.notebook_task_sources(LABS / "notebooks" / f"{notebook}.py")
    missing = [
        f"task-{task}: [[{a}]] ({SOURCE.resolve(a)})"
        for task, names in tasks.items()
        for a in names
        if str(SOURCE.resolve(a)) not in in_notes.get(task, set())
    ]
    assert not missing, "not in labs/notes for that task:\n" + "\n".join(missing)


def test_sources_carry_no_hand_typed_line_links():
    texts = {p.name: p.read_text(encoding="utf-8") for p in lab_sources.note_sources()}
    notebooks = lab_sources.notebook_sources()
    texts |= {f"notebooks/{p.name}": "\n".join(lab_sources.notebook_markdown(p)) for p in notebooks}
    for name, text in texts.items():
        # naming `transformers-src/` in code is fine; linking into it by hand is not
        text = anchor_links._CODE.sub("", text)
        for bad in (
            r"#L\d+",
            r"#line=\d+",
            r"site-packages",
            r"transformers-src",
            r"github\.com/huggingface/transformers/blob",
        ):
            assert not re.search(bad, text), f"{name}: hand-typed source link ({bad}); use a [[Anchor]]"


def class_fields(qualname: str) -> set[str]:
    loc = SOURCE.resolve(qualname)
    tree = ast.parse((SOURCE.root / loc.path).read_text(encoding="utf-8"))
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.lineno == loc.line)
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def params(anchor: str) -> list[str]:
    loc = SOURCE.resolve(anchor)
    tree = ast.parse((SOURCE.root / loc.path).read_text(encoding="utf-8"))
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.lineno == loc.line)
    return [a.arg for a in fn.args.args + fn.args.kwonlyargs]


def test_what_the_notes_say_changed_holds_for_the_pinned_version():
    """The *Now:* lines of the notes, checked against the source (no import)."""
    for gone in ("prediction_loop",):
        with pytest.raises(transformers_tree.Unresolved):
            SOURCE.resolve(f"Trainer.{gone}")
    fields = class_fields("TrainingArguments")
    assert {"eval_strategy", "warmup_steps", "activation_checkpointing"} <= fields
    assert not {"evaluation_strategy", "warmup_ratio"} & fields
    assert "processing_class" in params("Trainer.__init__") and "tokenizer" not in params("Trainer.__init__")
    assert params("Trainer.training_step")[:4] == ["self", "model", "inputs", "num_items_in_batch"]
    assert "num_items_in_batch" in params("Trainer.compute_loss")
    assert params("Trainer.get_total_train_batch_size") == ["self", "args"]
    assert "repo_id" not in params("Trainer.push_to_hub") and "private" in params("Trainer.push_to_hub")
    assert not {"dataset_name", "metrics"} & set(params("Trainer.create_model_card"))
    for moved in ("Trainer.get_num_trainable_parameters", "Trainer.save_state"):
        assert SOURCE.resolve(moved).path == "trainer_pt_utils.py"
    for split_out in ("Trainer._run_epoch", "Trainer._clip_grad_norm", "Trainer._prepare_for_training"):
        assert SOURCE.resolve(split_out).path == "trainer.py"
