"""Two tiny trained runs shared by the report and explorer tests (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from untwine.config import validate_config
from untwine.explain.run_classifier import (
    CLASSIFIER_CONFIG,
    CLASSIFIER_WEIGHTS,
    ClassifierConfig,
    build_classifier,
)
from untwine.protocols import evaluate_run
from untwine.run import load_run, train
from untwine.train.checkpoint import save_weights

SHAPES = {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4, "size": 32}
LATENT = 4


def _config(output: Path, name: str, beta: float) -> dict:
    return {
        "name": name, "seed": 0, "output": str(output),
        "data": {"source": "shapes", "options": SHAPES},
        "model": {"name": "betatcvae", "latent_dim": LATENT, "beta": beta},
        "train": {"steps": 6, "batch_size": 8, "lr": 1e-3, "log_every": 2, "checkpoint_every": 6,
                  "device": "cpu"},
    }


def tiny_runs(base: Path) -> tuple[Path, Path]:
    """(a, b): a beta-TCVAE with beta 1, scored and given a linear latent classifier over the three
    shapes; b the same with beta 4, neither scored nor with a classifier."""
    folder = base / "tiny-runs"
    a, b = folder / "beta1", folder / "beta4"
    if (a / "summary.json").exists() and (b / "summary.json").exists():
        return a, b
    for name, beta in (("beta1", 1.0), ("beta4", 4.0)):
        train(validate_config(_config(folder, name, beta)), progress=False)
    evaluate_run(load_run(a), "disentanglement", options={"metrics": ["mig", "sap"], "n": 200})
    config = ClassifierConfig(kind="linear", classes=["square", "ellipse", "heart"], latent_dim=LATENT)
    torch.manual_seed(0)
    save_weights(build_classifier(config), a / CLASSIFIER_WEIGHTS)
    (a / CLASSIFIER_CONFIG).write_text(yaml.safe_dump(config.model_dump()))
    return a, b
