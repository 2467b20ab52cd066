"""MNIST in its IDX files (LeCun, Cortes, Burges): big-endian header (magic 0x803 for images,
0x801 for labels, then the dimensions), then raw uint8; plain or gzipped."""

from __future__ import annotations

import gzip
from os import PathLike
from pathlib import Path

import numpy as np

from untwine.data.errors import DataError
from untwine.data.files import existing
from untwine.data.imageset import ImageSet

_PREFIX = {"train": "train", "test": "t10k"}
_IMAGES, _LABELS = 0x803, 0x801


def _find(folder: Path, prefix: str, kind: str, idx: int) -> Path:
    # LeCun's names (train-images-idx3-ubyte) and the dotted ones of some copies (.idx3-ubyte).
    for stem in (f"{prefix}-{kind}-idx{idx}-ubyte", f"{prefix}-{kind}.idx{idx}-ubyte"):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    raise DataError(f"no {prefix}-{kind}-idx{idx}-ubyte[.gz] file in {folder}")


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array in the IDX file at ``path``, checked against ``magic`` and its header."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
            raw = file.read()
    except OSError as error:  # a corrupt .gz
        raise DataError(f"{path}: cannot read: {error}") from error
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        shown = "none (file too short)" if found is None else hex(found)
        raise DataError(
            f"{path}: magic number {shown}, expected {hex(magic)} (not this IDX file type)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * d : 8 + 4 * d], "big") for d in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise DataError(
            f"{path}: {len(raw) - header} data bytes, "
            f"expected {int(np.prod(shape))} for shape {shape}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def mnist(path: str | PathLike, split: str = "train") -> ImageSet:
    """MNIST's ``split`` ("train": 60,000, "test": 10,000), uint8 [N, 1, 28, 28], digit labels.

    ``path`` is the folder of the four IDX files, or an images file (its labels file beside it).
    """
    if split not in _PREFIX:
        raise DataError(f"unknown split {split!r} for MNIST: expected one of {tuple(_PREFIX)}")
    path = Path(path).expanduser()
    if path.is_dir():
        images_path = _find(path, _PREFIX[split], "images", 3)
        labels_path = _find(path, _PREFIX[split], "labels", 1)
    else:
        images_path = existing(path)
        labels_path = existing(
            path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
        )
    images, labels = read_idx(images_path, _IMAGES), read_idx(labels_path, _LABELS)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels"
        )
    return ImageSet(
        images[:, None].copy(),
        labels=labels,
        class_names=tuple("0123456789"),
        name=f"mnist:{split}",
    )
