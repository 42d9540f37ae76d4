"""Shared fixtures of the vocoder tests."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny convolutions run fastest on one thread (and do not fight other processes on a
    busy machine); the thread count is restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
