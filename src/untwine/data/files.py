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


_ZIP_MAGIC = b"PK\x03\x04"
_KNOWN_MAGIC = {b"\x1f\x8b": "gzip-compressed data", b"\x93NUMPY": "a single .npy array",
                b"\x80": "a Python pickle", b"BZh": "bzip2-compressed data", b"\x89HDF": "an HDF5 file"}


def open_npz(path: str | PathLike, keys: Iterable[str]) -> np.lib.npyio.NpzFile:
    """The npz at ``path``, checked to hold every one of ``keys`` as a numeric array.

    Never unpickles: a file that is not a zip of .npy arrays, or whose arrays hold Python objects, is
    a DataError naming the file (and the array), not numpy's advice to load it with ``allow_pickle``.
    """
    path = existing(path)
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head.startswith(_ZIP_MAGIC):
        found = next((what for magic, what in _KNOWN_MAGIC.items() if head.startswith(magic)),
                     "not a zip archive")
        raise DataError(f"{path} is not an .npz file (a zip of .npy arrays): it holds {found}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz file ({type(error).__name__}: "
                        f"{_without_pickle_advice(error)})") from error
    missing = [key for key in keys if key not in archive.files]
    if missing:
        archive.close()
        raise DataError(f"{path} has no key {missing[0]!r} (it holds {sorted(archive.files)})")
    for key in keys:
        try:
            dtype = _member_dtype(archive, key)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            archive.close()
            raise DataError(f"{path}: array {key!r} is not a readable .npy member "
                            f"({_without_pickle_advice(error)})") from error
        if dtype.hasobject:
            archive.close()
            raise DataError(f"{path}: array {key!r} holds Python objects (dtype {dtype}), not numbers; "
                            "untwine reads numeric arrays only")
    return archive


def _member_dtype(archive: np.lib.npyio.NpzFile, key: str) -> np.dtype:
    """The dtype in a member's .npy header, read without loading (or unpickling) its data."""
    name = f"{key}.npy" if f"{key}.npy" in archive.zip.namelist() else key
    with archive.zip.open(name) as member:
        version = np.lib.format.read_magic(member)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy format version {version}")
        return read_header(member)[2]


def _without_pickle_advice(error: BaseException) -> str:
    # numpy's text may advise allow_pickle=True, which would run code from the file: never pass it on
    text = str(error)
    return "the file holds pickled Python objects" if "pickle" in text else text
