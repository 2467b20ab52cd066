"""Run configuration: pydantic models loaded from YAML, with errors that name the key.

A run config has four sections (``data``, ``model``, ``train`` and the run's ``name``/``seed``).
The model section is validated against the config class of the model it names, and a data source's
``options`` against the source function's own signature, so a typo or a wrong type anywhere is an
error naming the key and what was expected, before any work is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SerializeAsAny, ValidationError

from untwine.core.options import Strict, apply_overrides, describe_errors  # noqa: F401  (re-exported)
from untwine.data import SOURCES
from untwine.models import MODELS, ModelConfig, model_config
from untwine.train.config import TrainConfig


class ConfigError(ValueError):
    """A config file or override that does not validate; the message names every bad key."""


class PairsConfig(Strict):
    """Train on pairs (weak supervision, untwine.data.pairs), drawn inside the training split."""

    by: Literal["factors", "groups"] = Field(description="factors: k factors re-drawn; groups: a subject")
    k: int | None = Field(1, ge=1, description="factors changed per pair; null: 1..d-1 at random")


class DataConfig(Strict):
    source: str = Field(description="a data source: a name in untwine.data.SOURCES")
    options: dict[str, Any] = Field(default_factory=dict, description="the source's arguments")
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    split_seed: int | None = Field(None, description="seed of the train/test split (null: the run's seed)")
    pairs: PairsConfig | None = None


class EvaluateConfig(Strict):
    """One evaluation protocol that ``untwine run`` applies to a run after training."""

    protocol: str = Field("disentanglement", description="a name in untwine.protocols.PROTOCOLS "
                          "(checked by untwine.experiment, which sits above the protocols)")
    split: Literal["all", "train", "test"] = Field(
        "all", description="the images to encode; 'all' is what disentanglement_lib scores"
    )
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict, description="the protocol's arguments")


class RunConfig(Strict):
    name: str = Field(min_length=1)
    seed: int = 0
    seeds: list[int] | None = Field(
        None, description="train one run per seed, in OUTPUT/NAME/seedS (untwine run and train)"
    )
    output: str = Field("runs", description="folder that holds the run directory")
    data: DataConfig
    model: SerializeAsAny[ModelConfig]
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: list[EvaluateConfig] = Field(default_factory=list)
    versions: dict[str, str] = Field(default_factory=dict, description="written by untwine")

    @property
    def run_dir(self) -> Path:
        return Path(self.output) / self.name

    def per_seed(self) -> list[RunConfig]:
        """The runs this config stands for: itself, or one per entry of ``seeds``."""
        if self.seeds is None:
            return [self]
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"{self.name}: seeds {self.seeds} repeat a seed")
        return [self.model_copy(update={"seed": s, "seeds": None, "name": f"{self.name}/seed{s}"})
                for s in self.seeds]


def validate_config(values: dict[str, Any], origin: str = "config") -> RunConfig:
    """Validate a config mapping; ``origin`` (a file name) starts every error message."""
    if not isinstance(values, dict):
        raise ConfigError(f"{origin}: expected a mapping of sections, got {type(values).__name__}")
    values = dict(values)
    problems: list[str] = []
    model_values = values.get("model")
    if isinstance(model_values, dict):
        try:
            values["model"] = model_config(model_values)
        except ValidationError as err:
            problems.append(describe_errors(err, ("model",)))
        except ValueError as err:
            problems.append(f"  model.name: {err}")
    model_failed = bool(problems)
    try:
        config = RunConfig.model_validate(values)
    except ValidationError as err:
        # the model section's own errors are reported above; the base ModelConfig's are noise
        rest = [e for e in err.errors() if not (model_failed and e["loc"][:1] == ("model",))]
        if rest:
            problems.append(describe_errors(ValidationError.from_exception_data(err.title, rest)))
        config = None
    if config is not None:
        source = config.data.source
        if source not in SOURCES:
            problems.append(f"  data.source: unknown source {source!r}; expected one of {SOURCES.names()}")
        else:
            try:
                SOURCES.validate(source, config.data.options)
            except ValidationError as err:
                problems.append(describe_errors(err, ("data", "options")))
        if not model_failed:
            problems += _check_model_needs(config)
    if problems:
        raise ConfigError(f"{origin}: invalid config\n" + "\n".join(problems))
    assert config is not None
    return config


def _check_model_needs(config: RunConfig) -> list[str]:
    """What the model's registry entry needs that the rest of the config must provide."""
    needs = MODELS.entry(config.model.name).needs
    if "pairs" in needs and config.data.pairs is None:
        return [f"  data.pairs: model {config.model.name!r} trains on pairs of images; add a "
                "data.pairs section (by: factors or groups)"]
    return []


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    return values if values is not None else {}


def load_config(path: Path | str, overrides: Sequence[str] = ()) -> RunConfig:
    path = Path(path)
    return validate_config(apply_overrides(read_yaml(path), overrides), origin=str(path))


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
