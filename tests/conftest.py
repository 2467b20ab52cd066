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


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    """The metrics use the process's BLAS/OpenMP threads (the machine's cores) unless told otherwise;
    the suite runs on shared machines where spinning threads made metric tests 4-7x slower
    (tests/test_side_effects.py checks the default itself), so it asks for one, as a user may."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
