"""PH2 dermoscopy (Mendonca et al., "PH2 - A dermoscopic image database for research and
benchmarking", IEEE EMBC 2013): 200 images with expert lesion masks, a clinical diagnosis and the
expert dermoscopic criteria, as ../shared/data/ph2/ph2_128.npz holds them (see its README).

The ImageSet's labels are the diagnosis (common nevus, atypical nevus, melanoma). Its factors are the
expert criteria (asymmetry, pigment network, dots/globules, streaks, regression areas, blue-whitish
veil and the presence of each of six colours) followed by the mask factors (eccentricity,
orientation and size of the 128x128 mask, each binarized at its median over the 200 images; see
data/mask_factors.py). The masks are measured at 128x128, the geometry the model sees (the images
were resized without keeping the aspect ratio, and so were the masks).
"""

from __future__ import annotations

from os import PathLike

import numpy as np
from PIL import Image

from untwine.data.errors import DataError
from untwine.data.files import open_npz
from untwine.data.imageset import ImageSet
from untwine.data.mask_factors import MASK_FACTOR_NAMES, mask_factors

CLASS_NAMES = ("common nevus", "atypical nevus", "melanoma")
COLOURS = ("white", "red", "light_brown", "dark_brown", "blue_gray", "black")
# criterion -> number of values (the README's codes: 0 absent/typical/symmetric, ...)
CRITERIA = {
    "asymmetry": 3,
    "pigment_network": 2,
    "dots_globules": 3,
    "streaks": 2,
    "regression_areas": 2,
    "blue_whitish_veil": 2,
}
CRITERIA_NAMES = (*CRITERIA, *(f"color_{c}" for c in COLOURS))
_KEYS = ("images", "masks", "diagnosis", "colors", *CRITERIA)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """[N, H, W, 3] uint8 -> [N, 3, size, size] (Lanczos, as the npz was made)."""
    if images.shape[1] == size:
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    out = np.empty((len(images), 3, size, size), np.uint8)
    for i, image in enumerate(images):
        resized = Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS)
        out[i] = np.asarray(resized).transpose(2, 0, 1)
    return out


def ph2(path: str | PathLike, size: int = 64, mask_geometry: bool = True) -> ImageSet:
    """The 200 PH2 images at ``size`` x ``size``, labels = diagnosis, factors = the expert criteria
    and (with ``mask_geometry``) the lesion mask's eccentricity, orientation and size."""
    if not 8 <= size <= 128:
        raise DataError(f"ph2: size={size}; expected 8..128 (the file holds 128x128 images)")
    with open_npz(path, _KEYS) as archive:
        arrays = {key: archive[key] for key in _KEYS}
    images, masks, n = arrays["images"], arrays["masks"], len(arrays["images"])
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise DataError(f"{path}: images is {images.dtype} {images.shape}: expected uint8 [N, H, W, 3]")
    if masks.shape != images.shape[:3]:
        raise DataError(f"{path}: masks has shape {masks.shape}: expected {images.shape[:3]}")
    colours = arrays["colors"]
    if colours.shape != (n, len(COLOURS)):
        raise DataError(f"{path}: colors has shape {colours.shape}: expected ({n}, {len(COLOURS)})")
    columns = [arrays[name].astype(np.int64) for name in CRITERIA] + list(colours.T.astype(np.int64))
    names, sizes = list(CRITERIA_NAMES), [*CRITERIA.values(), *(2,) * len(COLOURS)]
    values: list[np.ndarray] = [np.arange(k, dtype=np.float64) for k in sizes]
    if mask_geometry:
        geometry, class_means = mask_factors(masks, f"{path}: masks")
        columns += list(geometry.T)
        names += MASK_FACTOR_NAMES
        sizes += [2] * len(MASK_FACTOR_NAMES)
        values += class_means
    return ImageSet(
        _resize(images, size),
        factors=np.stack(columns, axis=1),
        factor_names=tuple(names),
        factor_sizes=tuple(sizes),
        factor_values=tuple(values),
        labels=arrays["diagnosis"].astype(np.int64),
        class_names=CLASS_NAMES,
        name=f"ph2:{size}",
    )
