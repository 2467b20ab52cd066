"""Run configuration: pydantic models loaded from YAML, with errors that name the key.

A run config has four sections (``data``, ``model``, ``train`` and the run's ``name``/``seed``).
The model section is validated against the config class of the model it names, and a data source's
``options`` against the source function's own signature, so a typo or a wrong type anywhere is an
error naming the key and what was expected, before any work is done.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from untwine.models import ModelConfig, model_config


class ConfigError(ValueError):
    """A config file or override that does not validate; the message names every bad key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairsConfig(_Strict):
    """Train on pairs (weak supervision, untwine.data.pairs), drawn inside the training split."""

    by: Literal["factors", "groups"] = Field(description="factors: k factors re-drawn; groups: a subject")
    k: int | None = Field(1, ge=1, description="factors changed per pair; null: 1..d-1 at random")


class DataConfig(_Strict):
    source: str = Field(description="a data source: shapes, dsprites, medmnist, mnist, folder, digits")
    options: dict[str, Any] = Field(default_factory=dict, description="the source's arguments")
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    pairs: PairsConfig | None = None


class TrainConfig(_Strict):
    steps: int = Field(10_000, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-4, gt=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA, fp32 on CPU"
    )
    augment: list[Literal["hflip", "vflip", "rot90"]] = Field(
        default_factory=list, description="per-image flips / right-angle rotations (data/augment.py)"
    )
    data_on_device: Literal["auto", "yes", "no"] = Field(
        "auto", description="hold the whole uint8 training set on the device (auto: on CUDA when it "
        "takes under half the free memory), so a batch is an index, not a host-to-device copy"
    )
    memory_format: Literal["auto", "channels_last", "contiguous"] = Field(
        "auto", description="auto: channels_last on CUDA (tensor-core convolutions), contiguous on CPU"
    )
    compile: bool = Field(False, description="torch.compile each of the model's networks in place")
    devices: int = Field(
        1, ge=1, description="processes (one per device) training this one run with DDP; "
        "batch_size is per process; with device cpu they are gloo CPU processes"
    )
    strategy: Literal["auto", "ddp", "ddp_spawn"] = Field(
        "auto", description="how devices > 1 start: ddp_spawn (auto) or ddp (re-runs the command)"
    )
    num_nodes: int = Field(1, ge=1, description="machines, each running `devices` processes")
    log_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(1000, ge=1)

    @field_validator("devices")
    @classmethod
    def _one_device_kind(cls, devices: int, info: ValidationInfo) -> int:
        device = info.data.get("device", "auto")
        if devices > 1 and device not in ("auto", "cpu", "cuda", "gpu"):
            raise ValueError(
                f"devices={devices} runs one process per device, so train.device must name a kind "
                f"(auto, cpu, cuda), not the single device {device!r}"
            )
        return devices

    @property
    def distributed(self) -> bool:
        """More than one process trains this run (Lightning Fabric, DDP)."""
        return self.devices > 1 or self.num_nodes > 1


class EvaluateConfig(_Strict):
    """One evaluation protocol that ``untwine run`` applies to a run after training."""

    protocol: str = Field("disentanglement", description="a name in untwine.protocols.PROTOCOLS")
    split: Literal["all", "train", "test"] = Field(
        "all", description="the images to encode; 'all' is what disentanglement_lib scores"
    )
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict, description="the protocol's arguments")


class RunConfig(_Strict):
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


SOURCE_NAMES = ("shapes", "dsprites", "medmnist", "mnist", "folder", "digits", "squares", "blobs", "nodules",
                "ph2", "isic", "volumes", "longitudinal")


def data_sources() -> dict[str, Callable[..., Any]]:
    """The data sources a config may name, by name (imported on first use)."""
    from untwine import data

    return {name: getattr(data, name) for name in SOURCE_NAMES}


def describe_errors(err: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in (*prefix, *item["loc"]))
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {key}: {item['msg']}{shown}")
    return "\n".join(lines)


def options_model(
    label: str, fn: Callable[..., Any], exclude: Sequence[str] = ()
) -> type[BaseModel]:
    """A pydantic model of a function's keyword arguments (a data source's, a protocol's), from its
    signature and type hints; ``exclude`` names arguments the caller supplies itself."""
    hints = typing.get_type_hints(fn)
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
        sources = data_sources()
        if source not in sources:
            problems.append(f"  data.source: unknown source {source!r}; expected one of {sorted(sources)}")
        else:
            try:
                options_model(source, sources[source]).model_validate(config.data.options)
            except ValidationError as err:
                problems.append(describe_errors(err, ("data", "options")))
        problems += _check_protocols(config.evaluate)
    if problems:
        raise ConfigError(f"{origin}: invalid config\n" + "\n".join(problems))
    assert config is not None
    return config


def _check_protocols(specs: Sequence[EvaluateConfig]) -> list[str]:
    from untwine.protocols import PROTOCOLS, protocol_options

    problems = []
    for i, spec in enumerate(specs):
        if spec.protocol not in PROTOCOLS:
            problems.append(f"  evaluate.{i}.protocol: unknown protocol {spec.protocol!r}; "
                            f"expected one of {sorted(PROTOCOLS)}")
            continue
        try:
            protocol_options(spec.protocol).model_validate(spec.options)
        except ValidationError as err:
            problems.append(describe_errors(err, ("evaluate", i, "options")))
    return problems


def apply_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are parsed as YAML (``6`` is an int, ``a`` a str)."""
    values = yaml.safe_load(yaml.safe_dump(values))  # a deep copy
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected KEY.PATH=VALUE, e.g. model.beta=6")
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[leaf] = yaml.safe_load(raw)
    return values


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
