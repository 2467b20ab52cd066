"""ISIC 2018 / HAM10000 as the challenge ships them (Codella et al. 2019; Tschandl et al. 2018).

- Task 3 (classification): a folder of ``ISIC_xxxxxxx.jpg`` and the ground-truth CSV with an
  ``image`` column and one-hot columns MEL, NV, BCC, AKIEC, BKL, DF, VASC -> labels with those names.
  ``folder(root, csv, "image", list(ISIC_CLASSES))`` reads it; ``isic(images, ground_truth=csv)``
  does the same with the column names filled in.
- Task 1/2 (segmentation): images and a folder of ``ISIC_xxxxxxx_segmentation.png`` masks ->
  ``isic(images, masks=folder)`` adds the mask factors (eccentricity, orientation, size, each
  binarized at its median; data/mask_factors.py), the MIG_hf factors of paper 000.

Without a CSV every image in the folder is taken (sorted by name; ``*_segmentation.png`` skipped).
"""

from __future__ import annotations

import dataclasses
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from untwine.data.cache import cached
from untwine.data.errors import DataError
from untwine.data.files import existing
from untwine.data.folder import FOLDER_VERSION, _decode, _read_table, folder
from untwine.data.imageset import ImageSet
from untwine.data.mask_factors import MASK_FACTOR_NAMES, mask_factors

ISIC_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
MASK_SUFFIX = "_segmentation.png"
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _listing(root: Path) -> list[str]:
    names = sorted(
        p.name for p in root.iterdir()
        if p.suffix.lower() in _IMAGE_SUFFIXES and not p.name.endswith(MASK_SUFFIX)
    )
    if not names:
        raise DataError(f"no .jpg or .png images in {root}")
    return names


def _read_masks(mask_root: Path, ids: list[str], size: int) -> np.ndarray:
    """[N, size, size] bool: each ``<id>_segmentation.png`` box-resized and thresholded at one half."""
    out = np.empty((len(ids), size, size), dtype=bool)
    for i, image_id in enumerate(ids):
        path = mask_root / f"{image_id}{MASK_SUFFIX}"
        if not path.is_file():
            raise DataError(f"no mask {path.name} in {mask_root} for image {image_id!r}")
        try:
            with Image.open(path) as mask:
                gray = mask.convert("L").resize((size, size), Image.Resampling.BOX)
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"cannot decode mask {path}: {error}") from None
        out[i] = np.asarray(gray) >= 128
    return out


def _unlisted(root: Path, size: int, cache: bool) -> tuple[ImageSet, list[str]]:
    """Every image of ``root`` (no CSV), decoded as ``folder`` decodes, and their ids."""
    paths = [root / name for name in _listing(root)]
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    key = {"files": stats, "size": size, "channels": None, "version": FOLDER_VERSION}
    stored = cached("folder", key, lambda: _decode(paths, size, None), use_cache=cache)
    return ImageSet(stored["pixels"], name=f"isic:{root.name}"), [p.stem for p in paths]


def isic(
    images: str | PathLike,
    ground_truth: str | PathLike | None = None,
    masks: str | PathLike | None = None,
    size: int = 64,
    cache: bool = True,
) -> ImageSet:
    """ISIC 2018 images resized to ``size``; labels from the Task 3 ``ground_truth`` CSV, mask factors
    from the Task 1/2 ``masks`` folder (measured at ``size``, the geometry the model sees)."""
    root = existing(images, "folder")
    if ground_truth is not None:
        dataset = folder(root, ground_truth, "image", list(ISIC_CLASSES), size=size, cache=cache)
        csv_path = Path(ground_truth) if Path(ground_truth).is_file() else root / ground_truth
        ids = [Path(row["image"].strip()).stem for row in _read_table(csv_path, ["image"])]
    else:
        dataset, ids = _unlisted(root, size, cache)
    if masks is None:
        return dataset
    mask_root = existing(masks, "folder")
    factors, class_means = mask_factors(_read_masks(mask_root, ids, size), str(mask_root))
    return dataclasses.replace(
        dataset, factors=factors, factor_names=MASK_FACTOR_NAMES,
        factor_sizes=(2,) * len(MASK_FACTOR_NAMES), factor_values=class_means,
    )
