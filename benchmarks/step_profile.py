"""Where one training step's time goes: each layer of untwine's conv64 beta-TCVAE (batch 64, 64x64
shapes), forward and backward, against its FLOPs and this machine's matrix-product rate, in fp32 and
in bf16 (autocast, as ``train.precision: bf16`` runs the networks).

    python benchmarks/step_profile.py                      # both precisions, 2 threads
    python benchmarks/step_profile.py --precision fp32 --reps 30 --top 20

For each layer (a convolution with its ReLU, or a network's fully connected head) the script keeps the
input the real step gives it, then times its forward (median of ``--reps``) and its backward (the
gradient of the output, into the weights and, except for the image, into the input), and counts
their FLOPs with torch.utils.flop_counter. The row "objective, optimizer, data" is the rest of a full
step (beta-TCVAE's terms, Adam, loading the batch): the measured step minus the layers. The ceiling
is a 2048^3 matrix product on the same threads, in fp32 (sgemm) and bf16. Last, torch.profiler's
table of a few full steps, ops by their own time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import throughput_common as common  # noqa: E402

from untwine.data import shapes  # noqa: E402
from untwine.models import BetaTCVAE, BetaTCVAEConfig  # noqa: E402
from untwine.nn.conv64 import _run, conv_as_matmul, conv_transpose_as_matmul  # noqa: E402
from untwine.train.fast import adam, keep_freed_memory  # noqa: E402
from untwine.train.precision import cpu_bf16_features, networks_in  # noqa: E402

BATCH = 64


def flops(fn: Callable[[], object]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def layers(model: BetaTCVAE) -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """The step's layers in order, each as a function of the previous one's output."""
    enc, dec = model.encoder, model.decoder
    f, g = enc.features, dec.features
    return [
        ("enc conv 1->32 64x64 (im2col mm)", lambda x: conv_as_matmul(x, f[0], relu=True)),
        ("enc conv 32->32 32x32", lambda h: _run(f[2:4], h)),
        ("enc conv 32->64 16x16", lambda h: _run(f[4:6], h)),
        ("enc conv 64->64 8x8", lambda h: _run(f[6:8], h)),
        ("enc fc 1024->256->20", enc.head),
        ("dec fc 10->256->1024", lambda z: dec.head(z).view(-1, *dec.start).contiguous(
            memory_format=torch.channels_last)),
        ("dec deconv 64->64 4x4", lambda h: _run(g[0:2], h)),
        ("dec deconv 64->32 8x8", lambda h: _run(g[2:4], h)),
        ("dec deconv 32->32 16x16", lambda h: _run(g[4:6], h)),
        ("dec deconv 32->1 32x32 (mm col2im)", lambda h: conv_transpose_as_matmul(h, g[6])),
    ]


def median_ms(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def profile_layers(model: BetaTCVAE, images: torch.Tensor, precision: str, reps: int) -> list[dict]:
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    rows = []
    h = images
    z_input = None
    for i, (name, fn) in enumerate(layers(model)):
        if i == 5:  # the decoder starts from a code
            h = z_input
        x = h.detach().to(dtype if i not in (0, 5) else torch.float32)
        x.requires_grad_(i not in (0, 5))  # the image and z here are leaves without a gradient

        def forward(x=x, fn=fn):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                return fn(x)

        out = forward()
        grad = torch.randn_like(out)

        def backward_only(x=x, forward=forward, grad=grad) -> float:
            model.zero_grad(set_to_none=True)
            x.grad = None
            y = forward()
            t = time.perf_counter()
            y.backward(grad)
            return time.perf_counter() - t

        for _ in range(3):  # warm-up: oneDNN picks and caches its kernels on first use
            backward_only()
        fwd_ms = median_ms(forward, reps)
        bwd_ms = statistics.median(backward_only() for _ in range(reps)) * 1e3
        fwd_flops = flops(forward)
        y = forward()
        bwd_flops = flops(lambda y=y, grad=grad: y.backward(grad))
        rows.append({"layer": name, "fwd_ms": fwd_ms, "bwd_ms": bwd_ms,
                     "fwd_mflop": fwd_flops / 1e6, "bwd_mflop": bwd_flops / 1e6})
        h = out.detach()
        if i == 4:
            z_input = out.detach()[:, : model.latent_dim].float()
    return rows


def step_fn(model: BetaTCVAE, data, precision: str) -> Callable[[int], None]:
    (train_step,) = model.training_steps()
    optimizer = adam(train_step.parameters, lr=1e-4)
    sampler = data.sampler(BATCH, 0)

    def step(i: int) -> None:
        batch = data.load(sampler.indices(i))
        with networks_in(model, precision, torch.device("cpu")):
            terms = train_step.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--steps", type=int, default=30, help="full steps timed per precision")
    p.add_argument("--top", type=int, default=15, help="rows of torch.profiler's op table")
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    keep_freed_memory()
    data = shapes()
    model = BetaTCVAE(BetaTCVAEConfig(channels=1, size=64, latent_dim=10, beta=6.0,
                                      dataset_size=len(data)))
    model.train()
    images = data.load(data.sampler(BATCH, 0).indices(0)).images
    ceiling = {name: common.matmul_gflops(args.threads, dtype)
               for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"{args.threads} threads; CPU bf16 features: {cpu_bf16_features() or 'none'}; "
          f"2048^3 matmul: fp32 {ceiling['fp32']:.0f} GFLOP/s, bf16 {ceiling['bf16']:.0f} GFLOP/s")

    for precision in args.precision:
        step = step_fn(model, data, precision)
        for i in range(5):
            step(i)
        step_ms = median_ms(lambda step=step: step(0), args.steps)
        rows = profile_layers(model, images, precision, args.reps)
        total_flops = sum(r["fwd_mflop"] + r["bwd_mflop"] for r in rows)
        print(f"\n## {precision}: one step {step_ms:.1f} ms = {BATCH / step_ms * 1e3:.0f} images/s; "
              f"{total_flops / BATCH:.1f} MFLOP per image; {total_flops / step_ms:.0f} GFLOP/s "
              f"= {total_flops / step_ms / ceiling[precision]:.0%} of the {precision} matmul rate\n")
        print("| layer | fwd ms | bwd ms | fwd+bwd share of step | MFLOP fwd / bwd | fwd GFLOP/s | "
              "bwd GFLOP/s | of ceiling |")
        print("|---|---|---|---|---|---|---|---|")
        layer_ms = 0.0
        for r in rows:
            ms = r["fwd_ms"] + r["bwd_ms"]
            layer_ms += ms
            rate = (r["fwd_mflop"] + r["bwd_mflop"]) / ms  # MFLOP per ms = GFLOP/s
            print(f"| {r['layer']} | {r['fwd_ms']:.2f} | {r['bwd_ms']:.2f} | {ms / step_ms:.0%} | "
                  f"{r['fwd_mflop']:.0f} / {r['bwd_mflop']:.0f} | "
                  f"{r['fwd_mflop'] / r['fwd_ms']:.0f} | "
                  f"{r['bwd_mflop'] / r['bwd_ms']:.0f} | {rate / ceiling[precision]:.0%} |")
        rest = step_ms - layer_ms
        print(f"| objective, optimizer, data | | | {rest / step_ms:.0%} ({rest:.1f} ms) | | | | |")

        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(5):
                step(i)
        print(f"\ntorch.profiler, 5 {precision} steps, top {args.top} ops by own time:\n")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top,
                                        max_name_column_width=48))


if __name__ == "__main__":
    main()
