"""An ImageSet kept in one .npz file: what ``fit()`` writes into a run directory when the images came
from no registered source (an ImageSet made in memory), so the run can be opened again.
Read with ``allow_pickle=False``: the file holds arrays only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from untwine.core.io import atomic_write
from untwine.data.errors import DataError
from untwine.data.imageset import ImageSet

_OPTIONAL = ("factors", "labels", "groups", "times")


def save_imageset(dataset: ImageSet, path: Path | str) -> Path:
    """Write every field of ``dataset`` (pixels unpacked to uint8) to ``path`` (.npz, compressed)."""
    arrays: dict[str, np.ndarray] = {
        "pixels": dataset.images().cpu().numpy(),
        "factor_names": np.asarray(dataset.factor_names, dtype=str),
        "factor_sizes": np.asarray(dataset.factor_sizes, dtype=np.int64),
        "class_names": np.asarray(dataset.class_names, dtype=str),
        "name": np.asarray(dataset.name),
        "binary": np.asarray(dataset.is_binary),
    }
    for key in _OPTIONAL:
        value = getattr(dataset, key)
        if value is not None:
            arrays[key] = np.asarray(value) if value.dtype != object else np.asarray(value, dtype=str)
    for k, values in enumerate(dataset.factor_values or ()):
        arrays[f"factor_values_{k}"] = np.asarray(values)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write(Path(path), write)
    return Path(path)


def saved(path: str) -> ImageSet:
    """The ImageSet ``save_imageset`` wrote to ``path``."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such saved image set")
    try:
        with np.load(file, allow_pickle=False) as stored:
            values = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{file}: not a saved image set ({err})") from err
    k = len(values["factor_sizes"])
    kept_values = "factor_values_0" in values
    factor_values = tuple(values[f"factor_values_{i}"] for i in range(k)) if kept_values else None
    return ImageSet(
        values["pixels"], factors=values.get("factors"), factor_names=tuple(values["factor_names"].tolist()),
        factor_sizes=tuple(int(s) for s in values["factor_sizes"]), factor_values=factor_values,
        labels=values.get("labels"), class_names=tuple(values["class_names"].tolist()),
        groups=values.get("groups"), times=values.get("times"), name=str(values["name"]),
        binary=bool(values["binary"]),
    )
