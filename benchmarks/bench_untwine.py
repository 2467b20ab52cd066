"""untwine's beta-TCVAE on the full ``shapes`` grid, through its real training path.

``--loop step`` (default): exactly what ``fit()`` does per iteration, with a clock around each one:
batch = dataset.load(sampler.indices(i)) (bit-packed rows unpacked per batch, no per-item Python),
the model's training step's loss, the finite check on every term, zero_grad, backward, and
Adam as ``untwine.train.fast.adam`` makes it (torch's fused kernel), after
``untwine.train.fast.keep_freed_memory()`` (glibc keeps freed feature maps for reuse).
``--precision bf16``: the networks under bf16 autocast as ``train.precision: bf16`` runs them
(``untwine.train.precision.networks_in``; fp32 weights, optimizer and loss terms).
``--loop fit``: ``fit()`` itself for warmup + steps iterations in a temporary run directory; its own
images/s covers the whole run (first steps, logging and the final checkpoint included).
``--loop eval``: what follows every experiment run: encode 10,000 + 5,000 images of the grid and score
them with the default suite (MIG, DCI, SAP, Modularity, Explicitness), timed end to end, after
``--steps`` training steps so the codes are not those of an untrained network.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import throughput_common as common  # noqa: E402
import torch  # noqa: E402

from untwine.config import TrainConfig  # noqa: E402
from untwine.data import shapes  # noqa: E402
from untwine.models import BetaTCVAE, BetaTCVAEConfig  # noqa: E402
from untwine.train import fit  # noqa: E402
from untwine.train.fast import adam, keep_freed_memory  # noqa: E402
from untwine.train.precision import networks_in  # noqa: E402


def build(dataset_size: int) -> BetaTCVAE:
    return BetaTCVAE(BetaTCVAEConfig(channels=1, size=64, latent_dim=common.LATENT,
                                     beta=common.BETA, dataset_size=dataset_size))


def step_loop(args: argparse.Namespace, data=None, model=None) -> dict:
    data = shapes() if data is None else data
    model = build(len(data)) if model is None else model
    (train_step,) = model.training_steps()
    optimizer = adam(train_step.parameters, lr=common.LR)  # what fit() builds (train/fast.py)
    sampler = data.sampler(common.BATCH, args.seed)
    model.train()

    def step(i: int) -> None:
        batch = data.load(sampler.indices(i))
        with networks_in(model, args.precision, torch.device("cpu")):
            terms = train_step.loss(batch)
        values = torch.stack([t.detach().float() for t in terms.values()])
        if not bool(torch.isfinite(values).all()):
            raise RuntimeError(f"non-finite loss at step {i}")
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()

    timing = common.time_steps(step, args.warmup, args.steps)
    return {"loop": "fit()'s step: ImageSet.load + training step + Adam", **timing,
            "params": sum(p.numel() for p in model.parameters()), "precision": args.precision}


def eval_loop(args: argparse.Namespace) -> dict:
    import time

    from untwine.protocols.disentanglement import evaluate

    data = shapes()
    model = build(len(data))
    step_loop(argparse.Namespace(**{**vars(args), "warmup": 0}), data, model)
    model.eval()
    busy, cpu, started = common._busy_seconds(), time.process_time(), time.perf_counter()
    result = evaluate(model, data, n=10_000, seed=args.seed, threads=args.threads)
    seconds = time.perf_counter() - started
    return {"loop": "encode 10,000 + 5,000 images and score MIG, DCI, SAP, Modularity, Explicitness",
            "eval_seconds": round(seconds, 2), "img_per_s": 0.0,
            "foreign_cpu_frac": round(common.foreign_cpu(busy, cpu, seconds), 3),
            "seconds_by_part": {k: round(v, 2) for k, v in result.seconds.items()},
            "scores": {k: round(float(v), 4) for k, v in result.scores.items()
                       if isinstance(v, int | float)}}


def fit_loop(args: argparse.Namespace) -> dict:
    data = shapes()
    model = build(len(data))
    total = args.warmup + args.steps
    config = TrainConfig(steps=total, batch_size=common.BATCH, lr=common.LR, device="cpu",
                         log_every=50, checkpoint_every=total, allocator="keep_freed",
                         precision=args.precision)
    with tempfile.TemporaryDirectory() as run_dir:
        result = fit(model, data, config, run_dir, seed=args.seed, resume=False, progress=False)
    return {"loop": "fit() end to end (first steps, logging, final checkpoint included)",
            "img_per_s": round(result.images_per_second, 1), "steps_timed": total,
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loop", choices=["step", "fit", "eval"], default="step")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    # fit() with train.allocator keep_freed (fit_loop) does this itself
    allocator = keep_freed_memory() if args.loop != "fit" else None
    record = {"step": step_loop, "fit": fit_loop, "eval": eval_loop}[args.loop](args)
    record["keep_freed_memory"] = allocator
    name = {"step": "untwine", "fit": "untwine fit()", "eval": "untwine evaluation"}[args.loop]
    if args.precision == "bf16":
        name += " bf16"
    common.emit({"contender": name, "network": "untwine conv64 (channels-last, matmul ends)", **record})


if __name__ == "__main__":
    main()
