"""Suite-wide settings: one torch thread per pytest-xdist worker.

`make test` runs one worker per core (`-n auto`); each worker using every core as well would
oversubscribe the machine, and the tiny models of the tests run fastest on one thread anyway.
"""

import os

import pytest
import torch


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture
def no_bundled_model(tmp_path, monkeypatch):
    """As on an install without a bundled default voice (whether or not this one has it)."""
    import flowvox.infer.model_dir as model_dir

    monkeypatch.delenv(model_dir.MODEL_ENV, raising=False)
    monkeypatch.setattr(model_dir, "BUNDLED_DIR", tmp_path / "no-bundled-model")
