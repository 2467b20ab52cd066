"""The registry of data sources: each registered source stamps the ImageSet it returns with how it was
made (``ImageSet.origin``), so that a run trained on it through the Python API can be rebuilt from its
run directory exactly as one trained from a config."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

import yaml

from untwine.core.registry import Registry


def _plain(value: Any) -> Any:
    """``value`` as YAML can hold it (paths as text, tuples as lists)."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _recorded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def source(*args: Any, **kwargs: Any) -> Any:
        dataset = fn(*args, **kwargs)
        options = {k: _plain(v) for k, v in signature.bind(*args, **kwargs).arguments.items()}
        try:
            yaml.safe_dump(options)
        except yaml.YAMLError:  # an option a config cannot hold: the run keeps its own copy instead
            return dataset
        if hasattr(dataset, "origin"):
            dataset.origin = {"source": name, "options": options}
        return dataset

    return source


class SourceRegistry(Registry):
    """A registry whose entries record the origin of the ImageSets they make; ``add`` returns the
    recording function, which the package exports under the source's name."""

    def add(self, name: str, fn: Callable[..., Any], *, options: Any = None, needs: Sequence[str] = (),
            traits: Sequence[str] = (), help: str | None = None, **extra: Any) -> Callable[..., Any]:
        return super().add(name, _recorded(name, fn), options=options, needs=needs, traits=traits,
                           help=help, **extra)
