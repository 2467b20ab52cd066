"""Slices of NIfTI (nibabel) or DICOM (pydicom) volumes listed in a CSV with subject and visit
columns, as a longitudinal study (ADNI, OASIS) is shipped: one ImageSet with groups and times, for
pairs of visits (untwine.data.pairs) and Ada-GVAE. Install with ``pip install untwine[volumes]``.

Per volume: NIfTI is turned to the closest canonical (RAS+) orientation, so ``axis=2`` gives axial
slices whatever the scanner wrote; a DICOM file is one slice (or its frames), rescaled by its
RescaleSlope/Intercept. Intensities are clipped to the volume's ``percentiles`` and mapped to 0..255
(one window per volume, so a scan's contrast does not depend on which slice is taken); each slice is
padded to a square (aspect ratio kept) and resized to ``size`` with Lanczos.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image

from untwine.data.cache import cached
from untwine.data.errors import DataError
from untwine.data.files import existing
from untwine.data.folder import _read_table
from untwine.data.imageset import ImageSet

VOLUMES_VERSION = 1
_NIFTI_SUFFIXES = (".nii", ".nii.gz", ".img", ".hdr")


def _need(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise DataError(
            f"reading volumes needs {module}: pip install 'untwine[volumes]' (nibabel and pydicom)"
        ) from None


def _read_nifti(path: Path, volume: int | None) -> np.ndarray:
    nib = _need("nibabel")
    try:
        image = nib.as_closest_canonical(nib.load(str(path)))
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as error:  # nibabel raises many types for a damaged or foreign file
        raise DataError(f"cannot read NIfTI volume {path}: {error}") from None
    if data.ndim == 4:
        if volume is None:
            raise DataError(
                f"{path} holds {data.shape[3]} volumes (4-D); add a volume column saying which"
            )
        if not 0 <= volume < data.shape[3]:
            raise DataError(f"{path}: volume {volume} asked for, it holds 0..{data.shape[3] - 1}")
        data = data[..., volume]
    if data.ndim != 3:
        raise DataError(f"{path} has shape {data.shape}: expected a 3-D volume (or 4-D with a volume)")
    return data


def _read_dicom(path: Path) -> np.ndarray:
    pydicom = _need("pydicom")
    try:
        dataset = pydicom.dcmread(str(path))
        pixels = dataset.pixel_array.astype(np.float32)
    except Exception as error:  # truncated pixel data, missing tags, unsupported transfer syntax
        raise DataError(f"cannot read DICOM pixel data of {path}: {error}") from None
    slope = float(getattr(dataset, "RescaleSlope", 1) or 1)
    intercept = float(getattr(dataset, "RescaleIntercept", 0) or 0)
    pixels = pixels * slope + intercept
    if pixels.ndim == 2:
        return pixels[:, :, None]  # one slice: a volume one slice deep
    if pixels.ndim == 3 and getattr(dataset, "SamplesPerPixel", 1) == 1:
        return pixels.transpose(1, 2, 0)  # frames last, as the slice axis
    raise DataError(f"{path}: DICOM pixel data of shape {pixels.shape} is not a grayscale slice or frames")


def read_volume(path: Path, volume: int | None = None) -> np.ndarray:
    """float32 [X, Y, Z]: a NIfTI volume (canonical orientation) or a DICOM file's slice(s)."""
    if path.name.lower().endswith(_NIFTI_SUFFIXES):
        return _read_nifti(path, volume)
    return _read_dicom(path)


def _slice_indices(depth: int, axis_slice: int | None, slices: int, spacing: int, path: Path) -> list[int]:
    centre = depth // 2 if axis_slice is None else axis_slice
    offsets = (np.arange(slices) - (slices - 1) / 2) * spacing
    indices = [int(round(centre + o)) for o in offsets]
    if min(indices) < 0 or max(indices) >= depth:
        raise DataError(
            f"{path}: slices {indices} asked for, the volume has {depth} along the slice axis"
        )
    return indices


