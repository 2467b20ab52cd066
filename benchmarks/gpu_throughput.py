"""GPU training throughput of beta-TCVAE conv64 on the 64x64 shapes grid (dSprites' five factors):
untwine's fit() fast path beside a plain PyTorch loop on the same network and the same GPU, and
disent's BetaTcVae where disent is importable, at batch 64 and 256, in one process; then the ceiling
(FLOPs per image, the GPU's measured bf16 and fp32 matmul rates) and the wall time of Locatello et
al.'s budget (300,000 steps at batch 64).

    python benchmarks/gpu_throughput.py                   # batch 64 and 256, 200 timed steps each
    python benchmarks/gpu_throughput.py --compile         # untwine with train.compile as well
    python benchmarks/gpu_throughput.py --full-budget     # also train the 300,000 steps and time them
    python benchmarks/gpu_throughput.py --device cpu --steps 3 --warmup 1 --batches 8   # smoke run

untwine's fast path is what ``train:`` selects on CUDA by default: the whole uint8 set on the device
(``data_on_device``), bf16 autocast (``precision``), channels_last (``memory_format``); ``--compile``
adds ``compile: true``. The plain loop is the same network as torch's layers compute it, fp32, the
uint8 set on the device too, indexed per batch: what a straightforward implementation reaches.
disent needs its own install (benchmarks/peer_venvs.py builds one; the lent GPU machines cannot
reach PyPI, so there it is skipped unless its venv is carried along).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput_common as common  # noqa: E402
from peer_torch import conv64  # noqa: E402

from untwine.config import TrainConfig  # noqa: E402
from untwine.data import shapes  # noqa: E402
from untwine.data.batch import Batch  # noqa: E402
from untwine.models import BetaTCVAE, BetaTCVAEConfig  # noqa: E402
from untwine.train import fit  # noqa: E402

LOCATELLO_STEPS = 300_000


def untwine_model(dataset_size: int) -> BetaTCVAE:
    return BetaTCVAE(BetaTCVAEConfig(channels=1, size=64, latent_dim=common.LATENT, beta=common.BETA,
                                     dataset_size=dataset_size))


def time_untwine(data, batch: int, args: argparse.Namespace, compiled: bool) -> dict:
    """fit() for the warm-up steps, then resumed for the timed ones: the rate of the second call."""
    torch.manual_seed(0)
    model = untwine_model(len(data))
    values = dict(batch_size=batch, lr=common.LR, device=args.device, compile=compiled,
                  log_every=10_000, checkpoint_every=10_000_000)
    with tempfile.TemporaryDirectory() as run_dir:
        fit(model, data, TrainConfig(steps=args.warmup, **values), run_dir, progress=False)
        result = fit(model, data, TrainConfig(steps=args.warmup + args.steps, **values), run_dir,
                     progress=False)
    return {"img_per_s": round(result.images_per_second, 1), "ms_per_step": round(
        1e3 * result.seconds / args.steps, 3)}


def time_plain(pixels: torch.Tensor, batch: int, args: argparse.Namespace) -> dict:
    encoder, decoder = (m.to(args.device) for m in conv64())
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=common.LR)
    log_w = common.mss_log_weights(batch, len(pixels)).to(args.device)
    gen = torch.Generator(device="cpu").manual_seed(0)

    def step(_: int) -> None:
        index = torch.randint(len(pixels), (batch,), generator=gen).to(args.device)
        x = pixels[index].float() / 255
        mean, logvar = encoder(x).chunk(2, dim=1)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").flatten(1).sum(1)
        log_qz_x = common.gaussian_log_density(z, mean, logvar).sum(1)
        log_pz = common.gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
        pairs = common.gaussian_log_density(z[:, None], mean[None], logvar[None])
        log_qz = torch.logsumexp(log_w + pairs.sum(2), dim=1)
        log_prod_qz = torch.logsumexp(log_w[:, :, None] + pairs, dim=1).sum(1)
        prior = (log_qz_x - log_qz) + common.BETA * (log_qz - log_prod_qz) + (log_prod_qz - log_pz)
        common.optimizer_step(optimizer, (recon + prior).mean())  # .item(): one sync per step, as fit

    return _timed(step, batch, args)


def time_disent(pixels: torch.Tensor, batch: int, args: argparse.Namespace) -> dict | None:
    try:
        import peer_disent
    except Exception as err:  # not installed here (ImportError) or broken beside this torch
        return {"skipped": f"disent not importable: {type(err).__name__}: {err}".splitlines()[0]}
    model = peer_disent.AutoEncoder(
        encoder=peer_disent.EncoderConv64P1(x_shape=(1, 64, 64), z_size=common.LATENT, z_multiplier=2),
        decoder=peer_disent.DecoderConv64(x_shape=(1, 64, 64), z_size=common.LATENT),
    )
    cfg = peer_disent.BetaTcVae.cfg(optimizer="adam", optimizer_kwargs=dict(lr=common.LR),
                                    recon_loss="bce", loss_reduction="mean_sum", beta=common.BETA)
    module = peer_disent.BetaTcVae(model=model, cfg=cfg).to(args.device)
    optimizer = module.configure_optimizers()
    module.train()
    gen = torch.Generator(device="cpu").manual_seed(0)

    def step(i: int) -> None:
        x = pixels[torch.randint(len(pixels), (batch,), generator=gen).to(args.device)].float() / 255
        common.optimizer_step(optimizer, module.training_step({"x_targ": (x,)}, i))

    return _timed(step, batch, args)


def _timed(step, batch: int, args: argparse.Namespace) -> dict:
    for i in range(args.warmup):
        step(i)
    _sync(args.device)
    began = time.perf_counter()
    for i in range(args.steps):
        step(i)
    _sync(args.device)
    seconds = time.perf_counter() - began
    return {"img_per_s": round(args.steps * batch / seconds, 1),
            "ms_per_step": round(1e3 * seconds / args.steps, 3)}


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def flops_per_image(dataset_size: int, device: str, batch: int = 64) -> float:
    """Forward + backward FLOPs of one untwine training step, per image (torch's FlopCounterMode)."""
    model = untwine_model(dataset_size).to(device)
    x = (torch.rand(batch, 1, 64, 64, device=device) > 0.5).float()
    with FlopCounterMode(display=False) as counter:
        model.objective(Batch(images=x, index=torch.arange(batch, device=device)))["loss"].backward()
    return counter.get_total_flops() / batch


def matmul_rate(device: str, dtype: torch.dtype, n: int) -> float:
    """FLOP/s of an n x n matrix product on ``device`` (best of 5)."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = float("inf")
    for _ in range(6):
        _sync(device)
        began = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - began)
    return 2 * n**3 / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--compile", action="store_true", help="also time untwine with train.compile")
    p.add_argument("--full-budget", action="store_true", help="train 300,000 steps at batch 64 and time it")
    p.add_argument("--size", type=int, default=64, help="image size of the shapes grid (64: dSprites')")
    args = p.parse_args()
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here; this benchmark is for a GPU machine "
                         "(--device cpu runs it as a smoke test)")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 for the plain loop and the peak
    torch.backends.cudnn.allow_tf32 = False
    data = shapes(size=args.size)
    pixels = data.images().to(args.device)  # uint8 [N, 1, 64, 64] in {0, 255}: plain loop, disent
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"{len(data)} images {args.size}x{args.size} on {device_name}; torch {torch.__version__}")

    records = []
    for batch in args.batches:
        contenders = {"untwine fit() fast path": lambda b=batch: time_untwine(data, b, args, False)}
        if args.compile:
            contenders["untwine fit() + compile"] = lambda b=batch: time_untwine(data, b, args, True)
        contenders["plain torch fp32"] = lambda b=batch: time_plain(pixels, b, args)
        contenders["disent BetaTcVae"] = lambda b=batch: time_disent(pixels, b, args)
        for name, run in contenders.items():
            record = {"contender": name, "batch": batch, **run()}
            records.append(record)
            print("RESULT " + json.dumps(record), flush=True)

    flops = flops_per_image(len(data), args.device)
    n = 8192 if args.device.startswith("cuda") else 1024
    peaks = {"bf16": matmul_rate(args.device, torch.bfloat16, n),
             "fp32": matmul_rate(args.device, torch.float32, n)}
    print(f"\nceiling: {flops / 1e6:.1f} MFLOP per image per training step (forward + backward); "
          f"matmul {n}x{n}: bf16 {peaks['bf16'] / 1e12:.1f} TFLOP/s, fp32 {peaks['fp32'] / 1e12:.1f} TFLOP/s")
    print(f"{'contender':<26} {'batch':>5} {'img/s':>10} {'vs plain':>9} {'of bf16 peak':>13}")
    for record in records:
        if "img_per_s" not in record:
            print(f"{record['contender']:<26} {record['batch']:>5}  {record.get('skipped', '')}")
            continue
        plain = next(r for r in records
                     if r["batch"] == record["batch"] and r["contender"] == "plain torch fp32")
        ratio = record["img_per_s"] / plain["img_per_s"]
        fraction = record["img_per_s"] * flops / peaks["bf16"]
        print(f"{record['contender']:<26} {record['batch']:>5} {record['img_per_s']:>10.0f} "
              f"{ratio:>8.2f}x {100 * fraction:>12.2f}%")

    fast64 = next((r for r in records
                   if r["batch"] == 64 and r["contender"] == "untwine fit() fast path"), None)
    if fast64 is not None:
        hours = LOCATELLO_STEPS * 64 / fast64["img_per_s"] / 3600
        print(f"\nLocatello et al.'s budget ({LOCATELLO_STEPS:,} steps at batch 64), from the rate above: "
              f"{hours:.2f} h")
    if args.full_budget:
        model = untwine_model(len(data))
        config = TrainConfig(steps=LOCATELLO_STEPS, batch_size=64, lr=common.LR, device=args.device,
                             log_every=1000, checkpoint_every=50_000)
        with tempfile.TemporaryDirectory() as run_dir:
            result = fit(model, data, config, run_dir)
        print(f"measured: {result.seconds / 3600:.2f} h for {LOCATELLO_STEPS:,} steps "
              f"({result.images_per_second:.0f} img/s, checkpoints and logging included)")


if __name__ == "__main__":
    main()
