"""untwine sweep: a grid of runs with the local and the Ray backend, resumable after a SIGTERM."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from untwine.cli import main
from untwine.config import ConfigError
from untwine.sweep import expand, load_sweep

RUN = {
    "name": "tiny",
    "data": {"source": "shapes", "options": {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4, "size": 32}},
    "model": {"name": "betatcvae", "latent_dim": 3},
    "train": {"steps": 6, "batch_size": 16, "log_every": 2, "checkpoint_every": 3, "device": "cpu"},
    "evaluate": [{"protocol": "disentanglement", "options": {"metrics": ["mig"], "n": 200}}],
}


def sweep_file(tmp_path: Path, output: Path, **changes) -> Path:
    values = {"name": "betas", "output": str(output), "config": RUN,
              "grid": {"model.beta": [1, 4], "seed": [0, 1]}, "processes": 2, **changes}
    path = tmp_path / f"sweep-{output.name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def read_summary(folder: Path) -> list[dict[str, str]]:
    with open(folder / "summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_local_and_ray_backends_give_the_same_summary(tmp_path, capsys):
    pytest.importorskip("ray")
    import pyarrow.parquet as pq

    assert main(["sweep", str(sweep_file(tmp_path, tmp_path / "local"))]) == 0
    ray_sweep = sweep_file(tmp_path, tmp_path / "ray", backend="ray", ray={"num_cpus": 2})
    assert main(["sweep", str(ray_sweep)]) == 0
    local, ray = read_summary(tmp_path / "local" / "betas"), read_summary(tmp_path / "ray" / "betas")
    assert len(local) == 4 and local == ray  # CPU training is deterministic, whichever backend ran it
    assert {(r["model.beta"], r["seed"]) for r in local} == {("1", "0"), ("1", "1"), ("4", "0"), ("4", "1")}
    for row in local:
        scores = json.loads((tmp_path / "local" / row["run"] / "eval.json").read_text())
        assert float(row["disentanglement.mig"]) == scores["disentanglement"]["scores"]["mig"]
    parquet = pq.read_table(tmp_path / "local" / "betas" / "summary.parquet").to_pylist()
    assert [r["disentanglement.mig"] for r in parquet] == [float(r["disentanglement.mig"]) for r in local]
    table = capsys.readouterr().out
    assert "betas/beta=1  2" in table and "betas/beta=4  2" in table


def test_a_sweep_killed_midway_finishes_only_the_missing_runs(tmp_path):
    slow = {**RUN, "train": {**RUN["train"], "steps": 60, "checkpoint_every": 5}}
    path = sweep_file(tmp_path, tmp_path / "runs", config=slow, processes=1)
    folder = tmp_path / "runs" / "betas"
    command = [sys.executable, "-m", "untwine.cli", "sweep", str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    deadline = time.monotonic() + 240
    while not list(folder.glob("*/seed*/eval.json")) and time.monotonic() < deadline:
        assert sweep.poll() is None, sweep.stdout.read()
        time.sleep(0.2)
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=60) == 128 + signal.SIGTERM
    finished = {p.parent for p in folder.glob("*/seed*/eval.json")}
    assert 1 <= len(finished) < 4

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skip ") == len(finished)
    assert f"4 runs, {4 - len(finished)} to train" in again.stdout
    rows = read_summary(folder)
    assert sorted(r["run"] for r in rows) == sorted(f"betas/beta={b}/seed{s}" for b in (1, 4) for s in (0, 1))
    for run in finished:  # the runs finished before the kill were not trained again
        assert json.loads((run / "summary.json").read_text())["resumed_from"] == 0


def test_sweep_errors_name_the_run_and_the_key(tmp_path):
    bad = sweep_file(tmp_path, tmp_path / "bad", grid={"model.beta": ["high"], "seed": [0]})
    with pytest.raises(ConfigError, match=r"run beta=high: invalid config\n  model.beta: Input should be") as err:
        expand(load_sweep(bad))
    assert "Extra inputs" not in str(err.value)
    with pytest.raises(ConfigError, match="appear twice"):
        expand(load_sweep(sweep_file(tmp_path, tmp_path / "twice", grid={"model.beta": [1, 1]})))
    with pytest.raises(ConfigError, match="grids?|processes"):
        load_sweep(sweep_file(tmp_path, tmp_path / "zero", processes=0))
    both = sweep_file(tmp_path, tmp_path / "both", base="run.yaml")
    with pytest.raises(ConfigError, match="exactly one of `base`"):
        load_sweep(both)
