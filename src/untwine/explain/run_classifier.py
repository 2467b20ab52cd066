"""The one hook by which the report and the explorer find a run's latent classifier and explain it.

A run *has a classifier* when its directory holds both

    classifier.safetensors   the weights (never a pickle)
    classifier.yaml          kind: linear          # linear, mlp or resmlp (explain/classifiers.py)
                             classes: [square, ellipse, heart]
                             latent_dim: 10
                             options: {}           # latent_classifier's keyword arguments (width)

``untwine explain`` writes them (explain/session.py ``classifier_for``); ``find_classifier(run_dir)``
is the only place that decides whether a run has them, and ``load_classifier`` builds the module
(z [B, D] -> logits [B, K]) with ``explain.classifiers.latent_classifier``. Rationales come from
``untwine.explain.rationale`` through ``compute_rationale``; the report and the explorer implement no
rationale algorithm of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import torch
import yaml
from pydantic import Field, ValidationError
from torch import nn

from untwine.core.options import Strict
from untwine.explain.classifiers import Kind, latent_classifier
from untwine.explain.rationale import LatentRationale
from untwine.train.checkpoint import load_weights

CLASSIFIER_WEIGHTS = "classifier.safetensors"
CLASSIFIER_CONFIG = "classifier.yaml"


class ClassifierConfig(Strict):
    kind: str = Field(description="a name in CLASSIFIERS: linear, mlp or resmlp (explain/classifiers.py)")
    classes: list[str] = Field(min_length=2)
    latent_dim: int = Field(ge=1)
    options: dict[str, Any] = Field(default_factory=dict)


CLASSIFIERS: tuple[str, ...] = get_args(Kind)


def build_classifier(config: ClassifierConfig) -> nn.Module:
    """The untrained module a classifier.yaml describes."""
    return latent_classifier(config.kind, config.latent_dim, len(config.classes), **config.options)


@dataclass
class ClassifierFiles:
    weights: Path
    config: Path


@dataclass
class LatentClassifier:
    module: nn.Module  # z [B, D] -> logits [B, K], in eval mode
    config: ClassifierConfig

    @property
    def classes(self) -> list[str]:
        return self.config.classes

    @torch.inference_mode()
    def probabilities(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.module(z), dim=-1)


def find_classifier(run_dir: Path | str) -> ClassifierFiles | None:
    """The run's classifier files, or None when the run has no classifier."""
    run_dir = Path(run_dir)
    files = ClassifierFiles(run_dir / CLASSIFIER_WEIGHTS, run_dir / CLASSIFIER_CONFIG)
    return files if files.weights.is_file() and files.config.is_file() else None


def load_classifier_config(run_dir: Path | str) -> ClassifierConfig:
    """The run's classifier.yaml, validated; a ValueError naming the file when it does not validate."""
    path = Path(run_dir) / CLASSIFIER_CONFIG
    try:
        return ClassifierConfig.model_validate(yaml.safe_load(path.read_text()) or {})
    except (ValidationError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a valid classifier config ({err})") from err


def load_classifier(run_dir: Path | str, latent_dim: int | None = None) -> LatentClassifier | None:
    """The run's latent classifier in eval mode, or None. A config that does not validate, an unknown
    kind or a latent size other than the run's is a ValueError naming the file."""
    files = find_classifier(run_dir)
    if files is None:
        return None
    config = load_classifier_config(run_dir)
    if config.kind not in CLASSIFIERS:
        raise ValueError(f"{files.config}: unknown classifier kind {config.kind!r}; "
                         f"expected one of {sorted(CLASSIFIERS)}")
    if latent_dim is not None and config.latent_dim != latent_dim:
        raise ValueError(f"{files.config}: latent_dim {config.latent_dim} but the run's model has "
                         f"{latent_dim} latent dimensions")
    module = build_classifier(config)
    load_weights(module, files.weights)
    return LatentClassifier(module.eval(), config)


RationaleFn = Callable[..., Any]


def compute_rationale(
    model: nn.Module,
    classifier: LatentClassifier,
    images: torch.Tensor,
    target: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    rationale: RationaleFn | None = None,
) -> Any:
    """The rationale of ``images`` ([B, C, H, W] in [0, 1]) moved towards class ``target`` (None: away
    from the predicted class) through ``LatentRationale``, with ``rationale`` as its algorithm
    (default: the library's). The result has ``reconstruction``, ``counterfactual``, ``difference``,
    ``trajectory``, ``reached``, ``status`` and ``steps``; ``progress(step, total)`` is passed on when
    given."""
    explainer = LatentRationale(classifier.module, model, algorithm=rationale)
    return explainer.explain(images, towards=target, progress=progress)
