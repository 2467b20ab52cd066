"""Unsupervised Disentanglement Ranking (Duan, Matthey, Saraiva, Watters, Burgess, Lerchner &
Higgins 2020, "Unsupervised Model Selection for Variational Disentangled Representation Learning",
ICLR), as disentanglement_lib computes it (evaluation/udr/metrics/udr.py, ``compute_udr_sklearn``).

No factors: a model is judged by how similar its representation is to those of models trained with
the same hyperparameters and other seeds, since (the paper argues) disentangled solutions agree up to
permutation and sign while entangled ones differ from seed to seed.

For models a and b encoded on the same N images:
1. each code dimension is standardized (zero mean, unit variance; a constant one is left at 0) and
   set to 0 where its mean KL(q(z_d|x) || N(0, 1)) is not above 0.01 (inactive);
2. R_ab [D_a, D_b] is |Spearman correlation| of every pair of dimensions (``"spearman"``) or
   |coefficients| of a Lasso (alpha 0.1) that predicts b's dimensions from a's (``"lasso"``);
3. with the KL filter, R_ab keeps only the rows and columns of dimensions with KL > ``kl_threshold``;
4. the pairwise score is the relative strength

       UDR_ab = 1/2 [ mean_b' max_a' R^2 / sum_a' R  +  mean_a' max_b' R^2 / sum_b' R ]

   (each dimension's strongest correlation, squared, over the sum of its correlations; 0/0 counts
   as 0, and a column holding a NaN, Spearman's value for a constant dimension, counts as 0);
5. model b's UDR is the median of UDR_ab over the other models a of its group.

disentanglement_lib's quirks kept, so the values equal its values: step 1 uses 0.01 whatever
``kl_threshold`` says; ``relative_strength`` averages each direction with NaNs set to 0. One choice
made where it raises: a pair in which either model has no active dimension scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import rankdata

from untwine.metrics._arrays import MetricError, check_codes

Correlation = Literal["spearman", "lasso"]
ACTIVE_KL = 0.01  # disentanglement_lib zeroes dimensions at or below this KL (hard-coded there)


@dataclass(frozen=True)
class UDRResult:
    model_scores: np.ndarray  # [M] each model's UDR: median similarity to the other models
    pairwise: np.ndarray  # [M, M] UDR_ab, a the predictor, b the predicted; diagonal 0
    correlations: np.ndarray  # [M, M, D, D] R_ab before the KL filter
    active: np.ndarray  # [M, D] bool, KL > kl_threshold
    correlation: Correlation
    kl_threshold: float


def relative_strength(matrix: np.ndarray) -> float:
    """1/2 [mean over columns of max^2 / sum + mean over rows of max^2 / sum], NaN and 0/0 as 0."""
    if matrix.size == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = np.nan_to_num(matrix.max(axis=0) ** 2 / matrix.sum(axis=0))
        rows = np.nan_to_num(matrix.max(axis=1) ** 2 / matrix.sum(axis=1))
    return float((columns.mean() + rows.mean()) / 2)


def standardized(codes: np.ndarray, kl: np.ndarray) -> np.ndarray:
    """Step 1: zero mean, unit variance (scikit-learn's StandardScaler), inactive dimensions 0."""
    std = codes.std(axis=0)
    scaled = (codes - codes.mean(axis=0)) / np.where(std == 0, 1.0, std)
    return scaled * (kl > ACTIVE_KL)


def spearman_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|Spearman correlation| [D_a, D_b] of every column pair, NaN where a column is constant."""
    ranks_a, ranks_b = rankdata(a, axis=0), rankdata(b, axis=0)
    ranks_a, ranks_b = ranks_a - ranks_a.mean(0), ranks_b - ranks_b.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        norms = np.outer(np.sqrt((ranks_a**2).sum(0)), np.sqrt((ranks_b**2).sum(0)))
        return np.abs(ranks_a.T @ ranks_b / norms)


def lasso_matrix(a: np.ndarray, b: np.ndarray, seed: int = 0) -> np.ndarray:
    """|coefficients| [D_a, D_b] of a Lasso (alpha 0.1) predicting each column of b from a."""
    from sklearn.linear_model import Lasso

    return np.abs(Lasso(alpha=0.1, random_state=seed).fit(a, b).coef_).T


def udr(
    codes: Sequence[np.ndarray],
    kl: Sequence[np.ndarray],
    correlation: Correlation = "spearman",
    filter_low_kl: bool = True,
    kl_threshold: float = 0.01,
    seed: int = 0,
) -> UDRResult:
    """UDR of M >= 2 models of one hyperparameter setting (other seeds) from their codes.

    ``codes[m]`` [N, D] are model m's posterior means of the same N images; ``kl[m]`` [D] its mean
    KL(q(z_d|x) || N(0, 1)) per dimension on them. Scores lie in [0, 1]; higher is more alike.
    """
    if correlation not in ("spearman", "lasso"):
        raise MetricError(f"correlation must be 'spearman' or 'lasso'; got {correlation!r}")
    if len(codes) != len(kl) or len(codes) < 2:
        raise MetricError(f"udr needs codes and kl of >= 2 models each; got {len(codes)} and {len(kl)}")
    z = [check_codes(c, f"codes[{m}]") for m, c in enumerate(codes)]
    shapes = {c.shape for c in z}
    if len(shapes) != 1:
        raise MetricError(f"every model's codes must be [N, D] of the same N images; got {sorted(shapes)}")
    n, d = z[0].shape
    divergences = [np.asarray(k, dtype=np.float64) for k in kl]
    for m, k in enumerate(divergences):
        if k.shape != (d,) or not np.isfinite(k).all():
            raise MetricError(f"kl[{m}] must be {d} finite values, one per dimension; got shape {k.shape}")
    reps = [standardized(c, k) for c, k in zip(z, divergences, strict=True)]
    active = np.stack([k > kl_threshold for k in divergences])
    models = len(reps)
    correlations = np.zeros((models, models, d, d))
    pairwise = np.zeros((models, models))
    for a in range(models):
        for b in range(models):
            if a == b:
                continue
            r = spearman_matrix(reps[a], reps[b]) if correlation == "spearman" else lasso_matrix(
                reps[a], reps[b], seed)
            correlations[a, b] = r
            if filter_low_kl:
                r = r[active[a]][:, active[b]]
            pairwise[a, b] = relative_strength(r)
    scores = np.array([np.median(np.delete(pairwise[:, b], b)) for b in range(models)])
    return UDRResult(scores, pairwise, correlations, active, correlation, kl_threshold)
