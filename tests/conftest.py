"""Suite-wide settings for pytest-xdist workers: one torch thread, and a numba cache each.

`make test` runs one worker per core (`-n auto`); each worker using every core as well would
oversubscribe the machine, and the tiny models of the tests run fastest on one thread anyway.

librosa compiles its kernels with numba (``cache=True``) into a cache shared by every process.
Filling an empty cache from several processes at once can pair files written by different
processes, and the next call to that kernel crashes the process (numba/numba#10128): on a clean
clone, 1 to 3 workers died in ``librosa.yin``/``librosa.sequence.dtw`` tests. So each worker
gets its own cache folder; it is set here, before any test module imports numba.
"""

import os
import tempfile

import pytest
import torch

_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(
        tempfile.gettempdir(), f"flowvox-test-numba-{os.getuid()}", _WORKER
    )


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture
def no_bundled_model(tmp_path, monkeypatch):
    """As on an install without a bundled default voice (whether or not this one has it)."""
    import flowvox.infer.model_dir as model_dir

    monkeypatch.delenv(model_dir.MODEL_ENV, raising=False)
    monkeypatch.setattr(model_dir, "BUNDLED_DIR", tmp_path / "no-bundled-model")
