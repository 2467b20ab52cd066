"""DCGAN generator and critic (Radford et al. 2016) as paper 003 uses them: no batch normalization,
SELU activations (Klambauer et al. 2017), a tanh on the generator's output.

Generator: z -> linear -> [4w, s0, s0] -> 4x4 stride-2 transposed convolutions halving the width
at each stage -> C channels -> tanh. Critic: the mirror, 4x4 stride-2 convolutions doubling the
width, then a linear layer to ``out_features`` (1 for a WGAN critic; ``latent_dim`` when the same
network serves as the inversion encoder). Sizes 28 (7 -> 14 -> 28), 32, 64 and 128 (4 -> ... -> S).

The generator's ``forward`` returns logits in untwine's convention (the image is ``sigmoid(logits)``
in [0, 1]): with h the pre-tanh activation, ``(tanh(h) + 1) / 2 == sigmoid(2h)``, so the logits
are ``2h`` and ``sigmoid`` of them is exactly the tanh image rescaled from [-1, 1] to [0, 1].
``tanh_image(z)`` gives the image in [-1, 1] that the critic sees.
"""

from __future__ import annotations

import torch
from torch import nn

SUPPORTED_SIZES = (28, 32, 64, 128)


def _plan(size: int) -> tuple[int, int]:
    """(starting spatial size, number of stride-2 stages) for an output of ``size`` pixels."""
    if size not in SUPPORTED_SIZES:
        raise ValueError(f"the DCGAN networks support image sizes {SUPPORTED_SIZES}, got {size}")
    if size == 28:
        return 7, 2
    stages = {32: 3, 64: 4, 128: 5}[size]
    return 4, stages


class DCGANGenerator(nn.Module):
    """Latent [B, latent_dim] -> logits [B, C, S, S] (see the module doc for the tanh)."""

    def __init__(self, channels: int, size: int, latent_dim: int, width: int = 64) -> None:
        super().__init__()
        start, stages = _plan(size)
        top = width * 2 ** (stages - 1)
        self.start = (top, start, start)
        self.head = nn.Sequential(nn.Linear(latent_dim, top * start * start), nn.SELU())
        layers: list[nn.Module] = []
        in_ch = top
        for stage in range(stages):
            last = stage == stages - 1
            out_ch = channels if last else in_ch // 2
            layers.append(nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1))
            if not last:
                layers.append(nn.SELU())
            in_ch = out_ch
        self.features = nn.Sequential(*layers)

    def preactivation(self, z: torch.Tensor) -> torch.Tensor:
        return self.features(self.head(z).view(-1, *self.start))

    def tanh_image(self, z: torch.Tensor) -> torch.Tensor:
        """The generator's own output, in [-1, 1]."""
        return torch.tanh(self.preactivation(z))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 2 * self.preactivation(z)


class DCGANCritic(nn.Module):
    """Image [B, C, S, S] in the generator's range [-1, 1] -> [B, out_features]."""

    def __init__(self, channels: int, size: int, out_features: int = 1, width: int = 64) -> None:
        super().__init__()
        start, stages = _plan(size)
        layers: list[nn.Module] = []
        in_ch = channels
        for stage in range(stages):
            out_ch = width * 2**stage
            layers += [nn.Conv2d(in_ch, out_ch, 4, 2, 1), nn.SELU()]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * start * start, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class DCGANEncoder(DCGANCritic):
    """The critic's architecture as an encoder of untwine images in [0, 1] (mapped to [-1, 1] first)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(2 * x - 1)
