"""The plain-PyTorch floor: the conv64 network as torch's layers compute it (NCHW, nn.Conv2d and
nn.ConvTranspose2d), beta-TCVAE with minibatch stratified sampling, Adam, uint8 images indexed per
batch. What a straightforward implementation reaches with this torch build on this machine."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import throughput_common as common  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from throughput_common import gaussian_log_density  # noqa: E402
from torch import nn  # noqa: E402


def conv64(channels: int = 1, latent: int = common.LATENT) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(
        nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 2 * latent),
    )
    decoder = nn.Sequential(
        nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(), nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, channels, 4, 2, 1),
    )
    return encoder, decoder


def main() -> None:
    args = common.parser(__doc__.splitlines()[0]).parse_args()
    images = torch.from_numpy(common.setup(args))
    encoder, decoder = conv64()
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=common.LR)
    log_w = common.mss_log_weights(common.BATCH, args.dataset_size)

    def step(i: int) -> None:
        x = images[i * common.BATCH : (i + 1) * common.BATCH].float()
        mean, logvar = encoder(x).chunk(2, dim=1)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").flatten(1).sum(1)
        log_qz_x = gaussian_log_density(z, mean, logvar).sum(1)
        log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
        pairs = gaussian_log_density(z[:, None], mean[None], logvar[None])
        log_qz = torch.logsumexp(log_w + pairs.sum(2), dim=1)
        log_prod_qz = torch.logsumexp(log_w[:, :, None] + pairs, dim=1).sum(1)
        prior = (log_qz_x - log_qz) + common.BETA * (log_qz - log_prod_qz) + (log_prod_qz - log_pz)
        common.optimizer_step(optimizer, (recon + prior).mean())

    timing = common.time_steps(step, args.warmup, args.steps)
    common.emit({"contender": "plain torch (floor)", "loop": "plain loop, uint8 indexing",
                 "network": "conv64 k4 p1, nn.Conv2d/ConvTranspose2d, NCHW",
                 "params": sum(p.numel() for p in params), **timing})


if __name__ == "__main__":
    main()
