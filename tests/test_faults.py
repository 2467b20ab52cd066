"""Faults at any moment: `untwine train`, `untwine run` over two configs and `untwine sweep` (local
backend) are killed with SIGKILL at seeded random moments, some of them inside a checkpoint write
(the atomic writer pauses there when UNTWINE_WRITE_PAUSE is set), and resumed each time with the same
command. At the end every run directory must equal an uninterrupted run's: weights, optimizer state,
RNG state, metrics.jsonl line for line, the TensorBoard scalars, eval.json; no temporary file is left.

Run with ``-s`` to see where each kill landed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from untwine.config import validate_config
from untwine.core.io import PAUSE_ENV, PAUSE_LOG_ENV, TEMPORARY_SUFFIX
from untwine.experiment import evaluate_as_configured
from untwine.run import load_run, train
from untwine.train.checkpoint import load_state, read_safetensors

EVALUATE = [{"protocol": "disentanglement", "options": {"metrics": ["mig"], "n": 200}}]
# log_every does not divide checkpoint_every: a checkpoint falls inside a logging window, so the
# window's running sums must be in the checkpoint for the first line after a resume to be right
RUN = {
    "seed": 0,
    "data": {"source": "shapes", "options": {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4,
                                            "size": 16}},
    "model": {"name": "betatcvae", "latent_dim": 3, "architecture": "mlp"},
    "train": {"steps": 40, "batch_size": 16, "lr": 1e-3, "log_every": 4, "checkpoint_every": 6,
              "device": "cpu"},
    "evaluate": EVALUATE,
}
BETAS = (1, 4)
KILLS = {"train": 4, "run": 3, "sweep": 3}  # at least this many kills land in each command
IN_WRITE_PAUSE = "0.2"  # seconds each write waits, renamed not yet, when a kill is aimed at it
MODES = ("write", "step", "time")  # what each command's kills aim at, in turn


def run_values(output: Path, name: str, beta: int) -> dict:
    return {**RUN, "name": name, "output": str(output), "model": {**RUN["model"], "beta": beta}}


@dataclass
class Kill:
    command: str
    aim: str  # "write k" or "at t s"
    landed: str  # what the run directories held right after it


def _run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("config.yaml") if "configs" not in p.parts)


def _where(root: Path) -> str:
    """Where a kill left the runs under ``root``: each run's checkpoint step, finished or scored,
    and the temporary files of an interrupted write."""
    parts = []
    for run in _run_dirs(root):
        state = run / "state.safetensors"
        step = load_state(state)["progress"]["step"] if state.exists() else "none"
        flags = [f for f, file in (("summary", "summary.json"), ("eval", "eval.json")) if (run / file).exists()]
        parts.append(f"{run.relative_to(root)}: checkpoint {step}{' +' + '+'.join(flags) if flags else ''}")
    orphans = [p.name for p in root.rglob(f"*{TEMPORARY_SUFFIX}")]
    return "; ".join(parts or ["no run directory yet"]) + (f"; orphan {orphans}" if orphans else "")


def _logged_lines(root: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in root.rglob("metrics.jsonl"))


def _kill_and_resume(command: list[str], root: Path, label: str, kills: int, rng: random.Random,
                     work: Path) -> list[Kill]:
    """Start ``command`` and SIGKILL it, ``kills`` times, then run it to the end; returns where each
    kill landed. Each kill is aimed at one of: the k-th atomic write of the process (paused inside
    it: temporary file written, not yet renamed), the moment its n-th new log line appears (inside
    training), or a random moment after its start (imports, training, figures, evaluation)."""
    landed: list[Kill] = []
    attempt = 0
    while len(landed) < kills:
        attempt += 1
        assert attempt <= 3 * kills, f"{label}: the command kept finishing before its kill"
        mode = MODES[len(landed) % len(MODES)]  # each command's kills: write, step, time, write, ...
        target, moment = rng.randint(1, 4), rng.uniform(0.2, 3.0)
        log = work / f"{label}-writes-{attempt}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if mode == "write":
            env |= {PAUSE_ENV: IN_WRITE_PAUSE, PAUSE_LOG_ENV: str(log)}
        lines = _logged_lines(root)
        with open(work / f"{label}-{attempt}.out", "w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        began = time.monotonic()
        aim = None
        while process.poll() is None and aim is None:
            if mode == "write":
                writes = log.read_text().splitlines() if log.exists() else []
                if len(writes) >= target:  # the writer is paused inside write number `target`
                    aim = f"in write {target} ({Path(writes[target - 1]).name})"
            elif mode == "step":
                if _logged_lines(root) >= lines + target:
                    aim = f"after log line {target}"
            elif time.monotonic() - began >= moment:
                aim = f"at {moment:.1f} s"
            time.sleep(0.005)
        if aim is None:  # it finished first: the kills so far count for nothing; start again
            assert process.returncode == 0, (work / f"{label}-{attempt}.out").read_text()
            shutil.rmtree(root)
            landed = []
            continue
        process.send_signal(signal.SIGKILL)  # the command alone: a sweep's runs must die with it
        process.wait()
        landed.append(Kill(label, aim, _where(root)))
    final = subprocess.run(command, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert final.returncode == 0, final.stdout + final.stderr
    assert not list(root.rglob(f"*{TEMPORARY_SUFFIX}")), "a temporary file survived the final run"
    return landed


def _scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """TensorBoard's view of tb/: every scalar tag's (step, value), after its purges."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds"}
    return value


