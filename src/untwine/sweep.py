"""``untwine sweep SWEEP.yaml``: many runs of one experiment, over a grid or a list of config values.

    name: betas                    # the sweep's folder: OUTPUT/NAME
    output: runs
    base: ../shapes/tcvae.yaml     # a run config (path relative to this file), or `config: {...}`
    grid:                          # every combination of these values...
      model.beta: [1, 6]
      seed: [0, 1]
    variants:                      # ...crossed with each of these override sets (optional)
      - {model.name: betatcvae}
      - {model.name: betavae}
    backend: local                 # local | ray
    processes: 1                   # local: runs at a time
    resources: {cpus: 1, gpus: 0}  # per run: torch threads, and Ray's request
    ray: {address: null}           # null: a Ray instance on this machine; or an existing cluster

Each run is a normal run directory, ``OUTPUT/NAME/<what varies>/seedS``, trained and evaluated by
``untwine run`` (so a finished run is skipped and an interrupted one resumes from its checkpoint),
which makes a sweep resumable: start it again and only the missing runs train. At the end the
sweep writes ``summary.csv`` and ``summary.parquet`` (one row per run: what varies, the seed, every
score) and prints ``untwine table`` over its folder.

Backends: ``local`` runs each run in a child process, ``processes`` at a time (no scheduler beyond
that); ``ray`` makes each run a Ray task with its CPU/GPU request, on a local Ray or the cluster at
``ray.address``.
"""

from __future__ import annotations

import csv
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator
from tqdm.auto import tqdm

from untwine.config import ConfigError, RunConfig, read_yaml
from untwine.core.options import Strict, apply_overrides, describe_errors
from untwine.experiment import validate_experiment

SUMMARY = "summary"


class RunFailedError(RuntimeError):
    """One run of a sweep failed; the message names the run and its log. Runs that finished are
    kept, so the same command carries on from where it stopped."""


class Resources(Strict):
    cpus: int = Field(1, ge=1, description="torch threads per run, and Ray's num_cpus")
    gpus: float = Field(0, ge=0, description="Ray's num_gpus per run")


class RayOptions(Strict):
    address: str | None = Field(None, description="an existing cluster (ray://host:10001 or auto)")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a Ray started here (default: all)")


class SweepConfig(Strict):
    name: str = Field(min_length=1)
    output: str = "runs"
    base: str | None = None
    config: dict[str, Any] | None = None
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    variants: list[dict[str, Any]] = Field(default_factory=list)
    backend: Literal["local", "ray"] = "local"
    processes: int = Field(1, ge=1)
    resources: Resources = Field(default_factory=Resources)
    ray: RayOptions = Field(default_factory=RayOptions)

    @model_validator(mode="after")
    def _one_base(self) -> SweepConfig:
        if (self.base is None) == (self.config is None):
            raise ValueError("give the run config to sweep as exactly one of `base` (a file) or `config`")
        empty = [key for key, values in self.grid.items() if not values]
        if empty:
            raise ValueError(f"grid keys with no values: {empty}")
        return self


def load_sweep(path: Path | str, overrides: list[str] | tuple[str, ...] = ()) -> SweepConfig:
    path = Path(path)
    values = apply_overrides(read_yaml(path), overrides)
    try:
        sweep = SweepConfig.model_validate(values)
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid sweep\n{describe_errors(err)}") from err
    if sweep.base is not None:
        base = (path.parent / sweep.base).resolve()
        sweep = sweep.model_copy(update={"base": None, "config": read_yaml(base)})
    return sweep


def _label(point: dict[str, Any]) -> str:
    """What varies, as a folder name: ``beta=1,name=betavae`` (the key's last part, unless two
    keys share it)."""
    tails = [key.rsplit(".", 1)[-1] for key in point]
    parts = [f"{tail if tails.count(tail) == 1 else key}={value}"
             for key, tail, value in zip(point, tails, point.values(), strict=True)]
    return ",".join(parts).replace("/", "_").replace(" ", "") or "base"


def expand(sweep: SweepConfig) -> list[tuple[dict[str, Any], RunConfig]]:
    """Every run of the sweep, as (the values that vary, its config); each validated up front, so a
    bad value in the last combination stops the sweep before the first run trains."""
    keys = list(sweep.grid)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*sweep.grid.values())]
    runs = []
    for variant in sweep.variants or [{}]:
        for point in points:
            varied = {**variant, **point}
            seed = varied.pop("seed", None)
            label = _label(varied)
            overrides = [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
                         for k, v in varied.items()]
            overrides += [f"name={sweep.name}/{label}", f"output={sweep.output}"]
            if seed is not None:
                overrides += [f"seed={seed}", "seeds=null"]
            values = apply_overrides(sweep.config or {}, overrides)
            config = validate_experiment(values, origin=f"sweep {sweep.name}, run {label}")
            seeds = config.per_seed() if seed is None else [
                config.model_copy(update={"name": f"{config.name}/seed{seed}"})]
            runs += [({**varied, "seed": one.seed}, one) for one in seeds]
    names = [config.name for _, config in runs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"sweep {sweep.name}: runs {repeated} appear twice; the grid repeats a value")
    return runs


def _done(config: RunConfig) -> bool:
    from untwine.protocols import evaluated_as
    from untwine.run import finished_as

    return finished_as(config) and all(
        evaluated_as(config.run_dir, e.protocol, e.split, e.seed, e.options) for e in config.evaluate)


