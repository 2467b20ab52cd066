"""How the evaluation calls a metric: every registered metric is ``fn(codes: Codes, **options)``.

``Codes`` holds what one evaluation computed once: posterior means of n training and n // 2 test
rows with their factors (disentanglement_lib's 10,000 / 5,000 draws), the seed, and for the
metrics that sample their own batches (FactorVAE, beta-VAE) the dataset and a function encoding its
rows. The functions below adapt the existing metrics, whose own signatures stay plain arrays, to
that one calling convention; a new metric can take ``Codes`` directly and needs no adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from untwine.metrics._arrays import MetricError
from untwine.metrics.betavae import betavae_score
from untwine.metrics.dci import dci
from untwine.metrics.explicitness import explicitness
from untwine.metrics.factorvae import factorvae_score
from untwine.metrics.mic import mic
from untwine.metrics.mig import mig
from untwine.metrics.modularity import modularity
from untwine.metrics.sap import sap

SUPPLIED = ("codes",)


@dataclass(frozen=True)
class Codes:
    train: np.ndarray  # [n, D] posterior means
    train_factors: np.ndarray  # [n, K] integer factors
    test: np.ndarray  # [n // 2, D]
    test_factors: np.ndarray  # [n // 2, K]
    factor_names: list[str]
    seed: int = 0
    bins: int = 20
    dataset: Any = None  # an ImageSet with factors, for metrics that sample their own batches
    encode: Callable[[np.ndarray], np.ndarray] | None = None  # dataset rows -> codes [len, D]
    threads: int | None = None  # BLAS/OpenMP threads for metrics that take them (None: the process's)

    @property
    def split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.train, self.train_factors, self.test, self.test_factors


def score(result: Any, factor_names: Sequence[str]) -> dict[str, float]:
    """The default scores of a result: its ``score`` field, under the metric's name; a scores
    function returns suffixes of the metric's name ("" for the name itself)."""
    return {"": float(result.score)}


def mig_metric(codes: Codes):
    """Mutual information gap (Chen et al. 2018), 20-bin histograms."""
    return mig(codes.train, codes.train_factors, codes.bins)


def dci_metric(codes: Codes, learner: Literal["gbt", "sklearn"] = "gbt"):
    """Disentanglement, completeness, informativeness (Eastwood & Williams 2018); learner "gbt" is
    disentanglement_lib's GradientBoostingClassifier re-implemented, "sklearn" the original."""
    return dci(*codes.split, learner=learner, seed=codes.seed, threads=codes.threads)


def dci_scores(result: Any, factor_names: Sequence[str]) -> dict[str, float]:
    keys = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
    return {f".{key}": getattr(result, key) for key in keys}


def sap_metric(codes: Codes):
    """Separated attribute predictability (Kumar et al. 2018), discrete factors."""
    return sap(*codes.split)


def modularity_metric(codes: Codes):
    """Modularity (Ridgeway & Mozer 2018), 20-bin histograms."""
    return modularity(codes.train, codes.train_factors, codes.bins)


def explicitness_metric(codes: Codes):
    """Explicitness (Ridgeway & Mozer 2018): one-vs-rest logistic regression AUC."""
    return explicitness(*codes.split, threads=codes.threads)


def explicitness_scores(result: Any, factor_names: Sequence[str]) -> dict[str, float]:
    return {".train": result.train, ".test": result.test}


def mic_metric(codes: Codes, subset: Sequence[int] | None = None):
    """Mutual information in a subset of code dimensions (a Grouped-VAE group; paper 002)."""
    if subset is None:
        raise MetricError("metric 'mic' needs mic_subset, the code dimensions of the group")
    return mic(codes.train, codes.train_factors, subset, codes.bins)


def mic_scores(result: Any, factor_names: Sequence[str]) -> dict[str, float]:
    return {f".{f}": float(v) for f, v in zip(factor_names, result.per_factor, strict=True)}


def factorvae_metric(codes: Codes):
    """FactorVAE score (Kim & Mnih 2018): majority-vote accuracy, sampling its own batches."""
    return factorvae_score(codes.dataset, codes.encode, seed=codes.seed)


def betavae_metric(codes: Codes):
    """beta-VAE score (Higgins et al. 2017): linear classifier accuracy, sampling its own batches."""
    return betavae_score(codes.dataset, codes.encode, seed=codes.seed, threads=codes.threads)


def sampled_scores(result: Any, factor_names: Sequence[str]) -> dict[str, float]:
    return {".train_accuracy": result.train_accuracy, ".eval_accuracy": result.eval_accuracy}
