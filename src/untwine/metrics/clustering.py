"""Clustering of codes against classes (paper 000's NMI column): a Gaussian mixture model with as
many components as the task has classes (7 for ISIC 2018; the paper's setting), each code assigned
to its most likely component, and the normalized mutual information between those assignments and
the true classes (``sklearn.metrics.normalized_mutual_info_score``, arithmetic normalization),
averaged over ``realizations`` fits from different random initializations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.metrics import normalized_mutual_info_score
from sklearn.mixture import GaussianMixture

from untwine.metrics._arrays import MetricError, check_codes
from untwine.metrics._threads import limited_threads

Covariance = Literal["full", "tied", "diag", "spherical"]


@dataclass(frozen=True)
class ClusteringResult:
    score: float  # mean NMI over realizations, in [0, 1]
    std: float
    per_realization: np.ndarray  # [R]
    components: int
    covariance: str


def gmm_nmi(
    codes: np.ndarray,
    labels: np.ndarray,
    components: int = 7,
    realizations: int = 10,
    covariance: Covariance = "full",
    seed: int = 0,
    threads: int | None = None,
) -> ClusteringResult:
    """NMI between a ``components``-component GMM's assignments of codes [N, D] and labels [N].

    Realization r fits with ``random_state = seed + r``. "full" covariance is scikit-learn's
    default; paper 000 does not say which it used.
    """
    z = check_codes(codes)
    y = np.asarray(labels).ravel()
    if len(y) != len(z):
        raise MetricError(f"labels has {len(y)} entries but codes has {len(z)} rows")
    if components < 1 or components > len(z):
        raise MetricError(f"components must be in 1..{len(z)} (the number of codes); got {components}")
    if realizations < 1:
        raise MetricError(f"realizations must be at least 1; got {realizations}")
    values = np.empty(realizations)
    with limited_threads(threads):
        for r in range(realizations):
            gmm = GaussianMixture(components, covariance_type=covariance, random_state=seed + r)
            values[r] = normalized_mutual_info_score(y, gmm.fit_predict(z))
    return ClusteringResult(float(values.mean()), float(values.std()), values, components, covariance)
