"""Reconstruction terms -log p(x|z), summed over pixels and averaged over the batch.

Every decoder returns logits; the image it means is ``sigmoid(logits)`` in [0, 1].

- ``bernoulli``: binary images (dSprites-style shapes, MNIST). Cross entropy with logits.
- ``gaussian``: natural images. The summed squared error between ``x`` and ``sigmoid(logits)``, which is
  -log N(x; sigmoid(logits), 1/2) up to a constant; it is disentanglement_lib's ``l2_loss``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Likelihood = Literal["bernoulli", "gaussian"]


def reconstruction_loss(x: torch.Tensor, logits: torch.Tensor, likelihood: Likelihood) -> torch.Tensor:
    """-log p(x|z) per image, averaged over the batch (a scalar)."""
    if likelihood == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    elif likelihood == "gaussian":
        per_pixel = (torch.sigmoid(logits) - x).square()
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}; expected 'bernoulli' or 'gaussian'")
    return per_pixel.flatten(1).sum(1).mean()


def mean_image(logits: torch.Tensor) -> torch.Tensor:
    """The decoded image in [0, 1] for either likelihood."""
    return torch.sigmoid(logits)
