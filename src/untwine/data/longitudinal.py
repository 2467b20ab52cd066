"""A longitudinal synthetic study: rendered subjects seen at several visits, whose shared and changing
factors are known, to check what a model trained on pairs of visits treats as shared.

Each subject is one coloured shape (square, ellipse or heart, as ``shapes`` draws them) at one
position; between visits only its scale grows, ``drift`` classes a visit (as a ventricle might
between two scans), so shape, colour, posX and posY are shared by every pair of visits of a subject
and scale is the one factor that changes.
"""

from __future__ import annotations

import numpy as np

from untwine.data.errors import DataError
from untwine.data.imageset import ImageSet
from untwine.data.shapes import MARGIN, SHAPE_NAMES, SIDE, _inside

COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240), "yellow": (235, 215, 40)}
FACTOR_NAMES = ("shape", "colour", "posX", "posY", "scale")
SHARED_FACTORS = ("shape", "colour", "posX", "posY")
CHANGING_FACTORS = ("scale",)


def _render(factors: np.ndarray, counts: tuple[int, ...], size: int) -> np.ndarray:
    """uint8 [N, 3, S, S]: each row's shape filled with its colour on black."""
    colours = np.array(list(COLOURS.values()), dtype=np.uint8)
    scales = np.linspace(0.5, 1, counts[4])
    centre_x = size * (MARGIN + (1 - 2 * MARGIN) * np.linspace(0, 1, counts[2]))
    centre_y = size * (MARGIN + (1 - 2 * MARGIN) * np.linspace(0, 1, counts[3]))
    pixel = np.arange(size) + 0.5
    pixels = np.zeros((len(factors), 3, size, size), dtype=np.uint8)
    for i, (shape, colour, x, y, scale) in enumerate(factors):
        length = SIDE * size * scales[scale]
        u = (pixel[None, :] - centre_x[x]) / length
        v = -(pixel[:, None] - centre_y[y]) / length  # v points up, image rows down
        inside = _inside(int(shape), u, v)
        pixels[i][:, inside] = colours[colour][:, None]
    return pixels


def longitudinal(
    subjects: int = 300,
    visits: int = 3,
    drift: int = 1,
    scale: int = 8,
    positions: int = 8,
    size: int = 64,
    seed: int = 0,
) -> ImageSet:
    """``subjects`` x ``visits`` RGB images: groups are subject ids, times visit numbers 0, 1, ...

    A subject draws its shape, colour (red, green, blue, yellow), posX and posY (``positions``
    values each) and a first scale class; at visit t its scale class is first + t * ``drift``
    (of ``scale`` classes from 0.5 to 1). Factors: shape, colour, posX, posY, scale.
    """
    if subjects < 1 or visits < 2 or drift < 1 or positions < 1 or size < 8:
        raise DataError(
            f"longitudinal() needs subjects >= 1, visits >= 2, drift >= 1, positions >= 1, size >= 8; "
            f"got {subjects}, {visits}, {drift}, {positions}, {size}"
        )
    span = drift * (visits - 1)
    if span >= scale:
        raise DataError(
            f"scale has {scale} classes but {visits} visits drifting {drift} a visit need {span + 1}"
        )
    counts = (len(SHAPE_NAMES), len(COLOURS), positions, positions, scale)
    rng = np.random.default_rng(seed)
    subject = np.column_stack(
        [rng.integers(n, size=subjects) for n in counts[:4]] + [rng.integers(scale - span, size=subjects)]
    )
    visit = np.tile(np.arange(visits), subjects)
    factors = np.repeat(subject, visits, axis=0)
    factors[:, 4] += visit * drift
    return ImageSet(
        _render(factors, counts, size),
        factors=factors,
        factor_names=FACTOR_NAMES,
        factor_sizes=counts,
        factor_values=(
            np.arange(1.0, len(SHAPE_NAMES) + 1),
            np.arange(float(len(COLOURS))),
            np.linspace(0, 1, positions),
            np.linspace(0, 1, positions),
            np.linspace(0.5, 1, scale),
        ),
        groups=np.repeat([f"s{i:04d}" for i in range(subjects)], visits),
        times=visit.astype(np.float64),
        name=f"longitudinal(subjects={subjects}, visits={visits}, drift={drift}, size={size})",
    )
