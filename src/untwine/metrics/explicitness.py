"""Explicitness (Ridgeway & Zemel 2018, "Learning Deep Disentangled Embeddings with the F-Statistic
Loss", Sec. 3), as disentanglement_lib computes it (modularity_explicitness.py).

Per factor: a logistic regression (scikit-learn's defaults: lbfgs, C=1, 100 iterations) from all
code
dimensions, standardized with the training split's mean and standard deviation, to the factor's
classes; explicitness is its one-vs-rest ROC-AUC, macro-averaged over classes, then over factors.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from untwine.metrics._arrays import check_split
from untwine.metrics._threads import limited_threads


@dataclass(frozen=True)
class ExplicitnessResult:
    score: float  # = test
    train: float  # mean over factors of per_factor_train
    test: float
    per_factor_train: np.ndarray  # [K] macro ROC-AUC on the training split
    per_factor_test: np.ndarray  # [K] macro ROC-AUC on the test split
    constant_dimensions: tuple[int, ...]  # left out of the standardization (see explicitness)


def _macro_auc(proba: np.ndarray, classes: np.ndarray, y: np.ndarray) -> float:
    """Mean one-vs-rest ROC-AUC over the classes present in y (Mann-Whitney with average ranks,
    which is what roc_auc_score's trapezoids give, ties included)."""
    present = np.isin(classes, y) & (len(np.unique(y)) > 1)
    onehot = y[:, None] == classes[None, :]
    ranks = rankdata(proba, axis=0)
    n_pos = onehot.sum(axis=0)
    n_neg = len(y) - n_pos
    rank_sum = (ranks * onehot).sum(axis=0)
    auc = (rank_sum - n_pos * (n_pos + 1) / 2) / np.where(present, n_pos * n_neg, 1)
    return float(auc[present].mean())


def explicitness(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    threads: int | None = None,
) -> ExplicitnessResult:
    """Explicitness of codes [N, D] against integer factors [N, K]; 1 = every class linearly ranked
    perfectly, 0.5 = chance.

    Differs from disentanglement_lib only where it breaks: a constant code dimension (standard
    deviation 0) makes it divide by zero and the classifier reject the NaNs; here that dimension is
    centred but not scaled, stays all-zero and so changes nothing (the same scores as without it).
    AUCs are averaged over the classes present in each split, aligned by class value, where
    disentanglement_lib assumes both splits hold every class. ``threads``: None leaves the process's
    BLAS/OpenMP pools as they are; a number fits that many factors at once, each on one BLAS thread.
    """
    ztr, ftr, zte, fte = check_split(codes_train, factors_train, codes_test, factors_test)
    ztr, zte = ztr.astype(np.float64), zte.astype(np.float64)
    mean, std = ztr.mean(axis=0), ztr.std(axis=0)
    constant = std == 0
    std = np.where(constant, 1.0, std)
    xtr, xte = (ztr - mean) / std, (zte - mean) / std
    k = ftr.shape[1]

    def one_factor(j: int) -> tuple[float, float]:
        with warnings.catch_warnings():
            # disentanglement_lib keeps scikit-learn's 100 iterations; so must we, to agree with it.
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression().fit(xtr, ftr[:, j])
        return (_macro_auc(clf.predict_proba(xtr), clf.classes_, ftr[:, j]),
                _macro_auc(clf.predict_proba(xte), clf.classes_, fte[:, j]))

    # The products here are [N, D] x [D, classes]: BLAS and OpenMP threads can cost more than they
    # give (on a shared CPU two spinning threads made this 7x slower). So with threads > 1 the
    # factors are fit threads at a time, each on one BLAS thread; any number of threads gives the
    # same numbers.
    if threads is not None and threads > 1 and k > 1:
        # the factor with the most classes first: a fit's cost grows with its classes, and longest
        # first keeps one thread from starting a 40-class fit when the other is nearly done
        order = np.argsort([-len(np.unique(ftr[:, j])) for j in range(k)], kind="stable")
        with limited_threads(1), ThreadPoolExecutor(max_workers=min(threads, k)) as pool:
            done = dict(zip(order.tolist(), pool.map(one_factor, order.tolist()), strict=True))
        pairs = [done[j] for j in range(k)]
    else:
        pairs = []
        for j in range(k):  # one multinomial classifier per factor
            with limited_threads(threads):
                pairs.append(one_factor(j))
    train, test = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    return ExplicitnessResult(
        score=float(test.mean()),
        train=float(train.mean()),
        test=float(test.mean()),
        per_factor_train=train,
        per_factor_test=test,
        constant_dimensions=tuple(int(i) for i in np.flatnonzero(constant)),
    )
