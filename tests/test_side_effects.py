"""A metric leaves the process's thread pools as they are unless asked (``threads=``), and restores
them after a call that asks."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from untwine.metrics import MetricError, dci, explicitness


def _threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info()]


def test_metrics_use_the_threads_they_are_given_and_restore_the_process_setting(monkeypatch):
    rng = np.random.default_rng(0)
    factors = rng.integers(3, size=(200, 2))
    codes = factors + 0.1 * rng.normal(size=(200, 2))
    seen = []
    import untwine.metrics._threads as threads_module

    real = threads_module.threadpool_limits
    monkeypatch.setattr(threads_module, "threadpool_limits",
                        lambda limits: seen.append(limits) or real(limits=limits))
    with threadpool_limits(limits=2):
        before = _threads()
        default = dci(codes[:100], factors[:100], codes[100:], factors[100:])
        assert seen == [] and _threads() == before  # the process's setting, untouched
        one = dci(codes[:100], factors[:100], codes[100:], factors[100:], threads=1)
        explicitness(codes[:100], factors[:100], codes[100:], factors[100:], threads=1)
        assert seen == [1] * 3 and _threads() == before  # dci once, explicitness per factor; restored
    assert one.disentanglement == pytest.approx(default.disentanglement)
    with pytest.raises(MetricError, match="threads=0"):
        dci(codes[:100], factors[:100], codes[100:], factors[100:], threads=0)
