"""Suite-wide settings: one torch thread per pytest-xdist worker.

`make test` runs one worker per core (`-n auto`); each worker using every core as well would
oversubscribe the machine, and the tiny models of the tests run fastest on one thread anyway.
"""

import os

import torch


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
