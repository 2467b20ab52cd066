"""A synthetic set whose class is decided by a known region: a bright Gaussian blob inside the
region (class "present") or not (class "absent"). Every image also holds ``distractors`` blobs
placed anywhere outside the region and a smooth noisy background, so only the region tells the
classes apart. ``blob_region(size)`` is the region's mask; ``blob_masks(...)`` (same arguments as
``blobs``) gives each image's causal pixels, for scoring where an explanation points.
"""

from __future__ import annotations

import numpy as np

from untwine.data.imageset import ImageSet

CLASS_NAMES = ("absent", "present")
# a pixel belongs to the causal blob where the blob adds more than this share of its peak (~2.1 sigma)
MASK_LEVEL = 0.1


def blob_region(size: int = 28) -> np.ndarray:
    """bool [size, size]: the square (the upper-left quarter, inset by size/14) that decides the class."""
    mask = np.zeros((size, size), dtype=bool)
    inset, end = size // 14, size // 2
    mask[inset:end, inset:end] = True
    return mask


def _blob(size: int, cy: float, cx: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))


def _draw(n: int, size: int, distractors: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 pixels [n, 1, size, size], labels [n], causal masks bool [n, size, size])."""
    if n < 2 or size < 14:
        raise ValueError(f"blobs needs n >= 2 and size >= 14, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    region = blob_region(size)
    ys, xs = np.nonzero(region)
    outside_y, outside_x = np.nonzero(~_grow(region, size // 7))
    # blob centres 2 pixels inside the region, so the blob's mass stays mostly in it
    inner = np.flatnonzero(
        (ys >= ys.min() + 2) & (ys <= ys.max() - 2) & (xs >= xs.min() + 2) & (xs <= xs.max() - 2)
    )
    labels = rng.permutation(np.arange(n) % 2)
    images = np.empty((n, size, size))
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        image = 0.1 + 0.05 * rng.standard_normal((size, size))
        for _ in range(distractors):
            k = rng.integers(len(outside_y))
            image += 0.7 * _blob(size, outside_y[k], outside_x[k], rng.uniform(1.5, 2.5))
        if labels[i]:
            k = rng.choice(inner)
            causal = _blob(size, ys[k], xs[k], rng.uniform(1.5, 2.5))
            image += 0.7 * causal
            masks[i] = causal > MASK_LEVEL
        images[i] = image
    pixels = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)[:, None]
    return pixels, labels, masks


def blobs(n: int = 4000, size: int = 28, distractors: int = 2, seed: int = 0) -> ImageSet:
    """``n`` grey images [n, 1, size, size], half with a blob in ``blob_region`` (label 1)."""
    pixels, labels, _ = _draw(n, size, distractors, seed)
    return ImageSet(pixels, labels=labels, class_names=CLASS_NAMES, name="blobs")


def blob_masks(n: int = 4000, size: int = 28, distractors: int = 2, seed: int = 0) -> np.ndarray:
    """bool [n, size, size]: the pixels of each image's causal blob (empty for class "absent"), in the
    order of ``blobs`` with the same arguments."""
    return _draw(n, size, distractors, seed)[2]


def _grow(mask: np.ndarray, margin: int) -> np.ndarray:
    """``mask`` dilated by ``margin`` pixels (a square structuring element), so distractors stay clear."""
    ys, xs = np.nonzero(mask)
    grown = np.zeros_like(mask)
    top, left = max(ys.min() - margin, 0), max(xs.min() - margin, 0)
    grown[top : ys.max() + margin + 1, left : xs.max() + margin + 1] = True
    return grown
