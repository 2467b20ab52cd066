"""A synthetic chest-film-like set whose class is a local structure: a small round nodule inside a
lung field (class "nodule") or none (class "clear"). Both classes share everything else, which varies
from image to image: two lung fields of textured tissue, rib shadows crossing them, and vessels
branching from the hilum, bright thin lines that are the same brightness as a nodule but not round.
The nodule sits anywhere inside a lung, so the cause of the class moves from image to image and is
known pixel by pixel: ``nodule_masks(...)`` (same arguments as ``nodules``) gives each image's
nodule footprint, for scoring where an explanation points.
"""

from __future__ import annotations

import numpy as np

from untwine.data.imageset import ImageSet

CLASS_NAMES = ("clear", "nodule")
MASK_LEVEL = 0.1  # a pixel is the nodule's where the nodule adds more than this share of its peak


def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Low-pass Gaussian noise with unit spread: tissue texture of correlation length ~``scale`` px."""
    spectrum = np.fft.fft2(rng.standard_normal((size, size)))
    frequency = np.fft.fftfreq(size)
    radius2 = frequency[:, None] ** 2 + frequency[None, :] ** 2
    field = np.real(np.fft.ifft2(spectrum * np.exp(-radius2 * (np.pi * scale) ** 2 * 2)))
    return field / (field.std() + 1e-12)


def _draw(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 pixels [n, 1, size, size], labels [n], nodule masks bool [n, size, size])."""
    if n < 2 or size < 20:
        raise ValueError(f"nodules needs n >= 2 and size >= 20, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2)
    yy, xx = (np.mgrid[:size, :size] + 0.5) / size  # pixel centres in [0, 1]
    images = np.empty((n, size, size))
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        # two lung fields: ellipses left and right of the midline, sizes jittered per image
        lungs = np.zeros((size, size))
        inside = []
        for side in (-1, 1):
            cx, cy = 0.5 + side * rng.uniform(0.2, 0.24), rng.uniform(0.48, 0.54)
            rx, ry = rng.uniform(0.15, 0.19), rng.uniform(0.33, 0.38)
            r = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
            lungs = np.maximum(lungs, np.clip(1.5 - r, 0, 1))  # soft edge
            inside.append((cx, cy, rx, ry))
        image = 0.55 - 0.3 * lungs + 0.04 * _smooth_noise(rng, size, 2.0) * lungs
        # rib shadows: gently curved bands across both lungs, both classes
        phase, spacing = rng.uniform(0, 1), rng.uniform(0.16, 0.2)
        ribs = 0.5 + 0.5 * np.cos(2 * np.pi * ((yy + 0.15 * (xx - 0.5) ** 2) / spacing + phase))
        image += 0.07 * ribs**4 * lungs
        # vessels: thin bright lines from each hilum outwards, both classes (the distractors)
        for side in (-1, 1):
            for _ in range(rng.integers(2, 4)):
                angle = rng.uniform(-0.9, 0.9) + (0 if side > 0 else np.pi)
                length = rng.uniform(0.12, 0.25)
                hx, hy = 0.5 + side * 0.1, rng.uniform(0.45, 0.6)
                t = np.clip((xx - hx) * np.cos(angle) + (yy - hy) * np.sin(angle), 0, length)
                distance = np.hypot(xx - hx - t * np.cos(angle), yy - hy - t * np.sin(angle))
                image += 0.2 * np.exp(-(distance * size) ** 2 / (2 * 0.6**2)) * (1 - t / length / 2) * lungs
        if labels[i]:
            cx, cy, rx, ry = inside[rng.integers(2)]
            angle, radius = rng.uniform(0, 2 * np.pi), np.sqrt(rng.uniform(0, 0.45))  # inner part of a lung
            ny, nx = cy + radius * ry * np.sin(angle), cx + radius * rx * np.cos(angle)
            sigma = rng.uniform(1.5, 2.1) / size
            nodule = np.exp(-(((yy - ny) ** 2 + (xx - nx) ** 2) / (2 * sigma**2)) ** 1.5)  # flat-topped
            image += 0.35 * nodule
            masks[i] = nodule > MASK_LEVEL
        image += 0.02 * rng.standard_normal((size, size))
        images[i] = image
    pixels = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)[:, None]
    return pixels, labels, masks


def nodules(n: int = 4000, size: int = 28, seed: int = 0) -> ImageSet:
    """``n`` grey images [n, 1, size, size], half with a nodule in a lung (label 1)."""
    pixels, labels, _ = _draw(n, size, seed)
    return ImageSet(pixels, labels=labels, class_names=CLASS_NAMES, name="nodules")


def nodule_masks(n: int = 4000, size: int = 28, seed: int = 0) -> np.ndarray:
    """bool [n, size, size]: each image's nodule footprint (empty for class "clear"), in the order of
    ``nodules`` with the same arguments."""
    return _draw(n, size, seed)[2]
