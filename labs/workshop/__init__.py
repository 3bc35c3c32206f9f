"""Small helpers the lab notebooks share: settings, data, and launch helpers.

Everything a lab needs to know about *which* model, dataset and lab size to use
comes from environment variables (see `settings.py`), so the same notebooks run
the full workshop on a GPU, a short version on a laptop CPU, and the smoke
harness with an offline test model.
"""

from workshop.settings import LAB, Settings, load_settings

__all__ = ["LAB", "Settings", "load_settings"]
