"""Options: the strict pydantic base, a function's keyword arguments as a pydantic model, ``KEY=VALUE``
overrides, and validation errors as lines that name the key.

Every config section, every registry entry's options and every CLI ``--set`` go through these, so a
typo is reported the same way wherever it is made.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model


class Strict(BaseModel):
    """A config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class OverrideError(ValueError):
    """A ``KEY=VALUE`` override that is not one."""


def options_model(label: str, fn: Callable[..., Any], exclude: Sequence[str] = ()) -> type[BaseModel]:
    """A strict pydantic model of a function's keyword arguments (a data source's, a protocol's),
    from its signature and type hints; ``exclude`` names arguments the caller supplies itself."""
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or name in exclude:
            continue
        default = ... if param.default is param.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    return create_model(
        f"{label}_options", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )


def describe_errors(err: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    """One indented line per error: ``  key.path: message (got value)``."""
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in (*prefix, *item["loc"]))
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {key}: {item['msg']}{shown}")
    return "\n".join(lines)


def one_line(err: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    """``describe_errors`` on one line, for a command-line error."""
    return "; ".join(line.strip() for line in describe_errors(err, prefix).splitlines())


def parse_assignment(item: str, flag: str = "--set", example: str = "model.beta=6",
                     shape: str = "KEY=VALUE") -> tuple[str, Any]:
    """``KEY=VALUE`` -> (KEY, VALUE parsed as YAML: ``6`` an int, ``a`` a str, ``[1, 2]`` a list)."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise OverrideError(f"{flag} {item!r}: expected {shape}, e.g. {flag} {example}")
    try:
        return key, yaml.safe_load(raw)
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0]
        raise OverrideError(f"{flag} {item!r}: the value is not valid YAML ({first})") from err


def parse_assignments(items: Sequence[str], flag: str = "--set", example: str = "n=5000") -> dict[str, Any]:
    """Flat ``KEY=VALUE`` options (a protocol's, a data source's) as a mapping."""
    return dict(parse_assignment(item, flag, example) for item in items)


def apply_overrides(values: dict[str, Any], overrides: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """Apply ``key.path=value`` overrides to nested ``values`` (a deep copy is returned)."""
    values = yaml.safe_load(yaml.safe_dump(values))  # a deep copy
    for item in overrides:
        key, value = parse_assignment(item, flag, shape="KEY.PATH=VALUE")
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise OverrideError(f"{flag} {item!r}: {part!r} is not a section")
            node = child
        node[leaf] = value
    return values
