"""Grey squares on a factor grid, rendered so that datasets differ in one property of how their
factors' variance is structured (paper 001, "Disentanglement and Local Directions of Variance").

Factors: posX, posY (the square's top-left corner, integer pixels), scale (its side, from 15% to 30%
of the image width) and intensity (a grey level from 0.4 to 1). The top ``STRIP`` rows are kept free
for the intensity marker, so the geometry is the same whichever way intensity is shown:

- ``intensity_on="object"``: the square itself has the grey level. Changing intensity changes a
  number of pixels proportional to the square's area: a globally *inconsistent* factor (the paper's
  example of colour on objects of different sizes).
- ``intensity_on="marker"``: the grey level fills a fixed marker in the free strip, whose area is the
  squares' mean area, and the square has the root-mean-square grey level. Intensity then induces the
  same variance at every point of the grid (*consistent*), on average as much as on the object, and
  the position and scale factors induce on average as much as they do in the "object" images.
- ``y_span`` < ``x_span`` compresses the vertical positions: posY induces less variance than posX
  (*unequal* variances); equal spans give the two position factors equal variances.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from untwine.data.errors import DataError
from untwine.data.imageset import ImageSet
from untwine.data.shapes import grid_factors

FACTOR_NAMES = ("posX", "posY", "scale", "intensity")
STRIP = 6  # rows at the top reserved for the intensity marker
SIDES = (0.15, 0.3)  # smallest and largest side, as fractions of the width
GREYS = (0.4, 1.0)


def _positions(count: int, span: float, room: int) -> np.ndarray:
    """``count`` integer offsets spread over ``span`` of ``room`` pixels, centred in it."""
    width = span * room
    start = (room - width) / 2
    return np.round(start + np.linspace(0, width, count)).astype(np.int64)


def squares(
    pos_x: int = 8,
    pos_y: int = 8,
    scale: int = 3,
    intensity: int = 4,
    size: int = 32,
    x_span: float = 1.0,
    y_span: float = 1.0,
    intensity_on: Literal["object", "marker"] = "marker",
) -> ImageSet:
    """One grey square per image, on the full grid of its four factors (rows in C order
    over posX, posY, scale, intensity: intensity fastest). The first four arguments are how many
    values each factor takes; ``x_span`` and ``y_span`` in (0, 1] the fraction of the free room the positions
    span; ``intensity_on`` where the grey level is shown (see the module docstring)."""
    counts = (pos_x, pos_y, scale, intensity)
    if min(counts) < 1 or size < 16:
        raise DataError(f"squares() needs factor sizes >= 1 and size >= 16; got {counts}, size={size}")
    if not (0 < x_span <= 1 and 0 < y_span <= 1):
        raise DataError(f"squares(): x_span and y_span must be in (0, 1]; got {x_span}, {y_span}")
    if intensity_on not in ("object", "marker"):
        raise DataError(f"squares(): intensity_on={intensity_on!r}; expected 'object' or 'marker'")
    sides = np.round(np.linspace(*SIDES, scale) * size).astype(np.int64)
    greys = np.linspace(*GREYS, intensity)
    field = size - STRIP  # rows below the strip
    room = field - int(sides.max())  # the largest square fits at every position, both ways
    xs, ys = _positions(pos_x, x_span, room), STRIP + _positions(pos_y, y_span, room)
    for name, offsets, span in (("pos_x", xs, x_span), ("pos_y", ys, y_span)):
        if len(np.unique(offsets)) < len(offsets):
            raise DataError(
                f"squares(): {name}={len(offsets)} positions over {span:g} of {room} free pixels fall "
                f"on the same pixel; use fewer positions or a larger span or size"
            )
    rms_grey = float(np.sqrt(np.mean(greys**2)))
    marker_width = min(size, int(round(np.mean(sides.astype(float) ** 2) / STRIP)))

    factors = grid_factors(counts)
    images = np.zeros((len(factors), 1, size, size), dtype=np.float64)
    for row, (i, j, k, g) in enumerate(factors):
        x, y, side = xs[i], ys[j], sides[k]
        if intensity_on == "object":
            images[row, 0, y : y + side, x : x + side] = greys[g]
        else:
            images[row, 0, y : y + side, x : x + side] = rms_grey
            images[row, 0, :STRIP, :marker_width] = greys[g]
    pixels = np.round(images * 255).astype(np.uint8)
    values = (xs.astype(float), ys.astype(float), sides.astype(float), greys)
    return ImageSet(
        pixels,
        factors=factors,
        factor_names=FACTOR_NAMES,
        factor_sizes=counts,
        factor_values=values,
        name=(f"squares(pos_x={pos_x}, pos_y={pos_y}, scale={scale}, intensity={intensity}, size={size}, "
              f"x_span={x_span}, y_span={y_span}, intensity_on={intensity_on})"),
    )
