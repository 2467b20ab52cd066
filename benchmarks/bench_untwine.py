"""untwine's beta-TCVAE on the full ``shapes`` grid, through its real training path.

``--loop step`` (default): exactly what ``fit()`` does per iteration, with a clock around each one:
batch = dataset.load(sampler.indices(i)) (bit-packed rows unpacked per batch, no per-item Python),
the model's training step's loss, the finite check on every term, zero_grad, backward, and
Adam as ``untwine.train.fast.adam`` makes it (torch's fused kernel), after
``untwine.train.fast.keep_freed_memory()`` (glibc keeps freed feature maps for reuse).
``--loop fit``: ``fit()`` itself for warmup + steps iterations in a temporary run directory; its own
images/s covers the whole run (first steps, logging and the final checkpoint included).
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


def build(dataset_size: int) -> BetaTCVAE:
    return BetaTCVAE(BetaTCVAEConfig(channels=1, size=64, latent_dim=common.LATENT,
                                     beta=common.BETA, dataset_size=dataset_size))


def step_loop(args: argparse.Namespace) -> dict:
    data = shapes()
    model = build(len(data))
    (train_step,) = model.training_steps()
    optimizer = adam(train_step.parameters, lr=common.LR)  # what fit() builds (train/fast.py)
    sampler = data.sampler(common.BATCH, args.seed)
    model.train()

    def step(i: int) -> None:
        batch = data.load(sampler.indices(i))
        terms = train_step.loss(batch)
        values = torch.stack([t.detach().float() for t in terms.values()])
        if not bool(torch.isfinite(values).all()):
            raise RuntimeError(f"non-finite loss at step {i}")
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()

    timing = common.time_steps(step, args.warmup, args.steps)
    return {"loop": "fit()'s step: ImageSet.load + training step + Adam", **timing,
            "params": sum(p.numel() for p in model.parameters())}


def fit_loop(args: argparse.Namespace) -> dict:
    data = shapes()
    model = build(len(data))
    total = args.warmup + args.steps
    config = TrainConfig(steps=total, batch_size=common.BATCH, lr=common.LR, device="cpu",
                         log_every=50, checkpoint_every=total, allocator="keep_freed")
    with tempfile.TemporaryDirectory() as run_dir:
        result = fit(model, data, config, run_dir, seed=args.seed, resume=False, progress=False)
    return {"loop": "fit() end to end (first steps, logging, final checkpoint included)",
            "img_per_s": round(result.images_per_second, 1), "steps_timed": total,
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loop", choices=["step", "fit"], default="step")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    # fit() with train.allocator keep_freed (fit_loop) does this itself
    allocator = keep_freed_memory() if args.loop == "step" else None
    record = step_loop(args) if args.loop == "step" else fit_loop(args)
    record["keep_freed_memory"] = allocator
    common.emit({"contender": "untwine" if args.loop == "step" else "untwine fit()",
                 "network": "untwine conv64 (channels-last, matmul ends)", **record})


if __name__ == "__main__":
    main()
