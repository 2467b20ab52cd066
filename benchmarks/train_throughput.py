"""Training throughput of beta-TCVAE, conv64, batch 64, 2 CPU threads: untwine (fp32, and bf16 where
the CPU computes it natively) beside pythae, disent and a plain-PyTorch floor, on the same
764,245-parameter network and the same images; then untwine's evaluation speed.

    python benchmarks/train_throughput.py            # 3 interleaved repetitions, 60 timed steps each
    python benchmarks/train_throughput.py --quick    # 1 repetition, 20 timed steps
    python benchmarks/train_throughput.py --reps 5 --steps 120 --with-fit

The peers' venvs are built under .bench-venvs/ on first use (benchmarks/peer_venvs.py). Each run is
its own process; repetitions are interleaved (every contender once per repetition, in a rotating
order) so that drift in the machine's speed hits all alike, and each run waits briefly for a quiet
machine. Runs during which other processes used more than --max-foreign of the cores are dropped
from the summary (they are still printed). The images are the first batches untwine's sampler draws
from the full ``shapes`` grid (737,280 images), written once to a .npy that every contender reads.

The allocator, both ways, every time: untwine's process sets glibc's malloc thresholds
(untwine.train.fast.keep_freed_memory, as fit() does with train.allocator keep_freed and the untwine
command always). Each peer and the floor run twice per repetition: as users run them (glibc's default)
and "+ same allocator", with the same thresholds through glibc's environment variables. The ratio
against the latter is the network's and the step's own.

"untwine bf16" runs the networks under bf16 autocast (train.precision: bf16, which ``auto`` picks on
CPUs with AVX512-BF16, AMX or Arm BF16; fp32 weights, optimizer and loss terms). It runs where the CPU
has native bf16, or everywhere with ``--bf16``; its ratios are against the peers' fp32.

Besides images/s the summary gives the ceiling: FLOPs per image of untwine's training step
(torch.utils.flop_counter), the GFLOP/s that makes at the median rate, and its fraction of this
machine's matrix-product rate (a 2048 x 2048 torch.mm on the same threads; fp32 and bf16), and each
contender's peak resident memory. Last, the evaluation that follows every experiment run: encode
10,000 + 5,000 images and the default metric suite, timed end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peer_venvs  # noqa: E402
import throughput_common as common  # noqa: E402

from untwine.train.precision import cpu_bf16_features  # noqa: E402

PEERS = ("pythae", "disent")


FLOOR = "plain torch (floor)"
SAME = " + same allocator"


def contenders(args: argparse.Namespace, images: Path, n: int) -> dict[str, tuple[list[str], dict | None]]:
    """Name -> (command line of one run, environment additions)."""
    shared = ["--warmup", str(args.warmup), "--steps", str(args.steps), "--threads", str(args.threads)]
    data = ["--images", str(images), "--dataset-size", str(n)]
    untwine = [sys.executable, str(HERE / "bench_untwine.py"), *shared]
    runs: dict[str, tuple[list[str], dict | None]] = {"untwine": (untwine, None)}
    if args.bf16:
        runs["untwine bf16"] = ([*untwine, "--precision", "bf16"], None)
    others = {FLOOR: [sys.executable, str(HERE / "peer_torch.py"), *data, *shared]}
    for peer in PEERS:
        if peer not in args.skip:
            others[peer] = [str(peer_venvs.ensure(peer)), str(HERE / f"peer_{peer}.py"), *data, *shared]
    for name, command in others.items():
        runs[name] = (command, None)
        runs[name + SAME] = (command, SAME_ALLOCATOR)
    if args.with_fit:
        runs["untwine fit()"] = ([*untwine, "--loop", "fit"], None)
    return runs


def draw_images(path: Path, batches: int, seed: int) -> int:
    """Writes the first ``batches`` batches untwine's sampler draws from shapes(); returns N."""
    from untwine.data import shapes

    data = shapes()
    sampler = data.sampler(common.BATCH, seed)
    rows = [data.load(sampler.indices(i)).images for i in range(batches)]
    np.save(path, (torch.cat(rows) > 0.5).to(torch.uint8).numpy())
    return len(data)


def flops_per_image() -> float:
    """FLOPs of one training step of untwine's beta-TCVAE (forward and backward), per image."""
    from torch.utils.flop_counter import FlopCounterMode

    from untwine.data.batch import Batch
    from untwine.models import BetaTCVAE, BetaTCVAEConfig

    model = BetaTCVAE(BetaTCVAEConfig(channels=1, size=64, dataset_size=737_280))
    x = (torch.rand(common.BATCH, 1, 64, 64) < 0.5).float()
    with FlopCounterMode(display=False) as counter:
        model.objective(Batch(images=x, index=torch.arange(common.BATCH)))["loss"].backward()
    return counter.get_total_flops() / common.BATCH


