"""Disentanglement, Completeness and Informativeness (Eastwood & Williams 2018, "A Framework for
the Quantitative Evaluation of Disentangled Representations"), as disentanglement_lib computes it
(dci.py).

One gradient-boosted tree classifier per factor gives the importance matrix R [D, K] (feature
importances, each column summing to 1) and a train and test accuracy:

    D = sum_d rho_d (1 - H_K(R_d.)),  rho_d = sum_k R_dk / sum R  (entropy base K, over factors)
    C = sum_k rho_k (1 - H_D(R_.k)),  rho_k = sum_d R_dk / sum R  (entropy base D, over dimensions)
    I = mean over factors of the classifier's accuracy

Quirk kept from disentanglement_lib: "informativeness" is classification accuracy (the paper uses
a prediction error), so higher is better, and its train value mostly measures overfitting.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier

from untwine.metrics import _gradient_boosting
from untwine.metrics._arrays import MetricError, check_split
from untwine.metrics._threads import default_threads, limited_threads

Learner = Literal["gbt", "sklearn"]
LEARNERS = ("gbt", "sklearn")


@dataclass(frozen=True)
class DCIResult:
    disentanglement: float
    completeness: float
    informativeness_train: float  # mean accuracy on the training split
    informativeness_test: float  # mean accuracy on the test split
    importance: np.ndarray  # [D, K] feature importances, each column sums to 1 (or is all 0)
    per_code: np.ndarray  # [D] 1 - H_K(R_d.)
    per_factor: np.ndarray  # [K] 1 - H_D(R_.k)
    learner: str

    @property
    def score(self) -> float:
        return self.disentanglement


def _one_minus_entropy(m: np.ndarray, base: int) -> np.ndarray:
    """1 - entropy of each row of m (normalized), in the given base; scipy.stats.entropy's
    +1e-11."""
    p = m + 1e-11
    p = p / p.sum(axis=1, keepdims=True)
    return 1.0 - (-(p * np.log(p)).sum(axis=1) / np.log(base))


def scores_from_importance(importance: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(disentanglement, completeness, per_code [D], per_factor [K]) of importances [D, K]."""
    d, k = importance.shape
    per_code = _one_minus_entropy(importance, k)
    per_factor = _one_minus_entropy(importance.T, d)
    # disentanglement_lib weighs uniformly when no tree ever split.
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    disentanglement = float(per_code @ (weights.sum(axis=1) / weights.sum()))
    completeness = float(per_factor @ (weights.sum(axis=0) / weights.sum()))
    return disentanglement, completeness, per_code, per_factor


def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    learner: Learner = "gbt",
    seed: int = 0,
    threads: int | None = None,
) -> DCIResult:
    """DCI of codes [N, D] against integer factors [N, K], trees fit on the training split.

    Both learners are disentanglement_lib's: scikit-learn's ``GradientBoostingClassifier()`` with
    its defaults, one per factor. learner="gbt" (default) re-implements it from presorted features
    (``_gradient_boosting``): the same trees, predictions and importances wherever no two splits
    tie, and ties broken as scikit-learn's random feature order breaks them, so that its scores
    differ from scikit-learn's no more than scikit-learn's own random states differ from each
    other; 35x faster than disentanglement_lib's DCI at 10,000 samples (benchmarks/metrics_vs_dlib.py).
    learner="sklearn" fits ``GradientBoostingClassifier(random_state=seed)``
    itself (minutes at 10,000 samples with dSprites' 40- and 32-value factors). The factors'
    classifiers are fit ``threads`` at a time (None: one per core this process may use), and
    ``threads`` also limits BLAS/OpenMP for the call (None: the process's setting).
    """
    ztr, ftr, zte, fte = check_split(codes_train, factors_train, codes_test, factors_test)
    d, k = ztr.shape[1], ftr.shape[1]
    if d < 2 or k < 2:
        raise MetricError(f"DCI needs >= 2 code dimensions and >= 2 factors; got {d} and {k}")
    if learner not in LEARNERS:
        raise MetricError(f"learner must be one of {LEARNERS}; got {learner!r}")
    limits = limited_threads(threads)  # checks threads first
    workers = default_threads() if threads is None else threads
    presorted = _gradient_boosting.presort(ztr) if learner == "gbt" else None

    def one_factor(j: int) -> tuple[np.ndarray, float, float]:
        if learner == "gbt":
            model = _gradient_boosting.fit(presorted, ftr[:, j], seed=seed + j)
            train_predicted = model.decide(model.raw_train)
            importance = model.importance
        else:
            model = GradientBoostingClassifier(random_state=seed).fit(ztr, ftr[:, j])
            train_predicted = model.predict(ztr)
            importance = model.feature_importances_
        test_predicted = model.predict(zte)
        return importance, np.mean(train_predicted == ftr[:, j]), np.mean(test_predicted == fte[:, j])

    # Largest factors first, so that the longest fits do not start last.
    sizes = [len(np.unique(ftr[:, j])) for j in range(k)]
    order = sorted(range(k), key=lambda j: -sizes[j])
    with limits:
        if workers == 1:
            fitted = dict(zip(order, map(one_factor, order), strict=True))
        else:
            with ThreadPoolExecutor(max_workers=min(workers, k)) as pool:
                fitted = dict(zip(order, pool.map(one_factor, order), strict=True))
    importance = np.stack([fitted[j][0] for j in range(k)], axis=1)
    train_acc = np.array([fitted[j][1] for j in range(k)])
    test_acc = np.array([fitted[j][2] for j in range(k)])
    disentanglement, completeness, per_code, per_factor = scores_from_importance(importance)
    return DCIResult(
        disentanglement=disentanglement,
        completeness=completeness,
        informativeness_train=float(train_acc.mean()),
        informativeness_test=float(test_acc.mean()),
        importance=importance,
        per_code=per_code,
        per_factor=per_factor,
        learner=learner,
    )
