"""Registries: untwine's only extension points (models, architectures, data sources, metrics,
protocols). An entry is a callable, the pydantic model of its options, and what it needs.

    SOURCES.add("shapes", shapes, help="rendered shapes with known factors")

Config validation, the command line's choices and help, ``evaluate`` and the docs table all read the
registries, so a new entry is known everywhere the moment its line runs. ``needs`` is a set of
words checked before any work is done (a model that needs "pairs", a protocol that needs "factors",
"labels" or a model that "encodes"); ``traits`` says what an entry offers (a model that "encodes").
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel
from pydantic_core import PydanticCustomError

from untwine.core.options import options_model

T = TypeVar("T")


def _own_doc(fn: Any) -> str:
    """The first paragraph of ``fn``'s own docstring (not one it inherits), else of its module's."""
    own = vars(fn).get("__doc__") if isinstance(fn, type) else getattr(fn, "__doc__", None)
    if not own:
        module = sys.modules.get(getattr(fn, "__module__", ""), None)
        own = getattr(module, "__doc__", None) or ""
    return inspect.cleandoc(own).split("\n\n")[0].replace("\n", " ")


class UnknownName(ValueError):
    """A name that no registry entry has; the message lists the names that exist."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    fn: T
    options: type[BaseModel] | None  # None: computed from fn's signature on first use
    needs: frozenset[str] = frozenset()
    traits: frozenset[str] = frozenset()
    help: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # what only this kind of registry reads


class Registry(Mapping[str, T]):
    """Named entries of one kind, in the order they were added. As a mapping, ``registry[name]`` is
    the entry's callable; ``registry.entry(name)`` the whole entry."""

    def __init__(self, kind: str, supplied: Sequence[str] = ()) -> None:
        self.kind = kind
        self.supplied = tuple(supplied)  # arguments the caller passes itself: not options
        self._entries: dict[str, Entry[T]] = {}
        self._options: dict[str, type[BaseModel]] = {}

    def add(self, name: str, fn: T, *, options: type[BaseModel] | None = None, needs: Sequence[str] = (),
            traits: Sequence[str] = (), help: str | None = None, **extra: Any) -> T:
        """Register ``fn`` under ``name``; ``help`` defaults to the first line of its docstring."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        if help is None:
            help = _own_doc(fn)
        self._entries[name] = Entry(name, fn, options, frozenset(needs), frozenset(traits), help, extra)
        return fn

    def remove(self, name: str) -> None:
        del self._entries[name]
        self._options.pop(name, None)

    @contextmanager
    def temporarily(self, name: str, fn: T, **kwargs: Any) -> Iterator[Entry[T]]:
        """Register an entry for the duration of a ``with`` block (tests, notebooks)."""
        self.add(name, fn, **kwargs)
        try:
            yield self.entry(name)
        finally:
            self.remove(name)

    def entry(self, name: str) -> Entry[T]:
        if name not in self._entries:
            raise UnknownName(f"unknown {self.kind} {name!r}; expected one of {self.names()}")
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:  # a KeyError, as a mapping's, that also lists the names
            raise KeyError(f"unknown {self.kind} {name!r}; expected one of {self.names()}")
        return self._entries[name].fn

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def options(self, name: str) -> type[BaseModel]:
        """The pydantic model of an entry's options (from its signature unless it gave one)."""
        entry = self.entry(name)
        if entry.options is not None:
            return entry.options
        if name not in self._options:
            self._options[name] = options_model(name, entry.fn, exclude=self.supplied)
        return self._options[name]

    def validate(self, name: str, values: dict[str, Any] | None) -> BaseModel:
        return self.options(name).model_validate(values or {})

    def name_type(self) -> Any:
        """A pydantic type for a field that names an entry: the check runs at validation time, so
        entries added later (a user's, a test's) are accepted too."""

        def known(name: str) -> str:
            if name not in self._entries:
                raise PydanticCustomError(
                    "unknown_name", "Input should be one of {expected}",
                    {"expected": ", ".join(repr(n) for n in self._entries)},
                )
            return name

        return Annotated[str, AfterValidator(known)]

    def help_text(self, sep: str = ", ") -> str:
        """The names, for a command line's help."""
        return sep.join(self._entries)

    def table(self) -> str:
        """A markdown table of the entries (name, needs, what it is), for the docs."""
        rows = ["| name | needs | what it is |", "| --- | --- | --- |"]
        for entry in self._entries.values():
            needs = ", ".join(sorted(entry.needs)) or "-"
            rows.append(f"| `{entry.name}` | {needs} | {entry.help} |")
        return "\n".join(rows)
