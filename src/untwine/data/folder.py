"""A folder of PNG/JPG images listed in a CSV, as the ISIC and HAM10000 releases ship them."""

from __future__ import annotations

import csv as csvlib
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from untwine.data.cache import cached
from untwine.data.errors import DataError
from untwine.data.files import existing
from untwine.data.imageset import ImageSet

FOLDER_VERSION = 1
# ISIC's ground-truth CSVs name images by id, without an extension.
_EXTENSIONS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _read_table(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csvlib.DictReader(file)
        header = reader.fieldnames or []
        for column in columns:
            if column not in header:
                raise DataError(f"{path} has no column {column!r} (its columns: {header})")
        rows = list(reader)
    if not rows:
        raise DataError(f"{path} lists no images")
    return rows


def _image_path(root: Path, value: str, where: str) -> Path:
    path = root / value.strip()
    if path.is_file():
        return path
    if not path.suffix:
        for extension in _EXTENSIONS:
            if path.with_suffix(extension).is_file():
                return path.with_suffix(extension)
    raise DataError(f"{where}: image {value!r} not found in {root}")


def _labels(
    rows: list[dict[str, str]], column: str | Sequence[str], where: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class index per row and class names, from one column of names or one-hot columns (argmax)."""
    if isinstance(column, str):
        values = [row[column].strip() for row in rows]
        for i, value in enumerate(values):
            if not value:
                raise DataError(f"{where}, row {i + 2}: empty label in column {column!r}")
        numeric = all(v.lstrip("-").isdigit() for v in values)
        names = sorted(set(values), key=int if numeric else str)
        lookup = {name: k for k, name in enumerate(names)}
        return np.array([lookup[v] for v in values], dtype=np.int64), tuple(names)
    onehot = np.empty((len(rows), len(column)))
    for i, row in enumerate(rows):
        for k, name in enumerate(column):
            try:
                onehot[i, k] = float(row[name])
            except ValueError:
                raise DataError(
                    f"{where}, row {i + 2}: column {name!r} holds {row[name]!r}, not a number"
                ) from None
    empty = np.flatnonzero(onehot.max(axis=1) <= 0)
    if len(empty):
        raise DataError(
            f"{where}, row {empty[0] + 2}: no positive entry in the label columns {list(column)}"
        )
    return onehot.argmax(axis=1), tuple(column)


def _decode(paths: list[Path], size: int | None, channels: int | None) -> dict[str, np.ndarray]:
    headers = []
    for path in paths:  # headers only: a file that is not an image is named before any decoding
        try:
            with Image.open(path) as image:
                headers.append((image.mode, image.size))
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"cannot decode image {path}: {error}") from None
    if channels is None:
        channels = 1 if all(mode in _GRAY_MODES for mode, _ in headers) else 3
    if size is None:
        (width, height), first = headers[0][1], paths[0]
        for path, (_, shape) in zip(paths, headers, strict=True):
            if shape != (width, height) or width != height:
                raise DataError(
                    f"images of mixed or non-square sizes: {first} is {width}x{height}, {path} is "
                    f"{shape[0]}x{shape[1]}; pass size= to resize them all"
                )
        size = width
    mode = "L" if channels == 1 else "RGB"
    pixels = np.empty((len(paths), channels, size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                image.draft(mode, (size, size))  # JPEG decodes at a reduced scale when it can
                image = image.convert(mode)
                if image.size != (size, size):
                    image = image.resize((size, size), Image.Resampling.LANCZOS)
                array = np.asarray(image)
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"cannot decode image {path}: {error}") from None
        pixels[i] = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return {"pixels": pixels}


def folder(
    root: str | PathLike,
    csv: str | PathLike,
    image_column: str,
    label_column: str | Sequence[str] | None = None,
    group_column: str | None = None,
    size: int | None = 64,
    *,
    time_column: str | None = None,
    channels: int | None = None,
    cache: bool = True,
) -> ImageSet:
    """The images a CSV lists, resized once to ``size`` x ``size`` (Lanczos; aspect ratio not kept,
    as in MedMNIST; ``size=None`` keeps their common size) and cached on disk.

    ``image_column`` holds file names relative to ``root`` (an extension may be left out, as ISIC
    does). ``label_column`` is a column of class names, or a list of one-hot columns (HAM10000 /
    ISIC 2018 ground truth: MEL, NV, BCC, ...) whose names become the classes. ``group_column``
    holds subject ids, ``time_column`` numbers (e.g. days). ``channels``: 1 or 3; by default 1
    only when every image is grayscale.
    """
    root = existing(root, "folder")
    csv_path = Path(csv) if Path(csv).is_file() else root / csv
    csv_path = existing(csv_path)
    labels = [label_column] if isinstance(label_column, str) else list(label_column or ())
    wanted = [image_column, *labels, *(c for c in (group_column, time_column) if c)]
    rows = _read_table(csv_path, wanted)
    where = str(csv_path)
    paths = [
        _image_path(root, row[image_column], f"{where}, row {i + 2}") for i, row in enumerate(rows)
    ]
    label_array, class_names = (
        (None, ()) if label_column is None else _labels(rows, label_column, where)
    )
    groups = None if group_column is None else np.array([row[group_column].strip() for row in rows])
    times = None
    if time_column is not None:
        try:
            times = np.array([float(row[time_column]) for row in rows])
        except ValueError as error:
            raise DataError(
                f"{where}: column {time_column!r} holds a value that is not a number: {error}"
            ) from None
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    key = {"files": stats, "size": size, "channels": channels, "version": FOLDER_VERSION}
    stored = cached("folder", key, lambda: _decode(paths, size, channels), use_cache=cache)
    return ImageSet(
        stored["pixels"],
        labels=label_array,
        class_names=class_names,
        groups=groups,
        times=times,
        name=f"folder:{csv_path.name}",
    )
