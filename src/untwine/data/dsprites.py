"""DeepMind's dSprites file (Matthey et al. 2017, dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz).

Keys: ``imgs`` [737280, 64, 64] uint8 0/1, ``latents_classes`` and ``latents_values`` [N, 6] over
(color, shape, scale, orientation, posX, posY), and ``metadata``, a pickled dict never
loaded here (unpickling runs code): the factor names and sizes below are those its README documents.
"""

from __future__ import annotations

import zipfile
from os import PathLike
from pathlib import Path

import numpy as np

from untwine.data.bits import PackedBits
from untwine.data.errors import DataError
from untwine.data.files import open_npz
from untwine.data.imageset import ImageSet
from untwine.data.shapes import FACTOR_NAMES, SHAPE_NAMES

FACTOR_SIZES = (3, 6, 40, 32, 32)
_CHUNK = 16384  # images decompressed at a time: the file's 2.9 GB of 0/1 bytes never sit in memory


def _packed_images(path: Path, count: int) -> tuple[np.ndarray, int]:
    """``imgs`` packed 8 pixels a byte along the width, [N, 1, H, W / 8], read a chunk at a time;
    and W."""
    with zipfile.ZipFile(path) as archive, archive.open("imgs.npy") as file:
        major, _ = np.lib.format.read_magic(file)
        read_header = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(file)
        if (
            len(shape) != 3
            or shape[0] != count
            or shape[1] != shape[2]
            or fortran
            or dtype != np.uint8
        ):
            raise DataError(
                f"{path}: imgs is {dtype} {shape}: expected uint8 [{count}, S, S] in C order"
            )
        rows, width = shape[1], shape[2]
        packed = np.empty((count, 1, rows, -(-width // 8)), dtype=np.uint8)
        for start in range(0, count, _CHUNK):
            stop = min(start + _CHUNK, count)
            chunk = np.frombuffer(file.read((stop - start) * rows * width), np.uint8)
            packed[start:stop, 0] = np.packbits(chunk.reshape(-1, rows, width) != 0, axis=-1)
    return packed, width


def dsprites(path: str | PathLike) -> ImageSet:
    """The dSprites images, bit-packed, with factors shape, scale, orientation, posX, posY (the
    constant color dropped), their real values (scale 0.5..1, orientation 0..2 pi, positions 0..1),
    and the shape as labels."""
    archive = open_npz(path, ("imgs", "latents_classes", "latents_values"))
    with archive:
        classes, values = archive["latents_classes"], archive["latents_values"]
    path = Path(path)
    for key, array in (("latents_classes", classes), ("latents_values", values)):
        if array.ndim != 2 or array.shape[1] != 6:
            raise DataError(
                f"{path}: {key} has shape {array.shape}: expected [N, 6] (color and 5 factors)"
            )
    if len(values) != len(classes):
        raise DataError(
            f"{path}: latents_values has {len(values)} rows, latents_classes {len(classes)}"
        )
    factors = classes[:, 1:].astype(np.int64)
    top = factors.max(axis=0, initial=0)
    for k, name in enumerate(FACTOR_NAMES):
        if top[k] >= FACTOR_SIZES[k]:
            raise DataError(
                f"{path}: factor {name} has class {top[k]}: expected 0..{FACTOR_SIZES[k] - 1}"
            )
    # The real value of each class, read from the rows that carry it (classes absent stay NaN).
    factor_values = []
    for k, size in enumerate(FACTOR_SIZES):
        real = np.full(size, np.nan)
        real[factors[:, k]] = values[:, k + 1]
        factor_values.append(real)
    packed, width = _packed_images(path, len(factors))
    return ImageSet(
        PackedBits.crop(packed, width),
        factors=factors,
        factor_names=FACTOR_NAMES,
        factor_sizes=FACTOR_SIZES,
        factor_values=tuple(factor_values),
        labels=factors[:, 0],
        class_names=SHAPE_NAMES,
        name=f"dsprites:{path.name}",
    )
