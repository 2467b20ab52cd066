"""Procedurally rendered binary shapes on the factor grid of dSprites-style data (a re-rendering,
not DeepMind's file: load that one with ``dsprites``).

Geometry, in fractions of the image width S (64 by default):
- at scale 1 a square's side is 0.3 S; the ellipse has semi-axes 0.15 S and 0.075 S (2:1); the heart
  is the curve (x^2 + y^2 - 1)^3 = x^2 y^3 fitted to the square's box, point down at orientation 0;
- scale multiplies that size, from 0.5 to 1; orientation turns the shape counter-clockwise as
  displayed, in [0, 2 pi) (dSprites' 40 values include both 0 and 2 pi; here the last is
  2 pi - 2 pi / 40);
- posX moves the centre right and posY moves it down, from 33/128 S to 95/128 S (16.5 to 47.5 pixels
  on 64, one pixel a step on the 32-position grid), so the largest shape at any angle stays inside;
- a pixel is on when its centre lies inside the shape (exact at any sub-pixel position, no blur).

Rendering: one mask per (shape, scale, orientation, sub-pixel offset) on a 2S x 2S canvas, then each
image is a window of it (an integer translation), packed 8 pixels a byte and cut to a band of rows.
"""

from __future__ import annotations

from itertools import product

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from untwine.data.bits import PackedBits
from untwine.data.cache import cached
from untwine.data.imageset import ImageSet

RENDERER_VERSION = 1
SHAPE_NAMES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
SIDE = 0.3  # a square's side at scale 1, as a fraction of the image width
MARGIN = 33 / 128  # centres span [MARGIN, 1 - MARGIN] of the width
# The heart curve spans x in [-1.139, 1.139] and y in [-1, 1.236]; these map it onto [-0.5, 0.5]^2.
_HEART_HALF_WIDTH, _HEART_BOTTOM, _HEART_TOP = 1.139, -1.0, 1.236


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points (u, v), in units of the object's size about its centre, v up, are inside."""
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= 0.5
    if shape == 1:
        return (u / 0.5) ** 2 + (v / 0.25) ** 2 <= 1
    x = u * 2 * _HEART_HALF_WIDTH
    y = _HEART_BOTTOM + (v + 0.5) * (_HEART_TOP - _HEART_BOTTOM)
    return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0


def _canvas(shape: int, length: float, angle: float, fx: float, fy: float, size: int) -> np.ndarray:
    """bool [2S, 2S]: the shape with side ``length`` pixels, centred at (S + fx, S + fy)."""
    centres = np.arange(2 * size) + 0.5
    x = centres[None, :] - (size + fx)
    y = centres[:, None] - (size + fy)  # image rows grow downward
    cos, sin = np.cos(angle), np.sin(angle)
    u = (cos * x - sin * y) / length
    v = (-sin * x - cos * y) / length
    return _inside(shape, u, v)


