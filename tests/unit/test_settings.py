"""The labs' settings: defaults, overrides, and errors that name the fix."""

import pytest

from workshop.settings import LAB_SIZES, SettingsError, load_settings


def test_defaults_are_the_workshop_model_and_dataset():
    settings = load_settings({})
    assert settings.model == "distilbert-base-uncased"
    assert settings.dataset == "cornell-movie-review-data/rotten_tomatoes"
    assert settings.size.name == "workshop"
    assert settings.out("resume") == "out/resume"


def test_environment_overrides_every_setting():
    settings = load_settings(
        {
            "WORKSHOP_MODEL": "/models/x",
            "WORKSHOP_DATASET": "/data/y",
            "WORKSHOP_LAB_SIZE": "SMOKE",
            "WORKSHOP_OUTPUT_DIR": "/tmp/o",
        }
    )
    assert (settings.model, settings.dataset, settings.size.name) == ("/models/x", "/data/y", "smoke")
    assert settings.out("fsdp") == "/tmp/o/fsdp"


def test_unknown_lab_size_names_the_choices():
    with pytest.raises(SettingsError, match="WORKSHOP_LAB_SIZE='tiny'.*smoke, workshop, full"):
        load_settings({"WORKSHOP_LAB_SIZE": "tiny"})


@pytest.mark.parametrize("size", ["smoke", "workshop"])
def test_lab_sizes_give_the_seed_step_counts_room(size):
    """Checkpoint at step 50 and evaluation every 50 steps must happen at batch size 8."""
    lab = LAB_SIZES[size]
    assert lab.train_examples // 8 > 50
    assert lab.train_examples // 8 > lab.warmup_steps
