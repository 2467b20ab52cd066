"""MedMNIST npz files (Yang et al., "MedMNIST v2", Scientific Data 2023): ``{split}_images``
[N, S, S] or [N, S, S, 3] uint8 and ``{split}_labels`` [N, 1], or [N, K] 0/1 (multi-label).
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import numpy as np

from untwine.data.errors import DataError
from untwine.data.files import open_npz
from untwine.data.imageset import ImageSet

SPLITS = ("train", "val", "test")
_ORGANS = (
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
)
# Class names as medmnist.INFO gives them (MedMNIST/MedMNIST, medmnist/info.py); HAM10000's short
# codes for DermaMNIST.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "pathmnist": (
        "adipose",
        "background",
        "debris",
        "lymphocytes",
        "mucus",
        "smooth muscle",
        "normal colon mucosa",
        "cancer-associated stroma",
        "colorectal adenocarcinoma epithelium",
    ),
    "chestmnist": (
        "atelectasis",
        "cardiomegaly",
        "effusion",
        "infiltration",
        "mass",
        "nodule",
        "pneumonia",
        "pneumothorax",
        "consolidation",
        "edema",
        "emphysema",
        "fibrosis",
        "pleural",
        "hernia",
    ),
    "dermamnist": ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"),
    "octmnist": ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
    "pneumoniamnist": ("normal", "pneumonia"),
    "retinamnist": ("0", "1", "2", "3", "4"),
    "breastmnist": ("malignant", "normal, benign"),
    "bloodmnist": (
        "basophil",
        "eosinophil",
        "erythroblast",
        "immature granulocytes",
        "lymphocyte",
        "monocyte",
        "neutrophil",
        "platelet",
    ),
    "tissuemnist": (
        "collecting duct, connecting tubule",
        "distal convoluted tubule",
        "glomerular endothelial cells",
        "interstitial endothelial cells",
        "leukocytes",
        "podocytes",
        "proximal tubule segments",
        "thick ascending limb",
    ),
    "organamnist": _ORGANS,
    "organcmnist": _ORGANS,
    "organsmnist": _ORGANS,
}


def _known_set(path: Path) -> str | None:
    # "dermamnist.npz", "dermamnist_64.npz" (MedMNIST+ sizes), "DermaMNIST.npz": all dermamnist.
    stem = re.sub(r"_\d+$", "", path.stem.lower())
    return stem if stem in CLASS_NAMES else None


def medmnist(path: str | PathLike, split: str = "train") -> ImageSet:
    """One split ("train", "val" or "test") of a MedMNIST npz, as uint8 [N, 1 or 3, S, S].

    Single-label sets give ``labels`` with the set's class names (known from the file name, else
    "0", "1", ...). Multi-label sets (ChestMNIST) give each finding as a 0/1 factor instead.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {path}: expected one of {SPLITS}")
    archive = open_npz(path, (f"{split}_images", f"{split}_labels"))
    with archive:
        images, labels = archive[f"{split}_images"], archive[f"{split}_labels"]
    path = Path(path)
    if (
        images.dtype != np.uint8
        or images.ndim not in (3, 4)
        or (images.ndim == 4 and images.shape[3] != 3)
    ):
        raise DataError(
            f"{path}: {split}_images is {images.dtype} {images.shape}: "
            "expected uint8 [N, S, S] or [N, S, S, 3]"
        )
    pixels = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    if labels.ndim != 2 or len(labels) != len(images):
        raise DataError(
            f"{path}: {split}_labels has shape {labels.shape}: "
            f"expected [{len(images)}, 1] or [{len(images)}, K]"
        )
    known = _known_set(path)
    name = f"{path.name}:{split}"
    if labels.shape[1] == 1:
        top = int(labels.max(initial=0))
        names = CLASS_NAMES[known] if known else tuple(str(c) for c in range(top + 1))
        return ImageSet(
            np.ascontiguousarray(pixels), labels=labels[:, 0], class_names=names, name=name
        )
    count = labels.shape[1]
    names = (
        CLASS_NAMES[known]
        if known and len(CLASS_NAMES[known]) == count
        else tuple(f"finding{k}" for k in range(count))
    )
    return ImageSet(
        np.ascontiguousarray(pixels),
        factors=labels,
        factor_names=names,
        factor_sizes=(2,) * count,
        name=name,
    )
