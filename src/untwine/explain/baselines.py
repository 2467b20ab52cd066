"""Attribution baselines through Captum on the end-to-end classifier (encoder -> latent classifier,
on pixels), as paper 003 compares them (its Figure 5):

- Saliency (Simonyan et al. 2013): |d p_c / d x|.
- Integrated Gradients (Sundararajan et al. 2017): from a black image, 32 steps.
- Occlusion (Zeiler & Fergus 2013): an 8 x 8 window, stride 2, filled with grey, the data's mean
  intensity (``fill``; default the mean of the images explained), as the paper describes.
- LIME (Ribeiro et al. 2016) on SLIC superpixels (scikit-image), a superpixel switched off is
  replaced by its own mean intensity. The surrogate is an ordinary least-squares fit: Captum's
  default Lasso (alpha 0.01) zeroes every coefficient when switching superpixels changes the
  probability by less than that, which left PneumoniaMNIST's LIME panels blank.

Each map is [B, H, W] (channels summed), for the class the rationale moves away from. Gradient maps
of a strided-convolution encoder carry its stride-2 checkerboard; ``smooth`` (a k x k box filter,
default 2, which removes a period-2 pattern exactly) is applied to saliency and integrated gradients,
and ``smooth=1`` leaves them raw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from captum._utils.models.linear_model import SkLearnLinearRegression
from captum.attr import IntegratedGradients, Lime, Occlusion, Saliency
from matplotlib.figure import Figure
from skimage.segmentation import slic
from torch import nn

from untwine.explain.rationale import RationaleResult, overlay

METHODS = ("saliency", "integrated_gradients", "occlusion", "lime")
# LIME with switched-off superpixels filled with the grey of the occlusion box instead of their own
# mean: where SLIC cuts a bright spot out as its own superpixel, its own mean keeps it bright and LIME
# sees no effect (the blob set), so the benchmark runs both
EXTRA_METHODS = ("lime_grey",)


def superpixels(image: np.ndarray, segments: int = 30) -> np.ndarray:
    """SLIC superpixels of one image [C, H, W] in [0, 1]: int labels [H, W] from 0."""
    channel_axis = 0 if image.shape[0] > 1 else None
    picture = image if channel_axis == 0 else image[0]
    labels = slic(picture.astype(np.float64), n_segments=segments, compactness=0.1, channel_axis=channel_axis,
                  start_label=0)
    return labels


def superpixel_means(image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``image`` [C, H, W] with every superpixel (``labels`` [H, W]) replaced by its own mean."""
    flat = labels.reshape(-1).long()
    count = torch.bincount(flat).clamp(min=1).to(image.dtype)
    sums = torch.zeros(image.shape[0], len(count), dtype=image.dtype, device=image.device)
    sums.index_add_(1, flat, image.reshape(image.shape[0], -1))
    return (sums / count)[:, flat].view_as(image)


def box_smooth(maps: torch.Tensor, size: int) -> torch.Tensor:
    """[B, C, H, W] maps averaged over a ``size`` x ``size`` box (same size out; 1: unchanged)."""
    if size <= 1:
        return maps
    channels = maps.shape[1]
    kernel = torch.full((channels, 1, size, size), 1.0 / size**2, dtype=maps.dtype, device=maps.device)
    padded = F.pad(maps, ((size - 1) // 2, size // 2, (size - 1) // 2, size // 2), mode="replicate")
    return F.conv2d(padded, kernel, groups=channels)


def attributions(
    model: nn.Module,
    images: torch.Tensor,
    target: Sequence[int] | torch.Tensor,
    methods: Sequence[str] = METHODS,
    window: int = 8,
    stride: int = 2,
    lime_samples: int = 200,
    segments: int = 30,
    fill: float | None = None,
    smooth: int = 2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Attribution maps [B, H, W] of ``model`` (images -> class probabilities) for class ``target``.
    ``fill``: the occlusion box's grey (default: the images' mean intensity)."""
    unknown = set(methods) - set(METHODS) - set(EXTRA_METHODS)
    if unknown:
        raise ValueError(f"unknown attribution methods {sorted(unknown)}; expected some of "
                         f"{METHODS + EXTRA_METHODS}")
    model.eval()
    target = torch.as_tensor(target, device=images.device).long().expand(len(images))
    channels = images.shape[1]
    grey = float(images.mean()) if fill is None else float(fill)
    maps: dict[str, np.ndarray] = {}
    for method in methods:
        if method == "saliency":
            found = box_smooth(Saliency(model).attribute(images, target=target, abs=True), smooth)
        elif method == "integrated_gradients":
            found = IntegratedGradients(model).attribute(images, target=target, n_steps=32)
            found = box_smooth(found, smooth)
        elif method == "occlusion":
            found = Occlusion(model).attribute(
                images, target=target, sliding_window_shapes=(channels, window, window),
                strides=(channels, stride, stride), baselines=grey, perturbations_per_eval=64,
            )
        else:  # LIME explains one image at a time, each with its own superpixels
            torch.manual_seed(seed)  # Captum draws LIME's samples from torch's global generator
            lime = Lime(model, interpretable_model=SkLearnLinearRegression())
            rows = []
            for i in range(len(images)):
                labels = torch.as_tensor(superpixels(images[i].cpu().numpy(), segments), device=images.device)
                rows.append(lime.attribute(
                    images[i : i + 1], target=target[i : i + 1], n_samples=lime_samples,
                    feature_mask=labels.expand_as(images[i : i + 1]),
                    baselines=grey if method == "lime_grey" else superpixel_means(images[i], labels)[None],
                    perturbations_per_eval=64,
                ))
            found = torch.cat(rows)
        maps[method] = found.detach().sum(1).cpu().numpy()
    return maps


def comparison_figure(
    result: RationaleResult, maps: dict[str, np.ndarray], rows: Sequence[int] | None = None
) -> Figure:
    """Paper 003's Figure 5 beside its rationale: one row per image, the original, then the rationale
    and each baseline's map, each normalized to its own largest |value| on a diverging colormap
    (red positive, blue negative) over the faint original."""
    rows = list(range(min(len(result.steps), 6))) if rows is None else list(rows)
    names = list(maps)
    figure = Figure(figsize=(2.2 * (len(names) + 2), 2.2 * len(rows)))
    axes = figure.subplots(len(rows), len(names) + 2, squeeze=False)
    for r, i in enumerate(rows):
        axes[r, 0].imshow(result.original[i].mean(0), cmap="gray", vmin=0, vmax=1)
        overlay(axes[r, 1], result.original[i], result.difference[i])
        for c, name in enumerate(names, start=2):
            overlay(axes[r, c], result.original[i], maps[name][i])
        shown = [result.difference[i], *(maps[name][i] for name in names)]
        empty = ["" if np.abs(m).max() > 0 else " (all zero)" for m in shown]
        for ax, title in zip(axes[r], ["original", *(f"{n}{e}" for n, e in zip(["rationale", *names], empty,
                                                                                strict=True))], strict=True):
            ax.set_title(title.replace("_", " "), fontsize=8)
            ax.axis("off")
    figure.tight_layout()
    return figure
