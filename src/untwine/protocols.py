"""Evaluation protocols: named ways of scoring a trained run, each a paper's table in code.

A protocol is a function ``fn(model, dataset, *, seed, figures, **options) -> ProtocolResult``:
``dataset`` is the split the run's evaluate section chose, ``figures`` the folder for its PNGs, and
its keyword options are validated from its signature, like a data source's. A protocol that also
needs the images training never saw declares a ``held_out`` argument and receives the test split.
``untwine evaluate RUN --protocol NAME`` and ``untwine run`` call them; each writes its section of
``eval.json``: ``{protocol: {"scores": ..., "parameters": ..., **details}}``.

Add a protocol with one function in its own file and one line in ``PROTOCOLS``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel

from untwine.explain.shared import shared_dimensions_protocol
from untwine.metrics.evaluate import DEFAULT_METRICS, evaluate, mi_heatmap
from untwine.metrics.grouped_protocol import grouped
from untwine.metrics.lesions import lesions
from untwine.metrics.result import ProtocolResult
from untwine.metrics.sparsity import sparsity
from untwine.metrics.unsupervised_protocol import unsupervised
from untwine.metrics.variance.report import variance_protocol
from untwine.train.checkpoint import atomic_write_text

EVAL_FILE = "eval.json"
SUPPLIED = ("model", "dataset", "seed", "figures", "held_out")


def disentanglement(
    model: torch.nn.Module,
    dataset,
    *,
    seed: int,
    figures: Path,
    metrics: tuple[Literal["mig", "dci", "sap", "modularity", "explicitness", "mic", "factorvae",
                           "betavae"], ...] = DEFAULT_METRICS,
    n: int = 10_000,
    dci_learner: Literal["hist", "gbt"] = "hist",
    mic_subset: list[int] | None = None,
) -> ProtocolResult:
    """The disentanglement_lib suite against the dataset's factors (metrics/evaluate.py), and the
    MI matrix heatmap as figures/mi_matrix.png."""
    result = evaluate(model, dataset, metrics=metrics, n=n, seed=seed, mic_subset=mic_subset,
                      dci_learner=dci_learner)
    figures.mkdir(parents=True, exist_ok=True)
    mi_heatmap(result.mutual_info, result.entropy, result.factor_names, figures / "mi_matrix.png")
    details = {
        "seconds": result.seconds,
        "mutual_info": {
            "unit": "nats",
            "layout": "[code dimension][factor]",
            "factors": result.factor_names,
            "matrix": result.mutual_info.tolist(),
            "factor_entropy": result.entropy.tolist(),
        },
    }
    return ProtocolResult(result.scores, result.parameters, details)


PROTOCOLS: dict[str, Callable[..., ProtocolResult]] = {
    "disentanglement": disentanglement,
    "lesions": lesions,
    "grouped": grouped,
    "shared_dimensions": shared_dimensions_protocol,
    "sparsity": sparsity,
    "variance": variance_protocol,
    "unsupervised": unsupervised,
}


@cache
def protocol_options(name: str) -> type[BaseModel]:
    """The pydantic model of a protocol's options (its keyword arguments but the supplied ones)."""
    from untwine.config import options_model

    return options_model(name, PROTOCOLS[name], exclude=SUPPLIED)


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
    validated = protocol_options(name).model_validate(options or {})
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
    "PROTOCOLS", "ProtocolResult", "disentanglement", "evaluate_run", "evaluated_as", "format_scores",
    "protocol_options", "read_evaluation", "run_protocol", "write_evaluation",
]
