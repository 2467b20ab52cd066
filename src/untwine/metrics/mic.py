"""Mutual Information Concentration (paper 002, Grouped-VAE, eq. 13): how much of what the code
knows
about a factor sits in a subset S of the dimensions rather than outside it,

    MIC(f, S) = ( sum_{n in S} I(d_n; f) - sum_{n not in S} I(d_n; f) ) / H(f)

with I and H estimated from 20-bin histograms as in MIG (the paper uses scikit-learn the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from untwine.metrics._arrays import MetricError
from untwine.metrics._mutual_info import binned_mutual_info


@dataclass(frozen=True)
class MICResult:
    score: float  # mean over factors of per_factor (the paper reports per_factor)
    per_factor: np.ndarray  # [K] MIC(f_k, S), in [-sum_n I/H, sum_n I/H]
    subset: tuple[int, ...]
    mutual_info: np.ndarray  # [D, K] in nats
    entropy: np.ndarray  # [K] in nats
    bins: int


def mic(codes: np.ndarray, factors: np.ndarray, subset: Sequence[int], bins: int = 20) -> MICResult:
    """MIC of every factor in ``subset`` (indices of code dimensions, e.g. a Grouped-VAE group).

    Positive: more information about the factor inside S than outside. Not bounded by 1: several
    dimensions can each carry the factor's full entropy.
    """
    mi, entropy = binned_mutual_info(codes, factors, bins)
    d = mi.shape[0]
    chosen = tuple(int(i) for i in subset)
    if not chosen or any(not 0 <= i < d for i in chosen) or len(set(chosen)) != len(chosen):
        raise MetricError(f"subset must list distinct code dimensions in 0..{d - 1}; got {list(subset)}")
    inside = np.zeros(d, dtype=bool)
    inside[list(chosen)] = True
    sign = np.where(inside, 1.0, -1.0)
    per_factor = (sign @ mi) / entropy
    return MICResult(float(per_factor.mean()), per_factor, chosen, mi, entropy, bins)
