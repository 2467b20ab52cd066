"""A run: a config, a run directory, a model. The contract between training and everything after it.

    runs/NAME/config.yaml          resolved config (seed, dataset shape, versions)
              model.safetensors    weights only
              state.safetensors    everything resume needs
              metrics.jsonl, tb/   every loss term by name
              summary.json         written last: the run finished
              figures/             traversal grid
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
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

LOCK_FILE = ".lock"


class RunBusyError(ValueError):
    """Another process holds the run directory's lock."""


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
    """Same run apart from versions, the step budget and where it is (``output``/``name``: a run is
    its directory, so a moved or copied one is the same run); model fields ``new`` leaves to the data
    (None until resolved) count as equal to what ``old`` resolved them to."""
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    b["model"] = {k: a["model"].get(k) if v is None else v for k, v in b["model"].items()}
    for values in (a, b):
        for key in ("versions", "evaluate", "seeds", "output", "name"):
            values.pop(key, None)
        values["train"].pop("steps")
    return a == b


def read_summary(run_dir: Path) -> dict | None:
    """The run's summary.json (written when training finished), or None when there is none."""
    path = run_dir / SUMMARY_FILE
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a mapping, got {type(summary).__name__}")
    return summary


def train(config: RunConfig, resume: bool = True, progress: bool = True,
          run_dir: Path | str | None = None) -> tuple[Run, FitResult | None]:
    """Train the run a config describes in ``run_dir`` (default: the config's ``output``/``name``),
    resuming from its checkpoint if one exists.

    A run is its directory: ``untwine train --resume RUN`` passes RUN, so a moved or copied run trains
    where it now is. A finished run asked for no more steps than it has is left exactly as it is
    (the result is then None); asked for more, it resumes from its checkpoint and extends.
    """
    run_dir = config.run_dir if run_dir is None else Path(run_dir)
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
        summary = read_summary(run_dir)
        if summary is not None and summary.get("steps", -1) >= config.train.steps:
            print(f"{run_dir}: finished at {summary['steps']} steps; nothing to do, nothing changed "
                  f"(train.steps={summary['steps'] + 1} or more would extend it)")
            return load_run(run_dir), None
    run_dir.mkdir(parents=True, exist_ok=True)
    # under DDP with strategy ddp every rank re-runs this command: only one could take the lock
    with contextlib.nullcontext() if config.train.distributed else run_lock(run_dir):
        atomic_write_text(previous, dump_config(config))
        (run_dir / SUMMARY_FILE).unlink(missing_ok=True)
        torch.manual_seed(config.seed)
        model = build_model(config.model)
        if config.train.distributed:
            result = _fit_distributed(config, model, resume, progress, run_dir)
        else:
            result = fit(model, _training_data(config, train_set), config.train, run_dir,
                         seed=config.seed, resume=resume, progress=progress, record=False)
        model.eval()
        if model.encodes:
            save_traversal_figure(model, train_set, run_dir / "figures" / "traversal.png")
        else:  # a generator alone (WGAN): what it draws from the prior
            save_samples_figure(model, run_dir / "figures" / "samples.png")
        write_summary(run_dir, result)
    return Run(run_dir, config, model), result


@contextlib.contextmanager
def run_lock(run_dir: Path, wait: float = 10.0) -> Iterator[None]:
    """Hold ``RUN/.lock`` while training, so that two processes never train one run directory at
    once (e.g. a sweep started again while a killed sweep's run is still exiting). The lock goes with
    the process: a killed run leaves nothing to clean up."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(run_dir / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise RunBusyError(f"{run_dir}: another process (pid {holder}) is training this "
                                       "run; wait for it to end or stop it") from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _training_data(config: RunConfig, train_set: ImageSet) -> ImageSet | PairSet:
    """What fit() draws from: the training split, or pairs drawn inside it (so no pair crosses it)."""
    pairs = config.data.pairs
    return train_set if pairs is None else PairSet(train_set, pairs.by, pairs.k)


def _fit_rank(fabric, config: RunConfig, resume: bool, progress: bool, run_dir: Path) -> FitResult:
    """One DDP rank of ``train()``: the same data split and model (same seed) in every process."""
    train_set, _ = split_as_configured(build_dataset(config.data), config)
    torch.manual_seed(config.seed)
    return fit(build_model(config.model), _training_data(config, train_set), config.train, run_dir,
               seed=config.seed, resume=resume, progress=progress, fabric=fabric, record=False)


def _fit_distributed(config: RunConfig, model, resume: bool, progress: bool, run_dir: Path) -> FitResult:
    """Train on ``train.devices`` x ``train.num_nodes`` processes, then load rank 0's weights into
    ``model``, so the caller gets a trained model as from a single-process ``fit()``."""
    from untwine.train.distributed import make_fabric

    fabric = make_fabric(config.train, model)
    result = fabric.launch(_fit_rank, config, resume, progress, run_dir)
    if fabric.global_rank != 0:
        # strategy ddp: this process is a copy of the command that Lightning started for one rank;
        # rank 0 (the original command) carries on alone
        raise SystemExit(0)
    load_weights(model, run_dir / WEIGHTS_FILE)
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
    summary = read_summary(config.run_dir)
    if summary is None or not previous.exists():
        return False
    old = validate_config(read_yaml(previous), origin=str(previous))
    return summary.get("steps", -1) >= config.train.steps and _same_experiment(old, config)


