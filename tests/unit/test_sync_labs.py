"""workshop_image.sync_labs: labs go into the student's work folder, never over their changes.
Pure Python: runs without Docker."""

from __future__ import annotations

import json

from workshop_image import sync_labs


def test_first_start_copies_everything(tmp_path):
    image, work = tmp_path / "image", tmp_path / "work"
    (image / "workshop").mkdir(parents=True)
    (image / "01.ipynb").write_text("v1")
    (image / "workshop" / "settings.py").write_text("x = 1")
    (image / "transformers-src").symlink_to("/opt/venv/lib/transformers")
    assert sync_labs.sync(image, work, "v1") == []
    assert (work / "01.ipynb").read_text() == "v1"
    assert (work / "workshop" / "settings.py").read_text() == "x = 1"
    assert (work / "transformers-src").is_symlink()
    record = json.loads((work / ".workshop-shipped.json").read_text())
    assert set(record["files"]) == {"01.ipynb", "workshop/settings.py"}


def shipped_v1(tmp_path):
    """An image with two v1 notebooks, synced once into a fresh work folder."""
    image, work = tmp_path / "image", tmp_path / "work"
    image.mkdir()
    (image / "01.ipynb").write_text("v1")
    (image / "02.ipynb").write_text("v1")
    sync_labs.sync(image, work, "v1")
    return image, work


def test_updates_untouched_files_and_puts_new_versions_beside_changed_ones(tmp_path):
    image, work = shipped_v1(tmp_path)
    (work / "02.ipynb").write_text("the student's work")
    (image / "01.ipynb").write_text("v2")
    (image / "02.ipynb").write_text("v2")
    notes = sync_labs.sync(image, work, "v2")
    assert (work / "01.ipynb").read_text() == "v2"  # untouched: updated in place
    assert (work / "02.ipynb").read_text() == "the student's work"  # changed: kept
    assert (work / "02.new-v2.ipynb").read_text() == "v2"
    assert len(notes) == 1 and "02.ipynb" in notes[0]
    # a restart of the same image changes nothing and says nothing
    assert sync_labs.sync(image, work, "v2") == []
    assert (work / "02.ipynb").read_text() == "the student's work"


def test_same_image_restart_keeps_changes_and_restores_deleted(tmp_path):
    image, work = shipped_v1(tmp_path)
    (work / "01.ipynb").write_text("edited")
    (work / "02.ipynb").unlink()
    assert sync_labs.sync(image, work, "v1") == []
    assert (work / "01.ipynb").read_text() == "edited"
    assert not list(work.glob("*.new-*"))
    assert (work / "02.ipynb").read_text() == "v1"
