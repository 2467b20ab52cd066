"""Opening source files, with errors naming the file and what is missing before any work is done."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import numpy as np

from untwine.data.errors import DataError


def existing(path: str | PathLike, what: str = "file") -> Path:
    """``path`` as a Path, or a DataError if there is no such file (folder: ``what="folder"``)."""
    path = Path(path).expanduser()
    found = path.is_dir() if what == "folder" else path.is_file()
    if not found:
        raise DataError(f"no such {what}: {path}")
    return path


def open_npz(path: str | PathLike, keys: Iterable[str]) -> np.lib.npyio.NpzFile:
    """The npz at ``path`` (never unpickling), checked to hold every one of ``keys``."""
    path = existing(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz file: {error}") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array, not an .npz archive of named arrays")
    missing = [key for key in keys if key not in archive.files]
    if missing:
        archive.close()
        raise DataError(f"{path} has no key {missing[0]!r} (it holds {sorted(archive.files)})")
    return archive
