"""What every training-throughput driver shares (stdlib, numpy and torch only: it also runs inside
the peers' venvs, which have no untwine).

A driver trains one contender for ``warmup + steps`` steps in its own process and prints one line
``RESULT {json}``. Images/s is measured from the end of the last warm-up step to the end of the last
step, so data, forward, backward, optimizer and any per-step framework work are all inside the window.
Every record carries ``foreign_cpu_frac``, the share of the machine's cores that *other* processes used
meanwhile: on 2 cores one busy neighbour slows a run several-fold, so such runs are dropped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

BATCH = 64
LATENT = 10
LR = 1e-4
BETA = 6.0  # beta-TCVAE's weight on the total correlation; alpha = gamma = 1 everywhere


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--images", required=True, help=".npy uint8 [N, 1, 64, 64] in {0, 1}")
    p.add_argument("--dataset-size", type=int, required=True, help="N of the training set, for q(z)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    return p


def setup(args: argparse.Namespace) -> np.ndarray:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = np.load(args.images)
    need = BATCH * (args.warmup + args.steps)
    if len(images) < need:
        raise SystemExit(f"{args.images} holds {len(images)} images; this run needs {need}")
    return images


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent outside idle since boot (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def time_steps(step: Callable[[int], object], warmup: int, steps: int) -> dict:
    """Runs ``step(i)`` for i in 0..warmup+steps-1 and measures the steps after the warm-up."""
    t0 = time.perf_counter()
    for i in range(warmup):
        step(i)
    wall, cpu, busy = time.perf_counter(), time.process_time(), _busy_seconds()
    ends = []
    for i in range(warmup, warmup + steps):
        step(i)
        ends.append(time.perf_counter())
    elapsed = ends[-1] - wall
    own = time.process_time() - cpu
    foreign = foreign_cpu(busy, cpu, elapsed)
    per_step = np.diff([wall, *ends])
    return {
        "img_per_s": round(steps * BATCH / elapsed, 1),
        "ms_per_step_median": round(float(np.median(per_step)) * 1e3, 2),
        "cpu_ms_per_step": round(own / steps * 1e3, 2),
        "foreign_cpu_frac": round(foreign, 3),
        "warmup_s": round(wall - t0, 2),
        "steps_timed": steps,
    }


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """What every contender does with its loss: zero_grad, backward, step, and read the value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    loss.item()


def mss_log_weights(batch: int, dataset_size: int) -> torch.Tensor:
    """log w_ij of minibatch stratified sampling (Chen et al. 2018), as untwine writes it."""
    others = batch - 1
    rows = torch.arange(batch)
    w = torch.full((batch, batch), 1.0 / others)
    w[rows, (rows + 1) % batch] = (dataset_size - others) / (dataset_size * others)
    w[rows, rows] = 1.0 / dataset_size
    return w.log()


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mean).square() * torch.exp(-logvar))


def peak_rss_mb() -> float:
    """This process's peak resident memory. /proc's VmHWM starts afresh at exec; getrusage's
    ru_maxrss does not (Linux keeps the maximum of the process before exec: a driver started by a
    benchmark that held 650 MB reported 650 MB whatever it used)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def foreign_cpu(start_busy: float, start_cpu: float, elapsed: float) -> float:
    """The share of the machine's cores other processes used since ``start_busy`` (machine busy
    seconds) and ``start_cpu`` (this process's CPU seconds), over ``elapsed`` wall seconds."""
    own = time.process_time() - start_cpu
    return max(_busy_seconds() - start_busy - own, 0.0) / (elapsed * (os.cpu_count() or 1))


def emit(record: dict) -> None:
    record = {
        **record,
        "peak_rss_mb": peak_rss_mb(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "venv": os.path.basename(sys.prefix),
    }
    print("RESULT " + json.dumps(record, sort_keys=True), flush=True)


def matmul_gflops(threads: int, dtype: torch.dtype, size: int = 2048, repeats: int = 5,
                  wait: Callable[[float], None] | None = None) -> float:
    """Best of three timings of a size x size matrix product in ``dtype``, in GFLOP/s: the ceiling
    a training step's FLOPs are measured against (``wait(10)`` before each timing, if given)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(3):
        if wait is not None:
            wait(10)
        t = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - t) / repeats)
    return 2 * size**3 / best / 1e9
