"""pythae's BetaTCVAE with the Burgess/Locatello conv64 network, in a plain loop over model.forward.

pythae ships no conv64 network, so it is written here as pythae ``BaseEncoder``/``BaseDecoder``
subclasses (pythae's documented way to bring an architecture): 764,245 parameters, the same as
untwine's. Its decoder ends in a sigmoid because pythae's ``bce`` loss takes probabilities. pythae's
BetaTCVAE defaults: alpha = gamma = 1, minibatch stratified sampling. The loop is the leanest way to
drive it (its BaseTrainer adds a DataLoader and callbacks and was no faster on this machine).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import throughput_common as common  # noqa: E402
import torch  # noqa: E402
from pythae.models import BetaTCVAE, BetaTCVAEConfig  # noqa: E402
from pythae.models.base.base_utils import ModelOutput  # noqa: E402
from pythae.models.nn import BaseDecoder, BaseEncoder  # noqa: E402
from torch import nn  # noqa: E402


class Conv64Encoder(BaseEncoder):
    def __init__(self, channels: int, latent: int) -> None:
        BaseEncoder.__init__(self)
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(),
        )
        self.mean = nn.Linear(256, latent)
        self.logvar = nn.Linear(256, latent)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = self.body(x)
        return ModelOutput(embedding=self.mean(h), log_covariance=self.logvar(h))


class Conv64Decoder(BaseDecoder):
    def __init__(self, channels: int, latent: int) -> None:
        BaseDecoder.__init__(self)
        self.body = nn.Sequential(
            nn.Linear(latent, 256), nn.ReLU(),
            nn.Linear(256, 64 * 4 * 4), nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1), nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> ModelOutput:
        return ModelOutput(reconstruction=self.body(z))


def main() -> None:
    args = common.parser(__doc__.splitlines()[0]).parse_args()
    images = torch.from_numpy(common.setup(args))
    config = BetaTCVAEConfig(input_dim=(1, 64, 64), latent_dim=common.LATENT,
                             reconstruction_loss="bce", beta=common.BETA)
    model = BetaTCVAE(model_config=config, encoder=Conv64Encoder(1, common.LATENT),
                      decoder=Conv64Decoder(1, common.LATENT))
    optimizer = torch.optim.Adam(model.parameters(), lr=common.LR)
    model.train()

    def step(i: int) -> None:
        x = images[i * common.BATCH : (i + 1) * common.BATCH].float()
        out = model({"data": x}, dataset_size=args.dataset_size)
        common.optimizer_step(optimizer, out.loss)

    timing = common.time_steps(step, args.warmup, args.steps)
    common.emit({"contender": "pythae", "loop": "model.forward + Adam, plain loop",
                 "network": "conv64 k4 p1 as pythae BaseEncoder/BaseDecoder",
                 "params": sum(p.numel() for p in model.parameters()), **timing})


if __name__ == "__main__":
    main()
