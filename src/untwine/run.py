"""A run: a config, a run directory, a model. The contract between training and everything after it.

    runs/NAME/config.yaml          resolved config (seed, dataset shape, versions)
              model.safetensors    weights only
              state.safetensors    everything resume needs
              metrics.jsonl, tb/   every loss term by name
              summary.json         written last: the run finished
              figures/             traversal grid
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from untwine.config import (
    ConfigError,
    DataConfig,
    RunConfig,
    dump_config,
    read_yaml,
    validate_config,
)
from untwine.data import SOURCES
from untwine.data.imageset import ImageSet
from untwine.data.pairs import PairSet
from untwine.explain.traverse import save_traversal_figure
from untwine.models import MODELS, Model, ModelConfig
from untwine.models.wgan import save_samples_figure
from untwine.train.checkpoint import atomic_write_text, load_weights
from untwine.train.fit import WEIGHTS_FILE, FitResult, fit
from untwine.train.record import CONFIG_FILE, SUMMARY_FILE, versions, write_summary


def build_dataset(config: DataConfig):
    """The ImageSet a data section describes."""
    return SOURCES[config.source](**config.options)


def build_model(config: ModelConfig, **networks: torch.nn.Module) -> Model:
    """The model a config names, with what its registry entry needs that lives in other runs
    (``generator``: the trained WGAN of ``model.generator``) and the user's own ``networks``
    (``encoder``, ``decoder``) where its config says it was trained with them."""
    parts: dict[str, torch.nn.Module] = {k: v for k, v in networks.items() if v is not None}
    if "generator" in MODELS.entry(config.name).needs:
        parts["generator"] = load_run(config.generator).model
    return MODELS[config.name](config, **parts)


def resolve(config: RunConfig, dataset) -> RunConfig:
    """Fill what the model section leaves to the training data: channels, size and N for q(z)."""
    fill = {"channels": dataset.channels, "size": dataset.size}
    if "dataset_size" in type(config.model).model_fields:
        fill["dataset_size"] = len(dataset)
    model = config.model.model_copy(
        update={k: v for k, v in fill.items() if getattr(config.model, k) is None}
    )
    return config.model_copy(update={"model": model, "versions": versions()})


@dataclass
class Run:
    dir: Path
    config: RunConfig
    model: Model

    @property
    def finished(self) -> bool:
        return (self.dir / SUMMARY_FILE).exists()

    def dataset(self):
        return build_dataset(self.config.data)

    def splits(self):
        """(train, test) exactly as training split them."""
        return split_as_configured(self.dataset(), self.config)


def split_as_configured(dataset: ImageSet, config: RunConfig) -> tuple[ImageSet, ImageSet]:
    """(train, test) as a run config splits its data (no test split with test_fraction 0)."""
    data = config.data
    if data.test_fraction == 0:
        return dataset, dataset.subset([])
    return dataset.split(data.test_fraction, seed=config.seed if data.split_seed is None else data.split_seed)


def _same_experiment(old: RunConfig, new: RunConfig) -> bool:
    """Same run apart from versions and the step budget; model fields ``new`` leaves to the data
    (None until resolved) count as equal to what ``old`` resolved them to."""
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    b["model"] = {k: a["model"].get(k) if v is None else v for k, v in b["model"].items()}
    for values in (a, b):
        for key in ("versions", "evaluate", "seeds"):
            values.pop(key, None)
        values["train"].pop("steps")
    return a == b


def train(config: RunConfig, resume: bool = True, progress: bool = True) -> tuple[Run, FitResult]:
    """Train the run a config describes, resuming from its checkpoint if one exists."""
    run_dir = config.run_dir
    train_set, _ = split_as_configured(build_dataset(config.data), config)
    config = resolve(config, train_set)
    previous = run_dir / CONFIG_FILE
    if resume and previous.exists():
        old = validate_config(read_yaml(previous), origin=str(previous))
        if not _same_experiment(old, config):
            raise ConfigError(
                f"{run_dir} already holds a run with another config; give this run another name "
                f"(name=...) or remove {run_dir}"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(previous, dump_config(config))
    (run_dir / SUMMARY_FILE).unlink(missing_ok=True)
    torch.manual_seed(config.seed)
    model = build_model(config.model)
    if config.train.distributed:
        result = _fit_distributed(config, model, resume, progress)
    else:
        result = fit(model, _training_data(config, train_set), config.train, run_dir, seed=config.seed,
                     resume=resume, progress=progress, record=False)
    model.eval()
    if model.encodes:
        save_traversal_figure(model, train_set, run_dir / "figures" / "traversal.png")
    else:  # a generator alone (WGAN): what it draws from the prior
        save_samples_figure(model, run_dir / "figures" / "samples.png")
    write_summary(run_dir, result)
    return Run(run_dir, config, model), result


def _training_data(config: RunConfig, train_set: ImageSet) -> ImageSet | PairSet:
    """What fit() draws from: the training split, or pairs drawn inside it (so no pair crosses it)."""
    pairs = config.data.pairs
    return train_set if pairs is None else PairSet(train_set, pairs.by, pairs.k)


def _fit_rank(fabric, config: RunConfig, resume: bool, progress: bool) -> FitResult:
    """One DDP rank of ``train()``: the same data split and model (same seed) in every process."""
    train_set, _ = split_as_configured(build_dataset(config.data), config)
    torch.manual_seed(config.seed)
    return fit(build_model(config.model), _training_data(config, train_set), config.train, config.run_dir,
               seed=config.seed, resume=resume, progress=progress, fabric=fabric, record=False)


def _fit_distributed(config: RunConfig, model, resume: bool, progress: bool) -> FitResult:
    """Train on ``train.devices`` x ``train.num_nodes`` processes, then load rank 0's weights into
    ``model``, so the caller gets a trained model as from a single-process ``fit()``."""
    from untwine.train.distributed import make_fabric

    fabric = make_fabric(config.train, model)
    result = fabric.launch(_fit_rank, config, resume, progress)
    if fabric.global_rank != 0:
        # strategy ddp: this process is a copy of the command that Lightning started for one rank;
        # rank 0 (the original command) carries on alone
        raise SystemExit(0)
    load_weights(model, config.run_dir / WEIGHTS_FILE)
    return result


def load_run(path: Path | str, device: str | torch.device = "cpu", **networks: torch.nn.Module) -> Run:
    """A trained (or partly trained) run, with its model's weights loaded, in eval mode.

    A run trained with your own networks (``model.supplied_networks`` in its config.yaml) needs them
    back, untrained modules of the same shape: ``load_run(path, encoder=..., decoder=...)``.
    """
    run_dir = Path(path)
    config_path = run_dir / CONFIG_FILE
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir}: not a run directory ({CONFIG_FILE} missing)")
    config = validate_config(read_yaml(config_path), origin=str(config_path))
    try:
        model = build_model(config.model, **networks)
    except ValueError as err:
        raise ValueError(f"{config_path}: {err}") from err
    load_weights(model, run_dir / WEIGHTS_FILE)
    return Run(run_dir, config, model.to(device).eval())


def config_files(path: Path | str) -> list[Path]:
    """One YAML file, or every YAML file in a folder (sorted, recursively)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
        if not files:
            raise ConfigError(f"{path}: no .yaml config files in this folder")
        return files
    raise ConfigError(f"{path}: no such config file or folder")


def finished_as(config: RunConfig) -> bool:
    """The run directory holds a finished run of this config with at least as many steps."""
    previous = config.run_dir / CONFIG_FILE
    if not (config.run_dir / SUMMARY_FILE).exists() or not previous.exists():
        return False
    old = validate_config(read_yaml(previous), origin=str(previous))
    return old.train.steps >= config.train.steps and _same_experiment(old, config)


