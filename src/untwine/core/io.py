"""Atomic writes: a temporary file in the same folder, fsync, rename, fsync the folder.

A process killed at any moment leaves either the old file or the new one whole, never half of each,
and after the folder's fsync the rename itself survives a power cut. Every file untwine writes
(checkpoints, configs, eval.json, figures, caches, tables) goes through ``atomic_write``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: Path | str, write: Callable[[str], Any]) -> None:
    """Call ``write(tmp_path)``, fsync the file, then rename it over ``path`` and fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file 0600; give it the mode open() would, so a report or a config is readable
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
