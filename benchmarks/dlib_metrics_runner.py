"""Runs disentanglement_lib 1.5's metrics on arrays from an .npz and prints their values and times
as JSON.

Started by ``metrics_vs_dlib.py`` inside the disentanglement_lib venv (never imported by untwine).
Each
metric is called through disentanglement_lib's own array-level functions (``_compute_mig``,
``_compute_dci``, ``_compute_sap``, and the body of ``compute_modularity_explicitness``), so what
is timed
is the metric and not its batch-by-batch sampling loop. Arrays are in disentanglement_lib's layout:
codes [num_codes, N], factors [num_factors, N].

A metric whose first call takes under ``QUICK`` seconds is called ``--repeats`` times in all and its
best time kept (as ``metrics_vs_dlib.py`` times untwine's side): at tens of milliseconds one call's
time is mostly noise.

Usage: ``python dlib_metrics_runner.py ARRAYS.npz [--repeats R] [mig dci sap modularity explicitness]``
"""

from __future__ import annotations

import json
import sys
import time
import types
import warnings

import gin

# disentanglement_lib imports gin.tf, which imports TensorFlow; the metrics only use gin itself.
sys.modules["gin.tf"] = types.ModuleType("gin.tf")
gin.tf = sys.modules["gin.tf"]

import numpy as np  # noqa: E402
from disentanglement_lib.evaluation.metrics import (  # noqa: E402
    dci,
    mig,
    modularity_explicitness,
    sap_score,
    utils,
)

gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)
gin.bind_parameter("discretizer.num_bins", 20)


def _modularity(mus_train, ys_train, mus_test, ys_test):
    mi = utils.discrete_mutual_info(utils.make_discretizer(mus_train), ys_train)
    return {"modularity_score": modularity_explicitness.modularity(mi)}


def _explicitness(mus_train, ys_train, mus_test, ys_test):
    # The rest of compute_modularity_explicitness, line for line.
    train = np.zeros([ys_train.shape[0], 1])
    test = np.zeros([ys_test.shape[0], 1])
    mus_train_norm, mean_mus, stddev_mus = utils.normalize_data(mus_train)
    mus_test_norm, _, _ = utils.normalize_data(mus_test, mean_mus, stddev_mus)
    for i in range(ys_train.shape[0]):
        train[i], test[i] = modularity_explicitness.explicitness_per_factor(
            mus_train_norm, ys_train[i, :], mus_test_norm, ys_test[i, :]
        )
    return {"explicitness_score_train": np.mean(train), "explicitness_score_test": np.mean(test)}


METRICS = {
    "mig": lambda a, b, c, d: mig._compute_mig(a, b),
    "dci": dci._compute_dci,
    "sap": lambda a, b, c, d: sap_score._compute_sap(a, b, c, d, False),
    "modularity": _modularity,
    "explicitness": _explicitness,
}


QUICK = 5.0


def main() -> None:
    arrays = np.load(sys.argv[1])
    rest = sys.argv[2:]
    repeats = 1
    if rest[:1] == ["--repeats"]:
        repeats, rest = int(rest[1]), rest[2:]
    names = rest or list(METRICS)
    # untwine's layout is [N, D]; disentanglement_lib's is [D, N].
    args = [arrays[k].T for k in ("codes_train", "factors_train", "codes_test", "factors_test")]
    out = {}
    for name in names:
        times: list[float] = []
        while not times or (len(times) < repeats and times[0] < QUICK):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                try:
                    values = METRICS[name](*args)
                    error = None
                except Exception as e:  # a broken metric is a result here, not a crash
                    values, error = {}, f"{type(e).__name__}: {e}"
                times.append(time.perf_counter() - start)
        out[name] = {
            "seconds": min(times),
            "calls": len(times),
            "values": {k: float(v) for k, v in values.items()},
            "error": error,
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
