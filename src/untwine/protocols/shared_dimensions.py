"""Which latent dimensions a pair model treats as shared: for pairs drawn as in training, the
fraction of pairs in which each dimension falls below Ada-GVAE's adaptive threshold
(models/adagvae.py), set beside the ground-truth factors that changed in the pair.

On a longitudinal set whose changing factor is known (data/longitudinal.py: scale drifts, shape,
colour and position stay), a model that learned the weak supervision flags the dimension that
encodes scale as "not shared" in nearly every pair and the others as shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from matplotlib.figure import Figure

from untwine.data.pairs import PairSet
from untwine.metrics._mutual_info import binned_mutual_info
from untwine.models.adagvae import pair_divergence, shared_dimensions
from untwine.models.base import Posterior
from untwine.models.divergence import kl_to_standard_normal
from untwine.protocols.result import ProtocolResult


@dataclass
class SharedDimensions:
    """``shared_fraction`` [D]: pairs in which dimension d is below the threshold. ``flagged``
    [D, K]: of the pairs in which factor k changed, the fraction in which d is above it (NaN where
    k never changed). ``informative`` [K]: the dimension with the most mutual information with k."""

    shared_fraction: np.ndarray
    flagged: np.ndarray
    informative: np.ndarray
    mutual_info: np.ndarray
    active: np.ndarray  # [D] mean KL(q(z_d|x) || N(0, 1)) > 0.01 nats: the model uses d


def summarize_shared(
    shared: np.ndarray, changed: np.ndarray, codes: np.ndarray, factors: np.ndarray, kl: np.ndarray
) -> SharedDimensions:
    """From shared [P, D] (bool), changed factors [P, K] (bool), codes [N, D] and factors [N, K] of
    the pairs' images, and each dimension's mean KL to the prior [D]."""
    shared, changed = np.asarray(shared, bool), np.asarray(changed, bool)
    times_changed = changed.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        flagged = (~shared).T.astype(float) @ changed.astype(float) / times_changed
    # a factor constant over these images carries no information (and the MI estimator refuses it)
    varies = (factors != factors[:1]).any(0)
    mutual_info = np.zeros((codes.shape[1], factors.shape[1]))
    if varies.any():
        mutual_info[:, varies] = binned_mutual_info(codes, factors[:, varies])[0]
    return SharedDimensions(
        shared_fraction=shared.mean(0),
        flagged=np.where(times_changed > 0, flagged, np.nan),
        informative=mutual_info.argmax(0),
        mutual_info=mutual_info,
        active=kl > 0.01,
    )


@torch.inference_mode()
def _posteriors(model, pairs: PairSet, indices: torch.Tensor, batch_size: int) -> tuple[Posterior, Posterior]:
    device = next(model.parameters()).device
    firsts, seconds = [], []
    for chunk in indices.split(batch_size):
        batch = pairs.load(chunk, device)
        firsts.append(model.encode(batch.images))
        seconds.append(model.encode(batch.pair.images))

    def cat(posteriors: list[Posterior]) -> Posterior:
        return Posterior(torch.cat([p.mean for p in posteriors]).cpu(),
                         torch.cat([p.logvar for p in posteriors]).cpu())

    return cat(firsts), cat(seconds)


def shared_dimensions_figure(result: SharedDimensions, factor_names: list[str], path: Path) -> None:
    """Bars: the fraction of pairs sharing each dimension, labelled with its most informative
    factor; heatmap: P(dimension above the threshold | factor changed)."""
    dims = np.arange(len(result.shared_fraction))
    best = result.mutual_info.argmax(1)
    figure = Figure(figsize=(11, 4), layout="constrained")
    bars, heat = figure.subplots(1, 2, width_ratios=(1.3, 1))
    colours = np.where(result.active, "tab:blue", "lightgray")
    bars.bar(dims, result.shared_fraction, color=colours)
    for d in dims:
        label = factor_names[best[d]] if result.active[d] else "unused"
        bars.text(d, result.shared_fraction[d] + 0.02, label, rotation=90, ha="center", va="bottom",
                  fontsize=8)
    bars.set(xticks=dims, ylim=(0, 1.35), xlabel="latent dimension (gray: unused, KL < 0.01)",
             ylabel="fraction of pairs: shared (below tau)", title="dimensions treated as shared")
    changed = ~np.isnan(result.flagged).all(0)
    image = heat.imshow(result.flagged[:, changed], vmin=0, vmax=1, cmap="viridis", aspect="auto")
    heat.set(xticks=range(changed.sum()), xticklabels=[n for n, c in zip(factor_names, changed,
                                                                          strict=True) if c],
             yticks=dims, ylabel="latent dimension", title="P(not shared | factor changed)")
    figure.colorbar(image, ax=heat)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def shared_dimensions_protocol(
    model: torch.nn.Module,
    dataset,
    *,
    seed: int,
    figures: Path,
    by: Literal["factors", "groups"] = "groups",
    k: int | None = 1,
    pairs: int = 2000,
    batch_size: int = 256,
) -> ProtocolResult:
    """Draw ``pairs`` pairs of ``dataset`` (as training drew them), threshold each pair's
    per-dimension KL as Ada-GVAE does, and relate the shared dimensions to the changed factors.
    Scores: ``flagged_<factor>``, how often the dimension most informative about a changed factor
    is above the threshold; ``shared_per_pair``, the mean number of shared dimensions."""
    pair_set = PairSet(dataset, by, k)
    sampler = pair_set.sampler(min(pairs, len(pair_set.source.eligible())), seed)
    indices = torch.cat([sampler.indices(step) for step in range(-(-pairs // sampler.first.batch_size))])
    indices = indices[:pairs]
    first, second = _posteriors(model, pair_set, indices, batch_size)
    known_k = getattr(getattr(model, "config", None), "k", None)
    shared = shared_dimensions(pair_divergence(first, second), known_k).numpy()
    rows = indices.numpy()
    factors = np.asarray(dataset.factors)
    changed = factors[rows[:, 0]] != factors[rows[:, 1]]
    codes = torch.cat([first.mean, second.mean]).double().numpy()
    kl = torch.cat([kl_to_standard_normal(first), kl_to_standard_normal(second)]).mean(0).numpy()
    result = summarize_shared(shared, changed, codes, np.concatenate([factors[rows[:, 0]],
                                                                      factors[rows[:, 1]]]), kl)
    names = list(dataset.factor_names)
    shared_dimensions_figure(result, names, figures / "shared_dimensions.png")
    scores = {"shared_per_pair": float(shared.sum(1).mean())}
    for j, name in enumerate(names):
        if changed[:, j].any():
            scores[f"flagged_{name}"] = float(result.flagged[result.informative[j], j])
    details = {
        "layout": "[latent dimension][factor]",
        "factors": names,
        "shared_fraction": result.shared_fraction.tolist(),
        "flagged": [[None if np.isnan(v) else float(v) for v in row] for row in result.flagged],
        "mutual_info": result.mutual_info.tolist(),
        "active": result.active.tolist(),
    }
    return ProtocolResult(scores, {"by": by, "k": k, "pairs": pairs, "threshold": known_k or "adaptive"},
                          details)
