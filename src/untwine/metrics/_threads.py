"""BLAS and OpenMP threads for one metric call, as the caller asks.

``threads=None`` (every metric's default) leaves the process's thread pools as they are: the
machine's cores unless the process or its environment (``OMP_NUM_THREADS``) says otherwise. A number
limits them for the duration of the call only (threadpoolctl), and they are restored afterwards.
Small products ([N, D] x [D, classes]) and histogram trees are often faster on one thread on a busy
machine (measured on a shared 2-core machine: 7x for explicitness, up to 60x for a DCI tree), so
``untwine evaluate --threads 1`` and the metrics' ``threads=1`` are there for that case.
"""

from __future__ import annotations

import contextlib
import os

from threadpoolctl import threadpool_limits

from untwine.metrics._arrays import MetricError


def limited_threads(threads: int | None) -> contextlib.AbstractContextManager:
    if threads is None:
        return contextlib.nullcontext()
    if threads < 1:
        raise MetricError(f"threads={threads}: expected a number of threads >= 1, or None")
    return threadpool_limits(limits=threads)


def default_threads() -> int:
    """The cores this process may run on: how many per-factor classifiers DCI fits at once when
    ``threads`` is None (its numba trees use no BLAS or OpenMP pool)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