def execute(config_path: str, threads: int) -> str:
    """Train and evaluate one run of a sweep (in a child process or a Ray worker)."""
    import torch

    from untwine.experiment import run_all

    torch.set_num_threads(threads)
    return str(run_all(config_path, progress=False)[0].dir)


def _die_with_parent() -> None:
    """Run in each child before it starts (Linux): a SIGKILL of the sweep kills its runs too, so a
    sweep started again never finds a run of the killed one still training."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _run_local(paths: list[Path], sweep: SweepConfig, bar: tqdm) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(sweep.resources.cpus)}
    waiting, running = list(paths), []

    def stop(signum, frame):  # noqa: ARG001
        for child in running:
            child.send_signal(signal.SIGTERM)  # each run keeps its last checkpoint
        for child in running:
            child.wait()
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while waiting or running:
            while waiting and len(running) < sweep.processes:
                path = waiting.pop(0)
                log = open(path.with_suffix(".log"), "w")  # noqa: SIM115 (closed by the child's exit)
                running.append(subprocess.Popen(
                    [sys.executable, "-m", "untwine.sweep", str(path), str(sweep.resources.cpus)],
                    stdout=log, stderr=subprocess.STDOUT, env=env,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None))
                log.close()
            time.sleep(0.2)
            for child in [c for c in running if c.poll() is not None]:
                running.remove(child)
                if child.returncode != 0:
                    failed = child.args[3]
                    raise RunFailedError(f"run {failed} failed (exit {child.returncode}); its log: "
                                         f"{Path(failed).with_suffix('.log')}")
                bar.update(1)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_ray(paths: list[Path], sweep: SweepConfig, bar: tqdm) -> None:
    try:
        import ray
    except ImportError as err:
        raise ConfigError("backend: ray needs Ray: pip install 'untwine[ray]'") from err
    started = not ray.is_initialized()
    if started:
        ray.init(address=sweep.ray.address, num_cpus=sweep.ray.num_cpus if sweep.ray.address is None
                 else None, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=sweep.resources.cpus, num_gpus=sweep.resources.gpus)(execute)
        pending = [task.remote(str(p), sweep.resources.cpus) for p in paths]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(finished)  # re-raises a run's error here, naming its task
            except ray.exceptions.RayError as err:  # its own traceback is in the worker's log
                cause = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
                raise RunFailedError(f"a run failed under Ray: {cause}") from err
            bar.update(len(finished))
    finally:
        if started:
            ray.shutdown()


def run_sweep(path: Path | str, overrides: list[str] | tuple[str, ...] = (),
              backend: str | None = None, progress: bool = True) -> Path:
    """Run every missing run of a sweep, then write its summary; returns the sweep's folder."""
    sweep = load_sweep(path, overrides)
    if backend is not None:
        sweep = sweep.model_copy(update={"backend": backend})
    runs = expand(sweep)
    folder = Path(sweep.output) / sweep.name
    configs = folder / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    pending = []
    for _, config in runs:
        if _done(config):
            print(f"skip {config.run_dir}: finished")
            continue
        file = configs / (config.name.removeprefix(f"{sweep.name}/").replace("/", "-") + ".yaml")
        file.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        pending.append(file)
    print(f"sweep {sweep.name}: {len(runs)} runs, {len(pending)} to train ({sweep.backend} backend)")
    with tqdm(total=len(pending), unit="run", disable=not progress, desc=sweep.name) as bar:
        if pending:
            (_run_ray if sweep.backend == "ray" else _run_local)(pending, sweep, bar)
    write_summary(folder, runs)
    return folder


def summary_rows(runs: list[tuple[dict[str, Any], RunConfig]]) -> list[dict[str, Any]]:
    """One row per run: its folder, what varies, the seed, and every score as protocol.score."""
    from untwine.protocols import read_evaluation

    rows = []
    for varied, config in runs:
        row: dict[str, Any] = {"run": config.name, **{k: v for k, v in varied.items()}}
        for protocol, section in read_evaluation(config.run_dir).items():
            row.update({f"{protocol}.{score}": value for score, value in section["scores"].items()})
        rows.append(row)
    return rows


def write_summary(folder: Path, runs: list[tuple[dict[str, Any], RunConfig]]) -> list[Path]:
    """summary.csv and summary.parquet in the sweep's folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from untwine.train.checkpoint import atomic_write

    rows = summary_rows(runs)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    rows = [{c: _scalar(row.get(c)) for c in columns} for row in rows]
    csv_path, parquet_path = folder / f"{SUMMARY}.csv", folder / f"{SUMMARY}.parquet"

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(csv_path, write_csv)
    atomic_write(parquet_path, lambda tmp: pq.write_table(pa.Table.from_pylist(rows), tmp))
    return [csv_path, parquet_path]


def _scalar(value: Any) -> Any:
    # Parquet wants one type per column; varied values like lists become their YAML text
    return value if value is None or isinstance(value, (bool, int, float, str)) else yaml.safe_dump(
        value, default_flow_style=True).strip()


if __name__ == "__main__":  # a sweep's own child process: the allocator setting the command has
    from untwine.train.fast import keep_freed_memory

    keep_freed_memory()
    execute(sys.argv[1], int(sys.argv[2]))
