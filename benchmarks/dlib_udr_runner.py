"""Runs disentanglement_lib 1.5's UDR (``compute_udr_sklearn``) and unsupervised scores on codes from
an .npz and prints their values and times as JSON.

Started by ``udr_vs_dlib.py`` inside the disentanglement_lib venv (never imported by untwine). The
codes are fixed: a stand-in ground-truth data set hands out row indices in order, and each model's
representation function returns its rows of the array and its per-dimension KL, so disentanglement_lib
scores exactly the codes untwine scores.

UDR is not in disentanglement-lib 1.5, the release on PyPI (it came later, on GitHub); with that
release only the unsupervised scores are compared, and tests/test_metrics_udr_unsupervised.py checks
UDR against disentanglement_lib's procedure restated with scipy and scikit-learn.

Usage: ``python dlib_udr_runner.py ARRAYS.npz``
"""

from __future__ import annotations

import json
import sys
import time
import types
import warnings

import gin

# disentanglement_lib imports gin.tf, which imports TensorFlow; UDR only uses gin itself.
sys.modules["gin.tf"] = types.ModuleType("gin.tf")
gin.tf = sys.modules["gin.tf"]

import numpy as np  # noqa: E402
from disentanglement_lib.evaluation.metrics import unsupervised_metrics  # noqa: E402

try:  # UDR came to disentanglement_lib after its last PyPI release (1.5); a GitHub checkout has it
    from disentanglement_lib.evaluation.udr.metrics import udr
except ImportError:
    udr = None

gin.bind_parameter("discretizer.discretizer_fn", unsupervised_metrics.utils._histogram_discretize)
gin.bind_parameter("discretizer.num_bins", 20)


class InOrder:
    """Row indices 0, 1, 2, ... in batches: the observations are the rows of the fixed codes."""

    def __init__(self) -> None:
        self.next = 0

    def _take(self, num: int) -> np.ndarray:
        rows = np.arange(self.next, self.next + num)
        self.next += num
        return rows

    def sample_observations(self, num, random_state):  # noqa: ARG002
        return self._take(num)

    def sample(self, num, random_state):  # noqa: ARG002
        return np.zeros((num, 1), dtype=np.int64), self._take(num)


def main() -> None:
    arrays = np.load(sys.argv[1])
    codes, kl = arrays["codes"], arrays["kl"]  # [M, N, D], [M, D]
    n = codes.shape[1]
    functions = [lambda rows, m=m: (codes[m][rows], kl[m]) for m in range(len(codes))]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for correlation in ("spearman", "lasso") if udr is not None else ():
            start = time.perf_counter()
            scores = udr.compute_udr_sklearn(InOrder(), functions, np.random.RandomState(0), 100, n,
                                             correlation_matrix=correlation)
            out[f"udr_{correlation}"] = {"seconds": time.perf_counter() - start,
                                         "model_scores": list(map(float, scores["model_scores"]))}
        start = time.perf_counter()
        values = unsupervised_metrics.unsupervised_metrics(
            InOrder(), lambda rows: codes[0][rows], np.random.RandomState(0), num_train=n, batch_size=100)
        out["unsupervised"] = {"seconds": time.perf_counter() - start,
                               "values": {k: float(v) for k, v in values.items()}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
