"""How variance is structured, in a dataset and in a decoder (paper 001, "Disentanglement and Local
Directions of Variance"; Rakowski & Lippert, ECML PKDD 2021; the PCA view of VAEs of Rolinek et al.
2019 and Zietlow et al. 2021).

Dataset, from a full factor grid. For factor k and a base point b of the grid, the line L_k(b) holds
the images that differ from b in factor k only. The variance that factor induces there is the total
pixel variance along the line (the trace of its covariance, what PCA ranks directions by):

    V_k(b) = Σ_pixels Var_{v ∈ values of k} [ x(b with factor k = v) ]
    global_k      = mean_b V_k(b)                       how much variance the factor induces
    consistency_k = std_b V_k(b) / mean_b V_k(b)        0 when it induces the same amount everywhere
    gap_kl        = |global_k - global_l| / max(global_k, global_l)

By the PCA analogy, axes align with factors when the factors' amounts are far apart (large gaps) and
the same everywhere (consistency near 0); two factors with a gap near 0 can be rotated into each other.

Decoder, at latent points z_p (posterior means of data points): the Jacobian J_p = ∂ g(z) / ∂z [N x D]
of the decoded image, its SVD J_p = U S Vᵀ; the columns of V are the local principal directions in
latent space, ordered by how much the image changes along them (S). For the r directions that change
the image (mean singular value >= ``rank_tolerance`` x the largest):

    alignment_i            = mean_p max_j V_p[j, i]²       1: direction i is a latent axis at each point
    consistent_alignment_i = mean_p V_p[a_i, i]²           a_i the axis direction i most often is:
                                                            1 only if it is the same axis everywhere
    axis_change_j(p)       = ||J_p e_j||²,  with mean and coefficient of variation over points
                           (the decoder's counterpart of global_k and consistency_k)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from untwine.metrics._arrays import MetricError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class FactorVarianceResult:
    factor_names: tuple[str, ...]  # the factors that vary (factors of one value are left out)
    per_base: np.ndarray  # [K, B] V_k(b): total pixel variance factor k induces at base point b
    global_variance: np.ndarray  # [K] mean over base points
    consistency: np.ndarray  # [K] coefficient of variation over base points
    share: np.ndarray  # [K] global_variance / its sum
    gaps: np.ndarray  # [K, K] |G_k - G_l| / max(G_k, G_l), 0 on the diagonal
    min_gap: float  # the closest two factors' gap
    closest_pair: tuple[str, str]
    bases: int  # base points per factor


def _grid_lookup(factors: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """row[c] of the image with factor combination c (raveled in C order); every combination present."""
    sizes = tuple(int(s) for s in sizes)
    if factors.ndim != 2 or factors.shape[1] != len(sizes):
        raise MetricError(f"factors have shape {factors.shape}: expected [N, {len(sizes)}]")
    if (factors < 0).any() or (factors >= np.array(sizes)).any():
        raise MetricError(f"factors hold class indices outside 0..size-1 for sizes {sizes}")
    codes = np.ravel_multi_index(factors.T, sizes)
    rows = np.full(int(np.prod(sizes)), -1, dtype=np.int64)
    rows[codes[::-1]] = np.arange(len(codes))[::-1]  # the first row of each combination wins
    missing = int((rows < 0).sum())
    if missing:
        raise MetricError(
            f"the factor grid {sizes} misses {missing} of its {rows.size} combinations; the dataset "
            "measures change one factor at a time and need every combination"
        )
    return rows


def factor_variance(
    load: Callable[[np.ndarray], np.ndarray],
    factors: np.ndarray,
    factor_sizes: Sequence[int],
    factor_names: Sequence[str] | None = None,
    bases: int | None = 200,
    seed: int = 0,
    chunk: int = 4096,
) -> FactorVarianceResult:
    """Global amount, consistency and gaps of the variance each factor induces (module docstring).

    ``load(rows)`` returns the images of those rows as floats [len(rows), ...] (any shape per image);
    ``factors`` [N, K] are class indices on the full grid of ``factor_sizes``. ``bases`` base points
    are drawn uniformly from the grid with ``seed``; ``None`` takes every grid point (exact).
    """
    factors = np.asarray(factors, dtype=np.int64)
    sizes = tuple(int(s) for s in factor_sizes)
    names = tuple(factor_names) if factor_names else tuple(f"factor {k}" for k in range(len(sizes)))
    if len(names) != len(sizes):
        raise MetricError(f"{len(names)} factor names for {len(sizes)} factor sizes")
    rows = _grid_lookup(factors, sizes)
    grid = np.array(np.unravel_index(np.arange(rows.size), sizes)).T  # [G, K]
    if bases is None:
        base_points = grid
    elif bases < 2:
        raise MetricError(f"bases={bases}: need at least 2 base points to measure consistency")
    else:
        base_points = grid[np.random.default_rng(seed).integers(rows.size, size=bases)]
    varying = [k for k, s in enumerate(sizes) if s > 1]
    if not varying:
        raise MetricError(f"no factor takes more than one value (sizes {sizes})")
    per_base = np.empty((len(varying), len(base_points)))
    for out, k in enumerate(varying):
        per_chunk = max(1, chunk // sizes[k])
        for start in range(0, len(base_points), per_chunk):
            line = np.repeat(base_points[start : start + per_chunk, None, :], sizes[k], axis=1)
            line[:, :, k] = np.arange(sizes[k])  # [b, v, K]: base b with factor k set to v
            codes = np.ravel_multi_index(line.reshape(-1, len(sizes)).T, sizes)
            images = np.asarray(load(rows[codes]), dtype=np.float64).reshape(len(line), sizes[k], -1)
            per_base[out, start : start + len(line)] = images.var(axis=1).sum(axis=1)
    global_variance = per_base.mean(axis=1)
    spread = per_base.std(axis=1)
    consistency = np.divide(spread, global_variance, out=np.zeros_like(spread), where=global_variance > 0)
    high = np.maximum(global_variance[:, None], global_variance[None, :])
    gaps = np.divide(np.abs(global_variance[:, None] - global_variance[None, :]), high,
                     out=np.zeros_like(high), where=high > 0)
    used = tuple(names[k] for k in varying)
    if len(varying) > 1:
        off = gaps + np.diag(np.full(len(varying), np.inf))
        i, j = np.unravel_index(np.argmin(off), off.shape)
        min_gap, pair = float(off[i, j]), (used[min(i, j)], used[max(i, j)])
    else:
        min_gap, pair = float("nan"), (used[0], used[0])
    share = global_variance / global_variance.sum() if global_variance.sum() > 0 else global_variance
    return FactorVarianceResult(used, per_base, global_variance, consistency, share, gaps, min_gap, pair,
                                len(base_points))


@dataclass(frozen=True)
class DecoderVarianceResult:
    singular_values: np.ndarray  # [P, D] per point, descending
    directions: np.ndarray  # [P, D, D] right singular vectors: directions[p, :, i] is direction i
    active: int  # r: directions whose mean singular value >= rank_tolerance x the largest
    alignment: np.ndarray  # [r] mean over points of max_j V[j, i]²
    axis: np.ndarray  # [r] the latent axis direction i is most often (max_j V[j, i]²)
    consistent_alignment: np.ndarray  # [r] mean over points of V[axis_i, i]²
    axis_change: np.ndarray  # [P, D] ||J e_j||² per point and latent axis
    axis_global: np.ndarray  # [D] mean over points of axis_change
    axis_consistency: np.ndarray  # [D] coefficient of variation over points
    mean_alignment: float  # alignment averaged over the active directions
    mean_consistent_alignment: float


def jacobian_variance(jacobians: np.ndarray, rank_tolerance: float = 0.1) -> DecoderVarianceResult:
    """Local principal directions of a decoder from its Jacobians [P, N, D] at P latent points."""
    jacobians = np.asarray(jacobians, dtype=np.float64)
    if jacobians.ndim != 3 or jacobians.shape[0] < 1 or jacobians.shape[2] < 1:
        raise MetricError(f"jacobians have shape {jacobians.shape}: expected [points, outputs, latent]")
    if not 0 < rank_tolerance <= 1:
        raise MetricError(f"rank_tolerance={rank_tolerance}: expected a fraction in (0, 1]")
    _, singular, vt = np.linalg.svd(jacobians, full_matrices=False)  # vt [P, min(N, D), D]
    d = jacobians.shape[2]
    if singular.shape[1] < d:  # fewer outputs than latent dimensions: pad the spectrum with zeros
        singular = np.pad(singular, ((0, 0), (0, d - singular.shape[1])))
        vt = np.concatenate([vt, np.zeros((len(vt), d - vt.shape[1], d))], axis=1)
    directions = np.swapaxes(vt, 1, 2)  # [P, D(axis j), D(direction i)]
    spectrum = singular.mean(axis=0)
    active = int((spectrum >= rank_tolerance * spectrum[0]).sum()) if spectrum[0] > 0 else 0
    weights = directions[:, :, :active] ** 2  # [P, D, r]
    alignment = weights.max(axis=1).mean(axis=0)
    votes = weights.argmax(axis=1)  # [P, r]
    axis = np.array([np.bincount(votes[:, i], minlength=d).argmax() for i in range(active)], dtype=np.int64)
    consistent = weights[:, axis, np.arange(active)].mean(axis=0) if active else np.zeros(0)
    change = (jacobians**2).sum(axis=1)  # [P, D]
    mean_change = change.mean(axis=0)
    spread = change.std(axis=0)
    axis_consistency = np.divide(spread, mean_change, out=np.zeros_like(spread), where=mean_change > 0)
    return DecoderVarianceResult(
        singular, directions, active, alignment, axis, consistent, change, mean_change, axis_consistency,
        float(alignment.mean()) if active else float("nan"),
        float(consistent.mean()) if active else float("nan"),
    )


def decoder_jacobians(decode: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
                      chunk: int = 256) -> np.ndarray:
    """∂ decode(z_p) / ∂z at every row z_p of z [P, D], as [P, N, D] (N the flattened output).

    One forward-mode product per latent axis, each for all points at once (rows are independent):
    ``torch.autograd.functional.jvp``, whose double-backward trick works through custom autograd
    functions (conv64's matrix-product layers) where ``torch.func`` transforms do not.
    """
    import torch

    if z.ndim != 2:
        raise MetricError(f"z has shape {tuple(z.shape)}: expected [points, latent dimensions]")
    out = []
    for part in z.detach().split(chunk):
        columns = []
        for j in range(part.shape[1]):
            direction = torch.zeros_like(part)
            direction[:, j] = 1
            _, column = torch.autograd.functional.jvp(decode, part, direction)
            columns.append(column.reshape(len(part), -1).detach())
        out.append(torch.stack(columns, dim=-1).double().cpu())
    return torch.cat(out).numpy()
