"""Attribution baselines through Captum on the end-to-end classifier (encoder -> latent classifier,
on pixels), as paper 003 compares them (its Figure 5): Saliency (Simonyan et al. 2013), Integrated
Gradients (Sundararajan et al. 2017, black baseline), Occlusion (Zeiler & Fergus 2013, window 8)
and LIME (Ribeiro et al. 2016) on SLIC superpixels (scikit-image).

Each map is [B, H, W] (channels summed), for the class the rationale moves away from.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from captum.attr import IntegratedGradients, Lime, Occlusion, Saliency
from matplotlib.figure import Figure
from skimage.segmentation import slic
from torch import nn

from untwine.explain.rationale import RationaleResult, overlay

METHODS = ("saliency", "integrated_gradients", "occlusion", "lime")


def superpixels(image: np.ndarray, segments: int = 30) -> np.ndarray:
    """SLIC superpixels of one image [C, H, W] in [0, 1]: int labels [H, W] from 0."""
    channel_axis = 0 if image.shape[0] > 1 else None
    picture = image if channel_axis == 0 else image[0]
    labels = slic(picture.astype(np.float64), n_segments=segments, compactness=0.1, channel_axis=channel_axis,
                  start_label=0)
    return labels


def attributions(
    model: nn.Module,
    images: torch.Tensor,
    target: Sequence[int] | torch.Tensor,
    methods: Sequence[str] = METHODS,
    window: int = 8,
    stride: int = 2,
    lime_samples: int = 200,
    segments: int = 30,
) -> dict[str, np.ndarray]:
    """Attribution maps [B, H, W] of ``model`` (images -> class probabilities) for class ``target``."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown attribution methods {sorted(unknown)}; expected some of {METHODS}")
    model.eval()
    target = torch.as_tensor(target, device=images.device).long().expand(len(images))
    channels = images.shape[1]
    maps: dict[str, np.ndarray] = {}
    for method in methods:
        if method == "saliency":
            found = Saliency(model).attribute(images, target=target, abs=True)
        elif method == "integrated_gradients":
            found = IntegratedGradients(model).attribute(images, target=target, n_steps=32)
        elif method == "occlusion":
            found = Occlusion(model).attribute(
                images, target=target, sliding_window_shapes=(channels, window, window),
                strides=(channels, stride, stride), baselines=0.0, perturbations_per_eval=64,
            )
        else:  # LIME explains one image at a time, each with its own superpixels
            lime = Lime(model)
            found = torch.cat([
                lime.attribute(
                    images[i : i + 1], target=target[i : i + 1], n_samples=lime_samples,
                    feature_mask=torch.as_tensor(superpixels(images[i].cpu().numpy(), segments),
                                                 device=images.device).expand_as(images[i : i + 1]),
                    baselines=images[i : i + 1].mean(), perturbations_per_eval=64,
                )
                for i in range(len(images))
            ])
        maps[method] = found.detach().sum(1).cpu().numpy()
    return maps


def comparison_figure(
    result: RationaleResult, maps: dict[str, np.ndarray], rows: Sequence[int] | None = None
) -> Figure:
    """Paper 003's Figure 5 beside its rationale: one row per image, the rationale overlaid on the
    original, then each baseline's map overlaid the same way."""
    rows = list(range(min(len(result.steps), 6))) if rows is None else list(rows)
    names = list(maps)
    figure = Figure(figsize=(2.2 * (len(names) + 2), 2.2 * len(rows)))
    axes = figure.subplots(len(rows), len(names) + 2, squeeze=False)
    for r, i in enumerate(rows):
        axes[r, 0].imshow(result.original[i].mean(0), cmap="gray", vmin=0, vmax=1)
        overlay(axes[r, 1], result.original[i], result.difference[i])
        for c, name in enumerate(names, start=2):
            overlay(axes[r, c], result.original[i], maps[name][i][None])
        for ax, title in zip(axes[r], ["original", "rationale", *names], strict=True):
            ax.set_title(title.replace("_", " "), fontsize=8)
            ax.axis("off")
    figure.tight_layout()
    return figure
