"""The variance measures of ``measures`` applied to an ImageSet and a trained model: tables, JSON and
figures (what ``untwine variance`` prints and draws)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from untwine.metrics._arrays import MetricError
from untwine.metrics.variance.measures import (
    DecoderVarianceResult,
    FactorVarianceResult,
    decoder_jacobians,
    factor_variance,
    jacobian_variance,
)
from untwine.protocols.result import ProtocolResult


def dataset_variance(dataset, bases: int | None = 200, seed: int = 0) -> FactorVarianceResult:
    """``factor_variance`` of an ImageSet with a full factor grid, pixels in [0, 1]."""
    if dataset.factors is None:
        raise MetricError(f"{dataset.name or 'the dataset'} has no factors; the measures need a factor grid")

    def load(rows: np.ndarray) -> np.ndarray:
        return dataset.load(rows, "cpu").images.numpy()

    return factor_variance(load, dataset.factors, dataset.factor_sizes, dataset.factor_names, bases, seed)


def model_variance(model, dataset, points: int = 200, seed: int = 0,
                   rank_tolerance: float = 0.1) -> DecoderVarianceResult:
    """``jacobian_variance`` of the decoder's mean image at the posterior means of ``points`` rows of
    ``dataset`` drawn with ``seed``: the latent points where the data actually lie."""
    from untwine.models.likelihood import mean_image
    from untwine.protocols.disentanglement import encode

    rows = np.random.default_rng(seed).choice(len(dataset), size=min(points, len(dataset)), replace=False)
    device = next(model.parameters()).device
    z = torch.as_tensor(encode(model, dataset, np.sort(rows)), dtype=torch.float32, device=device)
    was_training = model.training
    model.eval()
    try:
        jacobians = decoder_jacobians(lambda latent: mean_image(model.decode(latent)), z)
    finally:
        model.train(was_training)
    return jacobian_variance(jacobians, rank_tolerance)


def format_factor_variance(result: FactorVarianceResult) -> str:
    width = max(8, *(len(n) for n in result.factor_names))
    lines = [f"{'factor':<{width}}  global variance  share  consistency (CV)",
             f"{'-' * width}  ---------------  -----  ----------------"]
    for name, g, s, c in zip(result.factor_names, result.global_variance, result.share, result.consistency,
                             strict=True):
        lines.append(f"{name:<{width}}  {g:15.3f}  {s:5.3f}  {c:16.3f}")
    lines.append(f"closest pair: {' / '.join(result.closest_pair)}, gap {result.min_gap:.3f} "
                 f"({result.bases} base points per factor; variance in pixels, images in [0, 1])")
    return "\n".join(lines)


def format_decoder_variance(result: DecoderVarianceResult) -> str:
    lines = ["direction  singular value  latent axis  alignment  consistent alignment",
             "---------  --------------  -----------  ---------  --------------------"]
    spectrum = result.singular_values.mean(axis=0)
    for i in range(result.active):
        lines.append(f"{i:9d}  {spectrum[i]:14.3f}  {result.axis[i]:11d}  {result.alignment[i]:9.3f}  "
                     f"{result.consistent_alignment[i]:20.3f}")
    lines.append(f"active directions {result.active} of {len(spectrum)}; mean alignment "
                 f"{result.mean_alignment:.3f}, consistent {result.mean_consistent_alignment:.3f} "
                 f"({len(result.singular_values)} points)")
    lines += ["", "latent axis  mean ||J e_j||^2  consistency (CV)", "-----------  ----------------  "
              "----------------"]
    for j, (g, c) in enumerate(zip(result.axis_global, result.axis_consistency, strict=True)):
        lines.append(f"{j:11d}  {g:16.3f}  {c:16.3f}")
    return "\n".join(lines)


def factor_variance_json(result: FactorVarianceResult) -> dict[str, Any]:
    return {
        "factors": list(result.factor_names), "bases": result.bases,
        "global_variance": result.global_variance.tolist(), "share": result.share.tolist(),
        "consistency": result.consistency.tolist(), "gaps": result.gaps.tolist(),
        "min_gap": result.min_gap, "closest_pair": list(result.closest_pair),
    }


def decoder_variance_json(result: DecoderVarianceResult) -> dict[str, Any]:
    return {
        "points": len(result.singular_values), "active": result.active,
        "mean_singular_values": result.singular_values.mean(axis=0).tolist(),
        "axis": result.axis.tolist(), "alignment": result.alignment.tolist(),
        "consistent_alignment": result.consistent_alignment.tolist(),
        "mean_alignment": result.mean_alignment,
        "mean_consistent_alignment": result.mean_consistent_alignment,
        "axis_global": result.axis_global.tolist(), "axis_consistency": result.axis_consistency.tolist(),
    }


def variance_figure(path: Path | str, data: FactorVarianceResult | None = None,
                    decoder: DecoderVarianceResult | None = None, title: str = "") -> Path:
    """One PNG: the factors' induced variance over base points (a box per factor: its height is the
    global amount, its spread the inconsistency) and, for a model, where the decoder's local principal
    directions point (mean V² over points, latent axis x direction) and how much each axis changes the
    image."""
    from matplotlib.figure import Figure

    panels = [p for p in (data, decoder) if p is not None]
    columns = 1 if decoder is None else (3 if data is not None else 2)
    fig = Figure(figsize=(4.2 * columns, 3.6))
    axes = np.atleast_1d(fig.subplots(1, columns))
    if not panels:
        raise MetricError("variance_figure needs dataset measures, decoder measures or both")
    column = 0
    if data is not None:
        ax = axes[column]
        ax.boxplot(list(data.per_base), showfliers=False)
        ax.plot(range(1, len(data.factor_names) + 1), data.global_variance, "o", color="C3", label="global")
        labels = [f"{n}\nCV {cv:.2f}" for n, cv in zip(data.factor_names, data.consistency, strict=True)]
        ax.set_xticks(range(1, len(data.factor_names) + 1), labels, fontsize=8)
        ax.set_ylabel("pixel variance induced (sum over pixels)")
        ax.set_title(f"dataset: closest gap {data.min_gap:.2f} ({' / '.join(data.closest_pair)})", fontsize=9)
        ax.legend(fontsize=7)
        column += 1
    if decoder is not None:
        weights = (decoder.directions**2).mean(axis=0)[:, : max(decoder.active, 1)]
        ax = axes[column]
        image = ax.imshow(weights, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xlabel("local principal direction (by singular value)")
        ax.set_ylabel("latent axis")
        ax.set_title(f"decoder: alignment {decoder.mean_alignment:.2f}, "
                     f"consistent {decoder.mean_consistent_alignment:.2f}", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.05)
        ax = axes[column + 1]
        ax.boxplot(list(decoder.axis_change.T), showfliers=False)
        ax.set_xticks(range(1, decoder.axis_change.shape[1] + 1), range(decoder.axis_change.shape[1]))
        ax.set_xlabel("latent axis j")
        ax.set_ylabel("||J e_j||^2 over points")
        ax.set_title("image change per latent axis", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def variance_protocol(model, dataset, *, seed: int, figures: Path, bases: int | None = 200,
                      points: int = 200, rank_tolerance: float = 0.1):
    """Evaluation protocol "variance": the dataset's per-factor variance structure and the decoder's
    local principal directions, figures/variance.png. Needs the whole factor grid (split "all")."""

    data = dataset_variance(dataset, bases=bases, seed=seed)
    decoder = model_variance(model, dataset, points=points, seed=seed, rank_tolerance=rank_tolerance)
    variance_figure(figures / "variance.png", data, decoder, title=dataset.name)
    scores = {
        "min_gap": data.min_gap,
        "mean_consistency": float(data.consistency.mean()),
        "alignment": decoder.mean_alignment,
        "consistent_alignment": decoder.mean_consistent_alignment,
        "active_directions": float(decoder.active),
    }
    parameters = {"bases": bases, "points": points, "rank_tolerance": rank_tolerance, "seed": seed}
    details = {"dataset": factor_variance_json(data), "decoder": decoder_variance_json(decoder)}
    return ProtocolResult(scores, parameters, details)
