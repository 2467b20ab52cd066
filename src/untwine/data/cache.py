"""A disk cache of arrays for sources that are slow to make (rendering, decoding and resizing).

Files live in ``$UNTWINE_CACHE`` or ``~/.cache/untwine``, one .npz per key (a hash of everything the
arrays depend on, including a version of the code that makes them). Writes are atomic (temporary
file, fsync, rename), so a killed process never leaves a half-written entry; reads never unpickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from untwine.core.io import atomic_write


def cache_dir() -> Path:
    return Path(os.environ.get("UNTWINE_CACHE") or Path.home() / ".cache" / "untwine")


def cache_path(kind: str, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return cache_dir() / f"{kind}-{digest[:20]}.npz"


def save_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as file:
            np.savez(file, **arrays)

    atomic_write(path, write)


def cached(
    kind: str, key: dict, build: Callable[[], dict[str, np.ndarray]], use_cache: bool = True
) -> dict[str, np.ndarray]:
    """The arrays stored under (kind, key), or ``build()``'s, stored for next time."""
    if not use_cache:
        return build()
    path = cache_path(kind, key)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            warnings.warn(f"rebuilding the unreadable cache entry {path}: {error}", stacklevel=3)
    arrays = build()
    try:
        save_atomic(path, arrays)
    except OSError as error:  # a read-only or full disk costs a rebuild next time, not this run
        warnings.warn(f"could not write the cache entry {path}: {error}", stacklevel=3)
    return arrays
