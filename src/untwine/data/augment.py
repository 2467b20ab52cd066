"""Flips and right-angle rotations of a training batch, chosen per image from (seed, draw) alone.

The choice depends only on the run's seed and the draw counter ``fit()`` already keeps, never on
the global RNG, so a resumed run augments exactly as an uninterrupted one (bit for bit) and the
model's own sampling noise is untouched. Images must be square (every ImageSet's are), so a
rotation keeps the shape. Labels and factors are left as they are: a factor that a rotation changes
(a mask's orientation) describes the unaugmented image, which is what evaluation encodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from untwine.data.batch import Batch

Augmentation = Literal["hflip", "vflip", "rot90"]
AUGMENTATIONS: tuple[str, ...] = ("hflip", "vflip", "rot90")


def _generator(seed: int, draw: int) -> torch.Generator:
    # SeedSequence mixes (seed, draw): nearby draws get unrelated choices
    state = np.random.SeedSequence([seed, draw, 0xA06]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def choices(n: int, kinds: Sequence[str], seed: int, draw: int) -> torch.Tensor:
    """[n, 3] int: horizontal flip (0/1), vertical flip (0/1), quarter turns (0..3) per image."""
    unknown = [k for k in kinds if k not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentations {unknown}; expected some of {AUGMENTATIONS}")
    g = _generator(seed, draw)
    drawn = torch.stack([torch.randint(0, 2, (n,), generator=g), torch.randint(0, 2, (n,), generator=g),
                         torch.randint(0, 4, (n,), generator=g)], dim=1)
    enabled = torch.tensor([k in kinds for k in AUGMENTATIONS], dtype=torch.long)
    return drawn * enabled


def transform(images: torch.Tensor, hflip: int, vflip: int, turns: int) -> torch.Tensor:
    """Images [B, C, H, W] flipped left-right, then up-down, then turned ``turns`` x 90 degrees."""
    dims = [d for d, on in ((-1, hflip), (-2, vflip)) if on]
    out = images.flip(dims) if dims else images
    return torch.rot90(out, turns, dims=(-2, -1)) if turns else out


def augment(batch: Batch, kinds: Sequence[str], seed: int, draw: int) -> Batch:
    """``batch`` with each image flipped and turned as (seed, draw) choose; unchanged without kinds."""
    if not kinds:
        return batch
    chosen = choices(len(batch), kinds, seed, draw)
    code = chosen[:, 0] * 8 + chosen[:, 1] * 4 + chosen[:, 2]
    images = batch.images.clone()
    for value in code.unique().tolist():
        rows = (code == value).nonzero().flatten().to(images.device)
        images[rows] = transform(batch.images[rows], value // 8, value // 4 % 2, value % 4)
    return dataclasses.replace(batch, images=images)
