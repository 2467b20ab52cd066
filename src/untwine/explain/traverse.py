"""Latent traversals: decode an image's code with one dimension swept across [-3, 3].

A grid has one row per latent dimension, ordered by the dimension's mean KL(q(z_d|x) || p(z_d))
over a sample of images: dimensions the model uses come first, collapsed ones (KL ~ 0) last.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from untwine.core.images import image_grid, save_image
from untwine.models.base import Model
from untwine.models.divergence import kl_to_standard_normal
from untwine.models.likelihood import mean_image


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def traverse(
    model: Model,
    x: torch.Tensor,
    dims: Sequence[int] | None = None,
    span: tuple[float, float] = (-3.0, 3.0),
    steps: int = 10,
) -> torch.Tensor:
    """Images [len(dims), steps, C, H, W] in [0, 1]: row d sets z_d to ``steps`` values in ``span``
    and keeps every other dimension at the posterior mean of ``x`` ([C, H, W] or [1, C, H, W])."""
    x = x.reshape(1, *x.shape[-3:]).to(_device(model))
    base = model.encode(x).mean[0]
    dims = list(range(base.numel())) if dims is None else list(dims)
    values = torch.linspace(span[0], span[1], steps, device=base.device)
    codes = base.repeat(len(dims), steps, 1)
    for row, dim in enumerate(dims):
        codes[row, :, dim] = values
    images = mean_image(model.decode(codes.flatten(0, 1)))
    return images.view(len(dims), steps, *images.shape[1:]).cpu()


@torch.inference_mode()
def kl_per_dimension(model: Model, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Mean KL(q(z_d|x) || N(0, 1)) of each latent dimension over ``images`` (float, [N, C, H, W])."""
    device = _device(model)
    total = None
    for start in range(0, len(images), batch_size):
        kl = kl_to_standard_normal(model.encode(images[start : start + batch_size].to(device)))
        total = kl.sum(0) if total is None else total + kl.sum(0)
    return (total / len(images)).cpu().numpy()


def traversal_figure(
    model: Model, x: torch.Tensor, reference: torch.Tensor, steps: int = 10,
    span: tuple[float, float] = (-3.0, 3.0),
) -> PIL.Image.Image:
    """The traversal grid of ``x``, rows ordered by mean KL over ``reference`` images."""
    kl = kl_per_dimension(model, reference)
    order = np.argsort(-kl)
    rows = traverse(model, x, order.tolist(), span, steps)
    scale = max(1, 64 // x.shape[-1])
    return image_grid(rows, [f"z{d}  KL {kl[d]:.2f}" for d in order], scale=scale)


def save_traversal_figure(
    model: Model, dataset, path: Path, image: int = 0, reference_size: int = 512, seed: int = 0
) -> Path:
    """Write the traversal grid of ``dataset``'s image ``image`` to ``path`` (PNG)."""
    if not 0 <= image < len(dataset):
        raise IndexError(f"image index {image} is outside the dataset (0..{len(dataset) - 1})")
    device = _device(model)
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randperm(len(dataset), generator=generator)[:reference_size]
    reference = dataset.load(picks, device).images
    x = dataset.load(torch.tensor([image]), device).images
    return save_image(traversal_figure(model, x, reference), path)
