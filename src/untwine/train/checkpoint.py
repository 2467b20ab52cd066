"""Checkpoints as safetensors, written atomically; never pickle (loading a pickle runs code).

``state.safetensors`` holds everything a resumed run needs (weights, optimizer moments, step, RNG
states) in one file, so a run killed at any moment leaves either the old or the new checkpoint whole,
never half of each. ``model.safetensors`` holds the weights alone, for users.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

_SEP = "/"


TEMPORARY_SUFFIX = ".untwine-tmp"
# Fault injection for tests: with UNTWINE_WRITE_PAUSE=SECONDS every atomic write, its temporary file
# written and synced but not yet renamed, appends the target's path to the file UNTWINE_WRITE_LOG (when
# set) and sleeps, so a test can kill the process inside a checkpoint write.
PAUSE_ENV, PAUSE_LOG_ENV = "UNTWINE_WRITE_PAUSE", "UNTWINE_WRITE_LOG"


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)``, fsync the file, then rename it over ``path``.

    The temporary file is ``.NAME.XXXX.untwine-tmp`` beside ``path``; one left by a killed process
    is removed by ``remove_temporary_files`` when the run starts again.
    """
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


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def flatten(tree: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, torch.Tensor], dict]:
    """Split a nested dict into tensors keyed by path and a JSON-able rest (e.g. Adam's hyperparameters)."""
    tensors: dict[str, torch.Tensor] = {}
    rest: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            tensors[path] = value.detach().contiguous().cpu()
        elif isinstance(value, Mapping):
            sub_tensors, sub_rest = flatten(value, path + _SEP)
            tensors.update(sub_tensors)
            if sub_rest:
                rest[str(key)] = sub_rest
        else:
            rest[str(key)] = value
    return tensors, rest


def unflatten(tensors: Mapping[str, torch.Tensor], rest: Mapping[str, Any], prefix: str) -> dict:
    """Inverse of ``flatten`` for the subtree under ``prefix``."""
    tree: dict[str, Any] = json.loads(json.dumps(rest))
    for path, tensor in tensors.items():
        if not path.startswith(prefix):
            continue
        node = tree
        *parents, leaf = path[len(prefix) :].split(_SEP)
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = tensor
    return tree


def save_weights(module: torch.nn.Module, path: Path) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp))


def load_weights(module: torch.nn.Module, path: Path) -> None:
    """Load weights into ``module``, naming the file and the tensors that do not fit."""
    state = read_safetensors(path)
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # torch reports tensors of the wrong shape this way
        raise ValueError(f"{path}: weights do not fit the model ({err})") from err
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not fit the model (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's zip, or a bare pickle
        raise ValueError(f"{path}: not a safetensors file but a pickle (torch.save), which untwine "
                         "never loads: loading a pickle runs code from the file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable safetensors file ({err})") from err


def save_state(path: Path, tree: Mapping[str, Any]) -> None:
    """Write a nested dict of tensors and JSON-able values (the resume state) to one file."""
    tensors, rest = flatten(tree)
    meta = {"untwine_rest": json.dumps(rest)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def load_state(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    tensors = read_safetensors(path)
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    if "untwine_rest" not in meta:
        raise ValueError(f"{path}: not an untwine training state (metadata 'untwine_rest' missing)")
    return unflatten(tensors, json.loads(meta["untwine_rest"]), prefix="")
