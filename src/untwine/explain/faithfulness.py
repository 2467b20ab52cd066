"""Deletion and insertion curves (Petsiuk et al. 2018, RISE): how fast the explained class's
probability falls as the pixels a map ranks highest are removed, and how fast it rises as they are
put back into an empty image. A faithful map gives a low deletion area and a high insertion area.

Pixels are ranked by |map| (a rationale's sign says brighter or darker, not for or against), removed
pixels take the ``fill`` grey (the data's mean intensity, as the grey occlusion box), and the
insertion curve starts from the all-grey image. ``fractions`` (``steps`` + 1 points from 0 to 1)
are the shares of pixels removed (deletion) or restored (insertion); the area is the trapezoid mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Curves:
    fractions: np.ndarray  # [S + 1] share of pixels removed / restored
    deletion: np.ndarray  # [N, S + 1] probability of the explained class
    insertion: np.ndarray  # [N, S + 1]

    @property
    def deletion_area(self) -> np.ndarray:
        return np.trapezoid(self.deletion, self.fractions, axis=1)

    @property
    def insertion_area(self) -> np.ndarray:
        return np.trapezoid(self.insertion, self.fractions, axis=1)


@torch.no_grad()
def deletion_insertion(model: nn.Module, images: torch.Tensor, maps: np.ndarray, target: np.ndarray,
                       fill: float, steps: int = 16) -> Curves:
    """Curves of ``model`` (images [N, C, H, W] -> class probabilities [N, K]) for class ``target``
    [N] as pixels are removed or restored in the order of |maps| [N, H, W], largest first."""
    n, _, height, width = images.shape
    if maps.shape != (n, height, width):
        raise ValueError(f"maps are {maps.shape}, expected {(n, height, width)} like the images")
    order = torch.as_tensor(np.argsort(-np.abs(maps).reshape(n, -1), axis=1, kind="stable"))
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(height * width).expand(n, -1).contiguous())
    fractions = np.linspace(0, 1, steps + 1)
    rows = torch.arange(n)
    target_t = torch.as_tensor(target).long()
    grey = torch.full_like(images, float(fill))
    deletion, insertion = np.empty((n, steps + 1)), np.empty((n, steps + 1))
    for k, fraction in enumerate(fractions):
        # the first round(fraction * H * W) pixels of each image's ranking
        chosen = (rank < int(round(fraction * height * width))).view(n, 1, height, width)
        deletion[:, k] = model(torch.where(chosen, grey, images))[rows, target_t].cpu().numpy()
        insertion[:, k] = model(torch.where(chosen, images, grey))[rows, target_t].cpu().numpy()
    return Curves(fractions, deletion, insertion)