def _normalize(volume: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    low, high = np.percentile(volume, percentiles)
    if high <= low:  # a constant volume: black rather than a division by zero
        return np.zeros_like(volume)
    return np.clip((volume - low) / (high - low), 0, 1)


def _to_square_image(section: np.ndarray, size: int) -> np.ndarray:
    """uint8 [size, size]: a slice in [0, 1], anterior up, padded to a square and resized."""
    section = np.rot90(section)  # RAS axial [x, y] -> rows top to bottom are anterior to posterior
    height, width = section.shape
    side = max(height, width)
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = section
    resized = Image.fromarray(square * 255, mode="F").resize((size, size), Image.Resampling.LANCZOS)
    return np.clip(np.rint(np.asarray(resized)), 0, 255).astype(np.uint8)


def _decode(
    paths: list[Path], volumes: list[int | None], axis: int, axis_slice: int | None, slices: int,
    spacing: int, size: int, percentiles: tuple[float, float],
) -> dict[str, np.ndarray]:
    images = []
    for path, volume in zip(paths, volumes, strict=True):
        data = read_volume(path, volume)
        if data.shape[axis] == 1:
            chosen = [0]  # a single DICOM slice: nothing to choose
        else:
            chosen = _slice_indices(data.shape[axis], axis_slice, slices, spacing, path)
        data = _normalize(data, percentiles)
        images.extend(_to_square_image(np.take(data, i, axis=axis), size) for i in chosen)
    return {"pixels": np.stack(images)[:, None], "per_volume": np.array([len(images) // len(paths)])}


def _volume_column(rows: list[dict[str, str]], column: str | None, where: str) -> list[int | None]:
    if column is None:
        return [None] * len(rows)
    out: list[int | None] = []
    for i, row in enumerate(rows):
        value = row[column].strip()
        if value and not value.isdigit():
            raise DataError(f"{where}, row {i + 2}: column {column!r} holds {value!r}, not a volume index")
        out.append(int(value) if value else None)
    return out


def _times(values: Sequence[str]) -> np.ndarray:
    try:
        return np.array([float(v) for v in values])
    except ValueError:
        return np.array(values)  # visit names (bl, m12, ...): equal names are one visit


def volumes(
    manifest: str | PathLike,
    path_column: str = "path",
    subject_column: str = "subject",
    visit_column: str = "visit",
    *,
    volume_column: str | None = None,
    axis: int = 2,
    slice_index: int | None = None,
    slices: int = 1,
    spacing: int = 1,
    size: int = 64,
    percentiles: tuple[float, float] = (1.0, 99.0),
    cache: bool = True,
) -> ImageSet:
    """Grayscale ``size`` x ``size`` slices of the volumes a CSV lists, one image per slice.

    ``path_column``: NIfTI (.nii, .nii.gz) or DICOM files, relative to the CSV's folder.
    ``subject_column`` becomes ``groups``, ``visit_column`` ``times`` (numbers, or names kept as
    strings). ``volume_column`` picks the volume of a 4-D NIfTI. ``axis`` is the slice axis (2:
    axial in RAS+), ``slice_index`` its slice (default the middle); ``slices`` > 1 takes that many,
    ``spacing`` apart, centred there (each its own image with the volume's subject and visit).
    """
    manifest_path = existing(manifest)
    where = str(manifest_path)
    if not 0 <= axis <= 2 or slices < 1 or spacing < 1 or size < 8:
        raise DataError(f"volumes() needs axis 0..2, slices >= 1, spacing >= 1, size >= 8; got "
                        f"{axis}, {slices}, {spacing}, {size}")
    if not 0 <= percentiles[0] < percentiles[1] <= 100:
        raise DataError(f"percentiles {percentiles}: expected 0 <= low < high <= 100")
    wanted = [path_column, subject_column, visit_column, *([volume_column] if volume_column else [])]
    rows = _read_table(manifest_path, wanted)
    paths = []
    for i, row in enumerate(rows):
        path = manifest_path.parent / row[path_column].strip()
        if not path.is_file():
            raise DataError(f"{where}, row {i + 2}: volume {row[path_column]!r} not found ({path})")
        paths.append(path)
    volume_index = _volume_column(rows, volume_column, where)
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    key = {"files": stats, "volumes": volume_index, "axis": axis, "slice": slice_index, "slices": slices,
           "spacing": spacing, "size": size, "percentiles": list(percentiles), "version": VOLUMES_VERSION}
    stored = cached(
        "volumes", key,
        lambda: _decode(paths, volume_index, axis, slice_index, slices, spacing, size, percentiles),
        use_cache=cache,
    )
    repeat = int(stored["per_volume"][0])
    if len(stored["pixels"]) != repeat * len(paths):
        raise DataError(f"{where}: volumes gave different numbers of slices (single DICOM slices "
                        "beside volumes); list one kind per manifest or take slices=1")
    return ImageSet(
        stored["pixels"],
        groups=np.repeat([row[subject_column].strip() for row in rows], repeat),
        times=np.repeat(_times([row[visit_column].strip() for row in rows]), repeat),
        name=f"volumes:{manifest_path.name}",
    )
