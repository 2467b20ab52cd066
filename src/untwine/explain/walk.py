"""Walks over the latent space (paper 000, Fig. 1b) and traversal grids of chosen images (Fig. 1a).

A walk goes from one image's code towards another's by changing several chosen dimensions in turn:
row r moves dimension ``dims[r]`` linearly from where row r - 1 left the code to the target image's
value, the other dimensions held. Its first image is the last image of the row above (the paper's
coloured squares), so reading the rows in order shows a smooth path from one lesion to the other,
one factor at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from untwine.explain.traverse import image_grid, kl_per_dimension, save_image, traverse
from untwine.models.base import Model
from untwine.models.likelihood import mean_image


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def walk(
    model: Model, x_from: torch.Tensor, x_to: torch.Tensor, dims: Sequence[int], steps: int = 8
) -> torch.Tensor:
    """Images [len(dims), steps, C, H, W] in [0, 1]: row r moves z[dims[r]] from its value after row
    r - 1 (the posterior mean of ``x_from`` for row 0) to the posterior mean of ``x_to``."""
    if steps < 2:
        raise ValueError(f"a walk needs at least 2 steps per dimension; got {steps}")
    device = _device(model)
    start = model.encode(x_from.reshape(1, *x_from.shape[-3:]).to(device)).mean[0]
    target = model.encode(x_to.reshape(1, *x_to.shape[-3:]).to(device)).mean[0]
    bad = [d for d in dims if not 0 <= d < start.numel()]
    if bad or not dims:
        raise ValueError(f"dims {list(dims)}: expected one or more of 0..{start.numel() - 1}")
    rows, z = [], start.clone()
    for dim in dims:
        codes = z.repeat(steps, 1)
        codes[:, dim] = torch.linspace(float(z[dim]), float(target[dim]), steps, device=device)
        rows.append(mean_image(model.decode(codes)))
        z = codes[-1].clone()
    return torch.stack(rows).cpu()


def walk_figure(
    model: Model, x_from: torch.Tensor, x_to: torch.Tensor, dims: Sequence[int], steps: int = 8
) -> Image.Image:
    """The walk as a grid, one row per dimension, with a last row holding the two input images."""
    rows = walk(model, x_from, x_to, dims, steps)
    inputs = torch.ones(1, steps, *rows.shape[2:])
    inputs[0, 0], inputs[0, -1] = x_from.reshape(rows.shape[2:]).cpu(), x_to.reshape(rows.shape[2:]).cpu()
    labels = [f"z{d}" for d in dims] + ["from .. to"]
    return image_grid(torch.cat([rows, inputs]), labels, scale=max(1, 64 // rows.shape[-1]))


def traversal_grids(
    model: Model,
    images: torch.Tensor,
    reference: torch.Tensor,
    rows: int = 10,
    steps: int = 10,
    span: tuple[float, float] = (-3.0, 3.0),
) -> Image.Image:
    """Traversal grids of several ``images`` [K, C, H, W] side by side (Fig. 1a): the ``rows``
    dimensions with the largest mean KL over ``reference`` images, each swept over ``span``; the
    first column of each block is the input image."""
    kl = kl_per_dimension(model, reference)
    dims = np.argsort(-kl)[:rows].tolist()
    blocks = []
    for x in images:
        grid = traverse(model, x, dims, span, steps)  # [rows, steps, C, H, W]
        first = torch.ones(len(dims), 1, *grid.shape[2:])
        first[0, 0] = x.cpu()
        gap = torch.ones(len(dims), 1, *grid.shape[2:])
        blocks += [first, grid, gap]
    tiles = torch.cat(blocks[:-1], dim=1)
    return image_grid(tiles, [f"z{d}  KL {kl[d]:.2f}" for d in dims], scale=max(1, 64 // images.shape[-1]))


def save_walk(model: Model, x_from: torch.Tensor, x_to: torch.Tensor, dims: Sequence[int], path: Path,
              steps: int = 8) -> Path:
    return save_image(walk_figure(model, x_from, x_to, dims, steps), Path(path))
