"""scikit-learn's bundled handwritten digits (UCI optdigits: 1,797 8x8 images, 0..16)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from untwine.data.imageset import ImageSet


def digits(size: int = 32) -> ImageSet:
    """The 1,797 digits as uint8 [N, 1, size, size] (bilinear upsampling), labels 0..9."""
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    if size < 8:
        raise ValueError(f"digits() needs size >= 8 (the images are 8x8), got {size}")
    bunch = load_digits()
    images = torch.from_numpy(bunch.images[:, None] * (255 / 16)).float()
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    pixels = images.round().clamp(0, 255).to(torch.uint8)
    return ImageSet(
        pixels,
        labels=bunch.target.astype(np.int64),
        class_names=tuple("0123456789"),
        name=f"digits(size={size})",
    )