def _wait_quiet(timeout: float, max_busy: float = 0.1) -> None:
    """Waits (at most ``timeout`` s) until other processes use less than ``max_busy`` of the cores."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        busy0, t0 = common._busy_seconds(), time.monotonic()
        time.sleep(0.5)
        if (common._busy_seconds() - busy0) / ((time.monotonic() - t0) * (os.cpu_count() or 1)) < max_busy:
            return


# glibc's environment tunables with the values of untwine.train.fast.keep_freed_memory()
SAME_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def run_once(command: list[str], quiet_timeout: float, env: dict[str, str] | None) -> dict:
    _wait_quiet(quiet_timeout)
    proc = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, **env} if env else None)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{command[1]} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _spread(values: list[float], fmt: str = "{:.0f}") -> str:
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def summarize(records: list[dict], args: argparse.Namespace, flops: float,
              ceiling: dict[str, float]) -> None:
    print(f"\nbeta-TCVAE, conv64 (764,245 parameters), batch {common.BATCH}, {args.threads} threads; "
          f"{args.steps} timed steps after {args.warmup} warm-up, runs with foreign CPU <= "
          f"{args.max_foreign} kept; CPU bf16 features: {', '.join(cpu_bf16_features()) or 'none'}")
    print(f"training step: {flops / 1e6:.1f} MFLOP per image; 2048^3 matmul: fp32 (sgemm) "
          f"{ceiling['fp32']:.0f} GFLOP/s, bf16 {ceiling['bf16']:.0f} GFLOP/s\n")
    names = list(dict.fromkeys(r["contender"] for r in records))
    quiet = [r for r in records if r.get("foreign_cpu_frac", 0.0) <= args.max_foreign]
    header = (f"{'contender':36s} {'img/s median [min-max]':>24s} {'runs':>6s} {'GFLOP/s':>8s} "
              f"{'of fp32':>8s} {'of bf16':>8s} {'peak RSS MB':>12s}")
    print(header)
    print("-" * len(header))
    for name in names:
        mine = [r for r in quiet if r["contender"] == name]
        rates = [r["img_per_s"] for r in mine]
        total = sum(r["contender"] == name for r in records)
        if rates:
            gflops = statistics.median(rates) * flops / 1e9
            rss = max(r.get("peak_rss_mb", 0.0) for r in mine)
            print(f"{name:36s} {_spread(rates):>24s} {len(rates):>3d}/{total:<2d} {gflops:8.1f} "
                  f"{gflops / ceiling['fp32']:8.0%} {gflops / ceiling['bf16']:8.0%} {rss:12.0f}")
        else:
            print(f"{name:36s} {'no quiet run':>24s} {0:>3d}/{total:<2d}")
    # ratios paired within a repetition, so that drift between repetitions cancels
    by_rep: dict[int, dict[str, float]] = {}
    for r in quiet:
        by_rep.setdefault(r["rep"], {})[r["contender"]] = r["img_per_s"]
    print()
    for ours in ("untwine", "untwine bf16"):
        for suffix, how in (("", "peers as users run them (glibc malloc)"),
                            (SAME, "peers with untwine's allocator")):
            for other in ("faster peer", FLOOR, *PEERS):
                ratios = []
                for rates in by_rep.values():
                    peers = [rates[p + suffix] for p in PEERS if p + suffix in rates]
                    base = max(peers) if other == "faster peer" and peers else rates.get(other + suffix)
                    if ours in rates and base:
                        ratios.append(rates[ours] / base)
                if ratios:
                    print(f"{ours:13s} / {other:20s} {_spread(ratios, '{:.2f}'):>18s}  "
                          f"({len(ratios)} reps; {how})")


def evaluation(args: argparse.Namespace) -> None:
    command = [sys.executable, str(HERE / "bench_untwine.py"), "--loop", "eval", "--steps", "200",
               "--threads", str(args.threads)]
    record = run_once(command, args.quiet_timeout, None)
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in record["seconds_by_part"].items())
    print(f"\nevaluation after a run (untwine.protocols.disentanglement.evaluate, 10,000 + 5,000 "
          f"images of the grid, {args.threads} threads): {record['eval_seconds']:.1f} s end to end "
          f"(foreign CPU {record['foreign_cpu_frac']:.2f}); {parts}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="1 repetition of 20 timed steps")
    p.add_argument("--with-fit", action="store_true", help="also time untwine's fit() end to end")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="also time untwine in bf16 (default: where the CPU has native bf16)")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation timing")
    p.add_argument("--skip", nargs="*", default=[], choices=PEERS, help="peers to leave out")
    p.add_argument("--max-foreign", type=float, default=0.1)
    p.add_argument("--quiet-timeout", type=float, default=20.0,
                   help="seconds to wait for a quiet machine before each run")
    p.add_argument("--out", type=Path, default=None, help="append every record to this JSONL file")
    args = p.parse_args()
    if args.quick:
        args.reps, args.steps = 1, 20
    if args.bf16 is None:
        args.bf16 = bool(cpu_bf16_features())

    records: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images.npy"
        n = draw_images(images, args.warmup + args.steps, seed=0)
        runs = contenders(args, images, n)
        names = list(runs)
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[: rep % len(names)]
            for name in order:
                command, env = runs[name]
                record = {**run_once(command, args.quiet_timeout, env), "contender": name, "rep": rep}
                records.append(record)
                print(f"rep {rep + 1}/{args.reps} {name:22s} {record['img_per_s']:7.1f} img/s  "
                      f"foreign CPU {record.get('foreign_cpu_frac', float('nan')):.2f}", flush=True)
                if args.out:
                    with args.out.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(record, sort_keys=True) + "\n")
    ceiling = {"fp32": common.matmul_gflops(args.threads, torch.float32, wait=_wait_quiet),
               "bf16": common.matmul_gflops(args.threads, torch.bfloat16, wait=_wait_quiet)}
    summarize(records, args, flops_per_image(), ceiling)
    if not args.no_eval:
        evaluation(args)


if __name__ == "__main__":
    main()
