"""Draws rows of a factor grid that share one factor's value: what the FactorVAE and beta-VAE scores
feed their encoders. disentanglement_lib samples factor values and renders them; an ImageSet already
holds the rendered grid, so here a row stands for its factor values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from untwine.metrics._arrays import MetricError

Encode = Callable[[np.ndarray], np.ndarray]  # row indices [M] -> codes [M, D]


class HasFactors(Protocol):
    factors: np.ndarray  # [N, K] integer class indices


class SameValueSampler:
    """Rows grouped by each factor's value, to draw rows that share a value quickly."""

    def __init__(self, dataset: HasFactors):
        factors = np.asarray(dataset.factors)
        if factors.ndim != 2 or not np.issubdtype(factors.dtype, np.integer):
            shape = factors.shape
            raise MetricError(f"dataset.factors must be integers [N, K]; got {factors.dtype} {shape}")
        self.n = len(factors)
        self.labels = np.empty_like(factors, dtype=np.int64)
        self.order, self.start, self.count = [], [], []
        for j in range(factors.shape[1]):
            _, self.labels[:, j] = np.unique(factors[:, j], return_inverse=True)
            counts = np.bincount(self.labels[:, j])
            self.order.append(np.argsort(self.labels[:, j], kind="stable"))
            self.start.append(np.concatenate([[0], np.cumsum(counts)[:-1]]))
            self.count.append(counts)
        # A factor with one value cannot be fixed against the others varying: never chosen.
        self.varying = np.flatnonzero([len(c) > 1 for c in self.count])
        if len(self.varying) == 0:
            raise MetricError("every factor of the dataset takes a single value; nothing to score")

    def choose_factors(self, rng: np.random.Generator, m: int) -> np.ndarray:
        return self.varying[rng.integers(len(self.varying), size=m)]

    def same_value(self, rng: np.random.Generator, factor: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For every rows[i, b], a uniformly drawn row with the same value of factor[i]."""
        out = np.empty_like(rows)
        for j in np.unique(factor):  # vectorized within each fixed factor
            sel = factor == j
            value = self.labels[rows[sel], j]
            offset = (rng.random(value.shape) * self.count[j][value]).astype(np.int64)
            out[sel] = self.order[j][self.start[j][value] + offset]
        return out


def encode_rows(encode: Encode, rows: np.ndarray) -> np.ndarray:
    """Codes for an array of rows of any shape [..., D], encoding every distinct row once."""
    unique, inverse = np.unique(rows, return_inverse=True)
    codes = np.asarray(encode(unique), dtype=np.float64)
    if codes.ndim != 2 or len(codes) != len(unique):
        raise MetricError(f"encode(rows) must return [len(rows), D] codes; got shape {codes.shape}")
    if not np.isfinite(codes).all():
        raise MetricError("encode(rows) returned non-finite codes")
    return codes[inverse.reshape(rows.shape)]
