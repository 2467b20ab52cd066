"""Atomic writes: a temporary file in the same folder, fsync, rename, fsync the folder.

A process killed at any moment leaves either the old file or the new one whole, never half of each,
and after the folder's fsync the rename itself survives a power cut. Every file untwine writes
(checkpoints, configs, eval.json, figures, caches, tables) goes through ``atomic_write``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMPORARY_SUFFIX = ".untwine-tmp"
# Fault injection for tests: with UNTWINE_WRITE_PAUSE=SECONDS every atomic write, its temporary file
# written and synced but not yet renamed, appends the target's path to the file UNTWINE_WRITE_LOG (when
# set) and sleeps, so a test can kill the process inside a checkpoint write.
PAUSE_ENV, PAUSE_LOG_ENV = "UNTWINE_WRITE_PAUSE", "UNTWINE_WRITE_LOG"


def atomic_write(path: Path | str, write: Callable[[str], Any]) -> None:
    """Call ``write(tmp_path)``, fsync the file, then rename it over ``path`` and fsync the folder.

    The temporary file is ``.NAME.XXXX.untwine-tmp`` beside ``path``; one that a killed process left
    behind is removed by ``remove_temporary_files`` (a run does so when it starts again).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file 0600; give it the mode open() would, so a report or a config is readable
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        _pause_for_tests(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _pause_for_tests(path: Path) -> None:
    seconds = os.environ.get(PAUSE_ENV)
    if not seconds:
        return
    log = os.environ.get(PAUSE_LOG_ENV)
    if log:
        with open(log, "a") as handle:
            handle.write(f"{path}\n")
    time.sleep(float(seconds))


def remove_temporary_files(folder: Path) -> list[Path]:
    """Remove the temporary files that writes interrupted by a kill left in ``folder`` and below."""
    if not folder.is_dir():
        return []
    orphans = sorted(folder.rglob(f".*{TEMPORARY_SUFFIX}"))
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
