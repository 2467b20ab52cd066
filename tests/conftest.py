"""Shared fixtures."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test: on a busy 2-core machine two threads per process made small
    training loops 10-30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
