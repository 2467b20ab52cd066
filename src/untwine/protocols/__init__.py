"""Evaluation protocols: named ways of scoring a trained run, each a paper's table in code.

A protocol is a function ``fn(model, dataset, *, seed, figures, **options) -> ProtocolResult``:
``dataset`` is the split the run's evaluate section chose, ``figures`` the folder for its PNGs, and
its keyword options are validated from its signature, like a data source's. A protocol that also
needs the images training never saw declares a ``held_out`` argument and receives the test split.
``untwine evaluate RUN --protocol NAME`` and ``untwine run`` call them; each writes its section of
``eval.json``: ``{protocol: {"scores": ..., "parameters": ..., **details}}``.

``PROTOCOLS`` is the registry: each entry is the function, its options (from its signature) and
what it needs: ``encodes`` (a model with an encoder; checked against the model's registry entry when
a config is validated), ``factors`` or ``labels`` (checked on the dataset before any work).
Add a protocol with one function in its own file here and one line in ``PROTOCOLS``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ValidationError

from untwine.core.io import atomic_write_text
from untwine.core.options import describe_errors
from untwine.core.registry import Registry
from untwine.models import MODELS
from untwine.protocols.disentanglement import disentanglement
from untwine.protocols.grouped import grouped
from untwine.protocols.lesions import lesions
from untwine.protocols.result import ProtocolResult
from untwine.protocols.shared_dimensions import shared_dimensions_protocol
from untwine.protocols.sparsity import sparsity
from untwine.protocols.variance import variance_protocol

EVAL_FILE = "eval.json"
SUPPLIED = ("model", "dataset", "seed", "figures", "held_out")

PROTOCOLS: Registry = Registry("protocol", supplied=SUPPLIED)
PROTOCOLS.add("disentanglement", disentanglement, needs=("encodes", "factors"))
PROTOCOLS.add("lesions", lesions, needs=("encodes",))
PROTOCOLS.add("grouped", grouped, needs=("encodes", "factors"))
PROTOCOLS.add("shared_dimensions", shared_dimensions_protocol, needs=("encodes", "factors"))
PROTOCOLS.add("sparsity", sparsity)
PROTOCOLS.add("variance", variance_protocol, needs=("encodes", "factors"))


def protocol_options(name: str) -> type[BaseModel]:
    """The pydantic model of a protocol's options (its keyword arguments but the supplied ones)."""
    return PROTOCOLS.options(name)


def check_evaluate(specs: Sequence[Any], model_name: str | None = None) -> list[str]:
    """Problems of a run config's ``evaluate`` section, one indented line each (empty: none):
    unknown protocols, options they do not take, a protocol that needs an encoder on a model
    without one."""
    problems = []
    for i, spec in enumerate(specs):
        if spec.protocol not in PROTOCOLS:
            problems.append(f"  evaluate.{i}.protocol: unknown protocol {spec.protocol!r}; "
                            f"expected one of {sorted(PROTOCOLS)}")
            continue
        try:
            PROTOCOLS.validate(spec.protocol, spec.options)
        except ValidationError as err:
            problems.append(describe_errors(err, ("evaluate", i, "options")))
        needs = PROTOCOLS.entry(spec.protocol).needs
        if ("encodes" in needs and model_name in MODELS
                and "encodes" not in MODELS.entry(model_name).traits):
            problems.append(f"  evaluate.{i}.protocol: {spec.protocol!r} encodes images, and model "
                            f"{model_name!r} has no encoder")
    return problems


def _check_dataset(name: str, dataset) -> None:
    needs = PROTOCOLS.entry(name).needs
    for kind in ("factors", "labels"):
        if kind in needs and getattr(dataset, kind, None) is None:
            raise ValueError(f"protocol {name!r} needs a dataset with {kind}; "
                             f"{getattr(dataset, 'name', '') or 'this dataset'} has none")


def run_protocol(
    name: str,
    model: torch.nn.Module,
    dataset,
    *,
    seed: int = 0,
    figures: Path,
    held_out=None,
    options: dict[str, Any] | None = None,
) -> ProtocolResult:
    """Validate ``options`` against the protocol and call it."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; expected one of {sorted(PROTOCOLS)}")
    fn = PROTOCOLS[name]
    validated = PROTOCOLS.validate(name, options)
    _check_dataset(name, dataset)
    kwargs = {k: getattr(validated, k) for k in type(validated).model_fields}
    if "held_out" in inspect.signature(fn).parameters:
        kwargs["held_out"] = held_out
    return fn(model, dataset, seed=seed, figures=figures, **kwargs)


def read_evaluation(run_dir: Path | str) -> dict[str, Any]:
    """The run's eval.json as ``{protocol: section}``; an empty dict when it has none."""
    path = Path(run_dir) / EVAL_FILE
    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise ValueError(f"{path}: expected a mapping of protocol name to its scores")
    return values


def write_evaluation(run_dir: Path | str, name: str, result: ProtocolResult,
                     settings: dict[str, Any]) -> Path:
    """Put one protocol's section into run_dir/eval.json, keeping the other protocols' sections."""
    run_dir = Path(run_dir)
    sections = read_evaluation(run_dir)
    sections[name] = {"scores": result.scores, "settings": settings, "parameters": result.parameters,
                      **result.details}
    path = run_dir / EVAL_FILE
    atomic_write_text(path, json.dumps(sections, indent=2))
    return path


def evaluate_run(run, protocol: str = "disentanglement", split: str = "all", seed: int = 0,
                 options: dict[str, Any] | None = None) -> ProtocolResult:
    """Score a run with one protocol on the split it names and write its section of eval.json."""
    train_set, test_set = run.splits()
    datasets = {"all": run.dataset(), "train": train_set, "test": test_set}
    if split not in datasets:
        raise ValueError(f"split {split!r}: expected one of {sorted(datasets)}")
    result = run_protocol(protocol, run.model, datasets[split], seed=seed,
                          figures=run.dir / "figures", held_out=test_set if len(test_set) else None,
                          options=options)
    result.parameters.setdefault("split", split)
    # What training did to the images (flips, right-angle turns) bears on what the codes can carry.
    result.parameters.setdefault("training_augmentation", list(run.config.train.augment))
    settings = {"split": split, "seed": seed, "options": options or {}}
    write_evaluation(run.dir, protocol, result, settings)
    return result


def evaluated_as(run_dir: Path | str, protocol: str, split: str, seed: int,
                 options: dict[str, Any]) -> bool:
    """eval.json already holds this protocol computed with these settings."""
    section = read_evaluation(run_dir).get(protocol)
    return bool(section) and section.get("settings") == {"split": split, "seed": seed,
                                                        "options": options}


def format_scores(scores: dict[str, float]) -> str:
    """The scores as an aligned two-column text table."""
    width = max((len(k) for k in scores), default=5)
    lines = [f"{'metric':<{width}}  score", f"{'-' * width}  ------"]
    lines += [f"{k:<{width}}  {v:.4f}" for k, v in scores.items()]
    return "\n".join(lines)


__all__: Sequence[str] = [
    "EVAL_FILE", "PROTOCOLS", "ProtocolResult", "check_evaluate", "disentanglement", "evaluate_run",
    "evaluated_as", "format_scores",
    "protocol_options", "read_evaluation", "run_protocol", "write_evaluation",
]
