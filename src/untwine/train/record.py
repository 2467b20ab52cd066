"""What makes a folder a run directory besides weights and logs: ``config.yaml`` (how to rebuild the
data and the model) and ``summary.json`` (written last: the run finished).

``untwine.run.train`` writes both from a validated config; ``fit()`` called from Python writes them
from what it was given (``run_record``), so ``untwine.load_run``, ``untwine evaluate``, ``explain``,
``report`` and ``serve`` open a run trained either way.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch
import yaml

from untwine.core.io import atomic_write_text
from untwine.core.version import __version__
from untwine.data.imageset import ImageSet
from untwine.data.saved import save_imageset
from untwine.models import MODELS
from untwine.train.config import TrainConfig

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
SAVED_DATA_FILE = "dataset.npz"


def versions() -> dict[str, str]:
    return {"untwine": __version__, "torch": str(torch.__version__), "python": platform.python_version()}


def data_section(dataset: Any, run_dir: Path) -> tuple[dict[str, Any], int | None] | None:
    """The ``data`` section that rebuilds ``dataset`` (an ImageSet or a PairSet) and the seed its
    split was drawn with: from the origin a registered source recorded, or else from a copy of the
    images saved in the run directory (which is then the whole training set). None for a dataset
    that is neither an ImageSet nor a PairSet of one."""
    imageset = getattr(dataset, "imageset", dataset)
    if not isinstance(imageset, ImageSet):
        return None
    origin = getattr(imageset, "origin", None)
    section: dict[str, Any]
    split_seed = None
    if origin is not None and origin.get("part", "train") == "train":
        section = {"source": origin["source"], "options": origin["options"],
                   "test_fraction": origin.get("test_fraction", 0.0)}
        split_seed = origin.get("split_seed")
    else:
        path = save_imageset(imageset, run_dir / SAVED_DATA_FILE)
        section = {"source": "saved", "options": {"path": str(path)}, "test_fraction": 0.0}
    if imageset is not dataset:  # a PairSet: pairs drawn inside the training split
        section["pairs"] = {"by": dataset.by, "k": dataset.k}
    return section, split_seed


def run_record(model: Any, dataset: Any, config: TrainConfig, run_dir: Path,
               seed: int) -> dict[str, Any] | None:
    """The config.yaml values of a run ``fit()`` trains from Python; None for a model no registry
    entry builds or data that is no ImageSet (nothing could rebuild them from a config)."""
    model_config = getattr(model, "config", None)
    name = getattr(model_config, "name", None)
    if name not in MODELS or not isinstance(model, MODELS[name]):
        return None
    described = data_section(dataset, run_dir)
    if described is None:
        return None
    data, split_seed = described
    if split_seed is not None and split_seed != seed:
        data["split_seed"] = split_seed
    return {
        "name": run_dir.name, "seed": seed, "output": str(run_dir.parent), "data": data,
        "model": model_config.model_dump(mode="json"), "train": config.model_dump(mode="json"),
        "versions": versions(),
    }


def write_record(values: dict[str, Any], run_dir: Path) -> None:
    atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(values, sort_keys=False))


def write_summary(run_dir: Path, result: Any) -> None:
    """summary.json, written last: the run finished (with its speed and last loss terms). Time and
    rate count every session of the run, so a resumed run reports its real speed."""
    summary = {"steps": result.steps, "resumed_from": result.resumed_from,
               "seconds": round(result.total_seconds, 2),
               "images_per_second": round(result.total_images_per_second, 1),
               "precision": result.precision, "cpu_bf16_features": result.cpu_bf16_features,
               "last_terms": result.last_terms}
    atomic_write_text(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