def _centres(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer pixel and sub-pixel part of the centres of ``count`` positions in [0, 1]."""
    centre = size * (MARGIN + (1 - 2 * MARGIN) * np.linspace(0, 1, count))
    centre = (
        np.round(centre * 1024) / 1024
    )  # so that float noise makes no spurious sub-pixel offsets
    whole = np.floor(centre).astype(np.int64)
    return whole, centre - whole


def _render(counts: tuple[int, ...], size: int) -> dict[str, np.ndarray]:
    n_shape, n_scale, n_orient, n_x, n_y = counts
    scales = np.linspace(0.5, 1, n_scale)
    angles = np.linspace(0, 2 * np.pi, n_orient, endpoint=False)
    ix, fx = _centres(n_x, size)
    iy, fy = _centres(n_y, size)
    # Every shape fits in a circle of radius sqrt(2)/2 of its side; its rows fit in `band` rows.
    radius = np.sqrt(0.5) * SIDE * size * scales.max()
    band = min(size, int(2 * radius) + 2)
    offset = np.clip(np.floor(iy + fy - radius).astype(np.int64), 0, size - band)
    out = np.zeros((*counts, band, -(-size // 8)), dtype=np.uint8)
    x_groups = [np.flatnonzero(fx == f) for f in np.unique(fx)]
    y_groups = [np.flatnonzero(fy == f) for f in np.unique(fy)]
    for s, c, o in product(range(n_shape), range(n_scale), range(n_orient)):
        length = SIDE * size * scales[c]
        for xs, ys in product(x_groups, y_groups):
            canvas = _canvas(s, length, angles[o], fx[xs[0]], fy[ys[0]], size)
            # Image (x, y) is the canvas window [S - iy : 2S - iy, S - ix : 2S - ix].
            columns = sliding_window_view(canvas, size, axis=1)[:, size - ix[xs]]  # [2S, nx, S]
            packed = np.packbits(columns, axis=-1)  # [2S, nx, bytes]
            starts = size - iy[ys] + offset[ys]
            rows = sliding_window_view(packed, band, axis=0)[starts]  # [ny, nx, bytes, band]
            out[s, c, o][np.ix_(xs, ys)] = rows.transpose(1, 0, 3, 2)
    offsets = np.broadcast_to(offset, counts).reshape(-1)
    return {
        "rows": out.reshape(-1, 1, band, out.shape[-1]),
        "offset": np.ascontiguousarray(offsets),
    }


def grid_factors(counts: tuple[int, ...]) -> np.ndarray:
    """int64 [prod(counts), K]: every combination of K factor classes, in C order (last fastest)."""
    factors = np.empty((int(np.prod(counts)), len(counts)), dtype=np.int64)
    for k, count in enumerate(counts):
        axis = [1] * len(counts)
        axis[k] = count
        factors[:, k] = np.broadcast_to(np.arange(count).reshape(axis), counts).reshape(-1)
    return factors


def shapes(
    shape: int = 3,
    scale: int = 6,
    orientation: int = 40,
    pos_x: int = 32,
    pos_y: int = 32,
    size: int = 64,
    cache: bool = True,
) -> ImageSet:
    """Binary images of a square, an ellipse and a heart on the full grid of their factors.

    The arguments are how many values each factor takes (``shape`` the first 1..3 of square,
    ellipse, heart); the defaults give dSprites' grid, 737,280 64x64 images. Rows run over the
    grid in C order with posY fastest, as in dSprites; ``labels`` repeat the shape factor
    (``class_names`` square, ellipse, heart). Cached on disk (see ``untwine.data.cache``).
    """
    counts = (shape, scale, orientation, pos_x, pos_y)
    if not 1 <= shape <= len(SHAPE_NAMES) or min(counts) < 1 or size < 8:
        raise ValueError(
            f"shapes() needs 1..3 shapes, factor sizes >= 1 and size >= 8; got {counts}, {size}"
        )
    key = {"counts": counts, "size": size, "version": RENDERER_VERSION}
    stored = cached("shapes", key, lambda: _render(counts, size), use_cache=cache)
    pixels = PackedBits(
        torch.from_numpy(stored["rows"]), torch.from_numpy(stored["offset"]), size, size
    )
    factors = grid_factors(counts)
    values = (
        np.arange(1.0, shape + 1),  # dSprites numbers its shapes 1, 2, 3
        np.linspace(0.5, 1, scale),
        np.linspace(0, 2 * np.pi, orientation, endpoint=False),
        np.linspace(0, 1, pos_x),
        np.linspace(0, 1, pos_y),
    )
    sizes = ", ".join(
        f"{n}={c}"
        for n, c in zip(("shape", "scale", "orientation", "pos_x", "pos_y"), counts, strict=True)
    )
    return ImageSet(
        pixels,
        factors=factors,
        factor_names=FACTOR_NAMES,
        factor_sizes=counts,
        factor_values=values,
        labels=factors[:, 0],
        class_names=SHAPE_NAMES[:shape],
        name=f"shapes({sizes}, size={size})",
    )