def assert_same_run(run: Path, reference: Path) -> None:
    for name in ("model.safetensors", "state.safetensors"):
        a, b = read_safetensors(run / name), read_safetensors(reference / name)
        assert a.keys() == b.keys(), name
        for key in a:  # weights, Adam moments and steps, RNG states, the logging window's sums
            assert torch.equal(a[key], b[key]), f"{run / name}: {key}"
    state, expected = load_state(run / "state.safetensors"), load_state(reference / "state.safetensors")
    assert state["progress"]["step"] == expected["progress"]["step"]
    assert state["log_window"]["names"] == expected["log_window"]["names"]
    assert (run / "metrics.jsonl").read_text() == (reference / "metrics.jsonl").read_text()
    scalars = _scalars(run)
    assert scalars == _scalars(reference) and scalars["loss"], run
    ours, theirs = (json.loads((d / "eval.json").read_text()) for d in (run, reference))
    assert _without_timings(ours) == _without_timings(theirs)
    summary, expected_summary = (json.loads((d / "summary.json").read_text()) for d in (run, reference))
    assert summary["steps"] == expected_summary["steps"]
    assert summary["last_terms"] == expected_summary["last_terms"]


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[int, Path]:
    """The uninterrupted runs, trained here on one thread as the killed commands are."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        output = tmp_path_factory.mktemp("uninterrupted")
        runs = {}
        for beta in BETAS:
            run, _ = train(validate_config(run_values(output, f"b{beta}", beta)), progress=False)
            evaluate_as_configured(run)
            runs[beta] = run.dir
        return runs
    finally:
        torch.set_num_threads(threads)


def test_kills_at_random_moments_and_inside_writes_leave_runs_equal_to_uninterrupted_ones(
        tmp_path, references, capsys):
    rng = random.Random(18)
    cli = [sys.executable, "-m", "untwine.cli"]
    work = tmp_path / "work"
    work.mkdir()
    kills: list[Kill] = []

    # untwine train, then (once finished) untwine evaluate as the reference was
    trained = tmp_path / "train"
    config = tmp_path / "b1.yaml"
    config.write_text(yaml.safe_dump(run_values(trained, "b1", 1)))
    kills += _kill_and_resume([*cli, "train", str(config)], trained, "train", KILLS["train"], rng, work)
    evaluate_as_configured(load_run(trained / "b1"))
    assert_same_run(trained / "b1", references[1])

    # untwine run over a folder of two configs (train, then evaluate each)
    ran, folder = tmp_path / "run", tmp_path / "configs"
    folder.mkdir()
    for beta in BETAS:
        (folder / f"b{beta}.yaml").write_text(yaml.safe_dump(run_values(ran, f"b{beta}", beta)))
    kills += _kill_and_resume([*cli, "run", str(folder)], ran, "run", KILLS["run"], rng, work)
    for beta in BETAS:
        assert_same_run(ran / f"b{beta}", references[beta])

    # untwine sweep, local backend, one run at a time: the SIGKILL goes to the sweep alone
    swept = tmp_path / "sweep"
    sweep = tmp_path / "sweep.yaml"
    base = {k: v for k, v in run_values(swept, "x", 1).items() if k not in ("name", "output")}
    sweep.write_text(yaml.safe_dump({"name": "betas", "output": str(swept), "config": base,
                                     "grid": {"model.beta": list(BETAS), "seed": [0]}, "processes": 1}))
    kills += _kill_and_resume([*cli, "sweep", str(sweep)], swept, "sweep", KILLS["sweep"], rng, work)
    for beta in BETAS:
        assert_same_run(swept / "betas" / f"beta={beta}" / "seed0", references[beta])

    in_writes = [k for k in kills if k.aim.startswith("in write")]
    with capsys.disabled():
        print(f"\n{len(kills)} kills, {len(in_writes)} inside a write; every run equals its "
              "uninterrupted reference (weights, optimizer and RNG state, metrics.jsonl, TensorBoard "
              "scalars, eval.json)")
        for kill in kills:
            print(f"  {kill.command:<6} {kill.aim:<36} -> {kill.landed}")
    assert len(kills) >= 10 and len(in_writes) >= 3
