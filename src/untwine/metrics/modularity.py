"""Modularity (Ridgeway & Zemel 2018, "Learning Deep Disentangled Embeddings with the F-Statistic
Loss", Sec. 3), as disentanglement_lib computes it (modularity_explicitness.py).

For code dimension d with MI row m_d (20-bin histograms, see ``_mutual_info``) and best factor k*:

    delta_d = sum_{k != k*} m_dk^2 / ((K - 1) m_dk*^2),    modularity = mean_d (1 - delta_d)

disentanglement_lib computes it on the training split only; pass that split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from untwine.metrics._arrays import MetricError
from untwine.metrics._mutual_info import binned_mutual_info


@dataclass(frozen=True)
class ModularityResult:
    score: float  # mean over code dimensions of per_dimension, in [0, 1]
    per_dimension: np.ndarray  # [D] 1 - delta_d; 0 for a dimension with no information
    mutual_info: np.ndarray  # [D, K] in nats
    bins: int


def modularity(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> ModularityResult:
    """Modularity of codes [N, D] against integer factors [N, K] (K >= 2).

    1 means every dimension informs about one factor only. Kept from disentanglement_lib: a
    dimension
    with zero MI to every factor (a collapsed or constant one) scores 0 and still counts in the
    mean,
    so unused dimensions lower modularity.
    """
    mi, _ = binned_mutual_info(codes, factors, bins)
    k = mi.shape[1]
    if k < 2:
        raise MetricError("factors has 1 column; modularity compares factors, so needs >= 2")
    sq = mi**2
    best = sq.max(axis=1)
    delta = np.divide(sq.sum(axis=1) - best, best * (k - 1), out=np.ones_like(best), where=best > 0)
    per_dimension = np.where(best > 0, 1.0 - delta, 0.0)
    return ModularityResult(float(per_dimension.mean()), per_dimension, mi, bins)
