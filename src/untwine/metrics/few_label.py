"""Classification from few labels (paper 000's ACC column): split the codes into ``folds``
stratified folds; each fold in turn is the training set (10% of the data for 10 folds) of a small
multi-layer perceptron, tested on the other folds (90%); the score is the mean test accuracy over
folds, with its standard deviation. This inverts the usual k-fold roles on purpose: the paper
trains "on 10% of the data and evaluate[s] it on the remaining 90%" with 10-fold stratified CV.

The MLP is scikit-learn's ``MLPClassifier`` (one hidden layer of 100 ReLU units, Adam) on codes
standardized with the training fold's mean and variance; paper 000 gives no size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from untwine.metrics._arrays import MetricError, check_codes
from untwine.metrics._threads import limited_threads


@dataclass(frozen=True)
class FewLabelResult:
    score: float  # mean test accuracy over folds
    std: float
    per_fold: np.ndarray  # [folds] accuracy on the other folds
    train_size: np.ndarray  # [folds] codes each classifier saw
    hidden: tuple[int, ...]


def few_label_accuracy(
    codes: np.ndarray,
    labels: np.ndarray,
    folds: int = 10,
    hidden: tuple[int, ...] = (100,),
    max_iter: int = 1000,
    seed: int = 0,
    threads: int | None = None,
) -> FewLabelResult:
    """Accuracy of an MLP trained on one of ``folds`` stratified folds of codes [N, D] and tested
    on the rest, for every fold (mean and std over folds)."""
    z = check_codes(codes)
    y = np.asarray(labels).ravel()
    if len(y) != len(z):
        raise MetricError(f"labels has {len(y)} entries but codes has {len(z)} rows")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise MetricError(f"labels hold a single class ({classes[0]}); nothing to classify")
    if counts.min() < folds:
        raise MetricError(
            f"class {classes[counts.argmin()]} has {counts.min()} codes, fewer than folds={folds}; "
            "stratified folds need at least one per fold"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    accuracy, sizes = np.empty(folds), np.empty(folds, dtype=np.int64)
    with limited_threads(threads), warnings.catch_warnings():
        # 20 codes are fit to the iteration limit; a non-converged fit is still the classifier scored
        warnings.simplefilter("ignore", ConvergenceWarning)
        # each "test" fold of k-fold CV is this protocol's training set
        for i, (rest, fold) in enumerate(splitter.split(z, y)):
            model = make_pipeline(
                StandardScaler(),
                MLPClassifier(hidden_layer_sizes=hidden, max_iter=max_iter, random_state=seed + i),
            )
            model.fit(z[fold], y[fold])
            accuracy[i] = model.score(z[rest], y[rest])
            sizes[i] = len(fold)
    return FewLabelResult(float(accuracy.mean()), float(accuracy.std()), accuracy, sizes, tuple(hidden))
