"""KL divergence of a diagonal Gaussian posterior from N(0, I), and its decomposition by Chen et al.

Chen, Li, Grosse & Duvenaud (2018), "Isolating Sources of Disentanglement in VAEs", eq. (2):

    E_p(x)[KL(q(z|x) || p(z))] = I_q(z; x)                          index-code mutual information
                                + KL(q(z) || prod_j q(z_j))          total correlation
                                + sum_j KL(q(z_j) || p(z_j))         dimension-wise KL

q(z) is the aggregate posterior over a dataset of N images; it is estimated on a batch of M with
either of Chen et al.'s estimators (their section 4.1 and appendix C):

- minibatch weighted sampling (MWS): log q(z_i) ~= logsumexp_j log q(z_i|x_j) - log(N M);
- minibatch stratified sampling (MSS): the same sum with importance weights for a stratified draw.

Each term is an average over the batch of single-sample estimates log q(z_i|x_i) - ..., so the three
terms add up exactly to the Monte-Carlo KL estimate mean_i[log q(z_i|x_i) - log p(z_i)].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from untwine.models.base import Posterior

Estimator = Literal["mss", "mws"]
_LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mean, exp(logvar))."""
    return -0.5 * (_LOG_2PI + logvar + (z - mean).square() * torch.exp(-logvar))


def kl_to_standard_normal(posterior: Posterior) -> torch.Tensor:
    """Closed-form KL(q(z|x) || N(0, I)) per example and dimension, [B, D]."""
    return 0.5 * (posterior.mean.square() + posterior.logvar.exp() - 1.0 - posterior.logvar)


@dataclass
class KLDecomposition:
    """The three terms of Chen et al.'s eq. (2), each a scalar averaged over the batch."""

    index_code_mi: torch.Tensor
    total_correlation: torch.Tensor
    dimension_wise_kl: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.index_code_mi + self.total_correlation + self.dimension_wise_kl


def log_importance_weights(batch_size: int, dataset_size: int, device: torch.device) -> torch.Tensor:
    """log w_ij of minibatch stratified sampling, [M, M], rows i the samples z_i, columns j the x_j.

    For z_i ~ q(z|x_i), x_i itself gets weight 1/N, one other batch element (the stratum element; we
    take j = i + 1 mod M) gets (N - M + 1) / (N (M - 1)) and the M - 2 others 1 / (M - 1); each row
    sums to 1. Chen et al.'s reference code (``_log_importance_weight_matrix``) writes these with a
    stride of M instead of M + 1, which puts 1/N in column 0 of every row rather than on the diagonal
    (reported as rtqichen/beta-tcvae PR #1 and in YannDubs/disentangling-vae issue #58, and copied by
    several libraries); untwine implements the estimator as the paper derives it.
    """
    if batch_size < 3:
        raise ValueError("minibatch stratified sampling needs a batch of at least 3")
    others = batch_size - 1
    rows = torch.arange(batch_size, device=device)
    weights = torch.full((batch_size, batch_size), 1.0 / others, device=device)
    weights[rows, (rows + 1) % batch_size] = (dataset_size - others) / (dataset_size * others)
    weights[rows, rows] = 1.0 / dataset_size
    return weights.log()


def decompose_kl(
    z: torch.Tensor, posterior: Posterior, dataset_size: int, estimator: Estimator = "mss"
) -> KLDecomposition:
    """Estimate index-code MI, total correlation and dimension-wise KL on one batch.

    ``z`` are samples z_i ~ q(z|x_i) [M, D]; ``dataset_size`` is N, the size of the training set.
    """
    batch_size = z.shape[0]
    log_qz_given_x = gaussian_log_density(z, posterior.mean, posterior.logvar).sum(1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    # log q(z_i[d] | x_j) for every pair (i, j) and dimension d: [M, M, D]
    log_qz_pairs = gaussian_log_density(
        z.unsqueeze(1), posterior.mean.unsqueeze(0), posterior.logvar.unsqueeze(0)
    )
    if estimator == "mws":
        log_norm = math.log(batch_size * dataset_size)
        log_qz = torch.logsumexp(log_qz_pairs.sum(2), dim=1) - log_norm
        log_prod_qz = (torch.logsumexp(log_qz_pairs, dim=1) - log_norm).sum(1)
    elif estimator == "mss":
        log_w = log_importance_weights(batch_size, dataset_size, z.device)
        log_qz = torch.logsumexp(log_w + log_qz_pairs.sum(2), dim=1)
        log_prod_qz = torch.logsumexp(log_w.unsqueeze(2) + log_qz_pairs, dim=1).sum(1)
    else:
        raise ValueError(f"unknown estimator {estimator!r}; expected 'mss' or 'mws'")
    return KLDecomposition(
        index_code_mi=(log_qz_given_x - log_qz).mean(),
        total_correlation=(log_qz - log_prod_qz).mean(),
        dimension_wise_kl=(log_prod_qz - log_pz).mean(),
    )
