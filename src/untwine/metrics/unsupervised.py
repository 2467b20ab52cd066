"""The unsupervised scores disentanglement_lib reports beside the supervised ones (Locatello et al.
2019, evaluation/metrics/unsupervised_metrics.py): how far the codes are from factorized, with no
factors needed. All three are 0 for independent code dimensions and grow with their dependence.

- ``gaussian_total_correlation``: the total correlation of a Gaussian with the codes' covariance S,
  KL(N(0, S) || N(0, diag S)) = 1/2 (sum_d log S_dd - log det S), in nats;
- ``gaussian_wasserstein_correlation``: the squared 2-Wasserstein distance between the same two
  Gaussians, 2 tr S - 2 tr (diag(S)^1/2 S diag(S)^1/2)^1/2, and its ``_norm`` divided by tr S;
- ``mutual_info_score``: the mean over pairs d != d' of the plug-in I(z_d; z_d') of the codes cut
  into 20 equal-width bins per dimension (as MIG's histograms), in nats.

As disentanglement_lib: S is numpy's sample covariance (1/(N-1)); the Wasserstein trace of the
square root is computed from the eigenvalues of the symmetric diag(S)^1/2 S diag(S)^1/2 (the same
spectrum as disentanglement_lib's ``sqrtm(S * diag(S)[:, None])``, without a complex detour).
A constant code dimension has S_dd = 0: its log is -inf, so the total correlation is not finite and
is reported as NaN (disentanglement_lib returns NaN too, with a warning).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from untwine.metrics._arrays import MetricError, check_codes
from untwine.metrics._mutual_info import histogram_discretize, mutual_info_matrix


@dataclass(frozen=True)
class UnsupervisedResult:
    gaussian_total_correlation: float
    gaussian_wasserstein_correlation: float
    gaussian_wasserstein_correlation_norm: float
    mutual_info_score: float
    covariance: np.ndarray  # [D, D] sample covariance of the codes
    mutual_info: np.ndarray  # [D, D] I(z_d; z_d') in nats, diagonal 0
    bins: int


def gaussian_total_correlation(covariance: np.ndarray) -> float:
    """1/2 (sum_d log S_dd - log det S): KL between N(0, S) and the product of its marginals."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sign, log_det = np.linalg.slogdet(covariance)
        value = 0.5 * (np.log(np.diag(covariance)).sum() - log_det)
    return float(value) if sign > 0 and np.isfinite(value) else float("nan")


def gaussian_wasserstein_correlation(covariance: np.ndarray) -> float:
    """2 tr S - 2 tr (D^1/2 S D^1/2)^1/2 with D = diag(S): W2^2 between N(0, S) and N(0, D)."""
    root = np.sqrt(np.diag(covariance))
    eigenvalues = np.linalg.eigvalsh(root[:, None] * covariance * root[None, :])
    return float(2 * np.trace(covariance) - 2 * np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def unsupervised_scores(codes: np.ndarray, bins: int = 20) -> UnsupervisedResult:
    """The three scores of codes [N, D] (D >= 2)."""
    z = check_codes(codes)
    if z.shape[1] < 2:
        raise MetricError(f"codes has {z.shape[1]} dimension; the scores compare pairs, so need >= 2")
    covariance = np.cov(z.T)
    wasserstein = gaussian_wasserstein_correlation(covariance)
    binned = histogram_discretize(z, bins)
    # each dimension's bins relabelled 0..k-1, as a factor: the MI of codes with codes
    labels = np.empty_like(binned)
    sizes = np.empty(z.shape[1], dtype=np.int64)
    for d in range(z.shape[1]):
        values, labels[:, d] = np.unique(binned[:, d], return_inverse=True)
        sizes[d] = len(values)
    mutual_info = mutual_info_matrix(binned, labels, sizes)
    np.fill_diagonal(mutual_info, 0.0)
    d = z.shape[1]
    return UnsupervisedResult(
        gaussian_total_correlation=gaussian_total_correlation(covariance),
        gaussian_wasserstein_correlation=wasserstein,
        gaussian_wasserstein_correlation_norm=wasserstein / float(np.trace(covariance)),
        mutual_info_score=float(mutual_info.sum() / (d * d - d)),
        covariance=covariance,
        mutual_info=mutual_info,
        bins=bins,
    )
