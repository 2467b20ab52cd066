"""What a model's loss function receives: one batch, already float and on the training device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """A batch of images in [0, 1] (float32, [B, C, H, W]) with whatever the ImageSet carries.

    ``index`` holds the rows of the ImageSet the images came from, so a metric or a pair sampler
    can look anything else up. ``pair`` is a second batch aligned with this one (weak supervision).
    """

    images: torch.Tensor
    index: torch.Tensor
    labels: torch.Tensor | None = None
    factors: torch.Tensor | None = None
    pair: Batch | None = None

    def __len__(self) -> int:
        return self.images.shape[0]
