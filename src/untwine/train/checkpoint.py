"""Checkpoints as safetensors, written atomically; never pickle (loading a pickle runs code).

``state.safetensors`` holds everything a resumed run needs (weights, optimizer moments, step, RNG
states) in one file, so a run killed at any moment leaves either the old or the new checkpoint whole,
never half of each. ``model.safetensors`` holds the weights alone, for users.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from untwine.core.io import atomic_write, atomic_write_text  # noqa: F401  (re-exported)

_SEP = "/"


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
