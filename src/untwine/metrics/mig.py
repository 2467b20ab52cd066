"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs", eq. 6),
as disentanglement_lib computes it (Locatello et al. 2019, mig.py).

    MIG = 1/K sum_k ( I(z_{j_k}; v_k) - max_{j != j_k} I(z_j; v_k) ) / H(v_k),   j_k = argmax_j
    I(z_j; v_k)

with I from 20-bin histograms of each code dimension (see ``_mutual_info``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from untwine.metrics._arrays import MetricError
from untwine.metrics._mutual_info import binned_mutual_info


@dataclass(frozen=True)
class MIGResult:
    score: float  # mean over factors of per_factor, in [0, 1]
    per_factor: np.ndarray  # [K] normalized gap between the two most informative dimensions
    mutual_info: np.ndarray  # [D, K] I(z_d; v_k) in nats
    entropy: np.ndarray  # [K] H(v_k) in nats
    bins: int


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> MIGResult:
    """MIG of codes [N, D] against integer factors [N, K].

    1 means each factor is captured by one dimension alone; 0 means its two best dimensions tie.
    A constant code dimension carries no information and simply counts as I = 0. Because of the
    histogram, a perfect code of a factor with more than ``bins`` values scores below 1.
    """
    mi, entropy = binned_mutual_info(codes, factors, bins)
    if mi.shape[0] < 2:
        raise MetricError(f"codes has {mi.shape[0]} dimension; MIG compares the two best, so needs >= 2")
    top = np.sort(mi, axis=0)[::-1]
    per_factor = (top[0] - top[1]) / entropy
    return MIGResult(float(per_factor.mean()), per_factor, mi, entropy, bins)
