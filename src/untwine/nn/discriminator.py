"""The code discriminator of FactorVAE (Kim & Mnih 2018, appendix; disentanglement_lib's
``fc_discriminator``): an MLP on latent codes, 6 hidden layers of 1000 units with leaky ReLU (slope
0.2), and two logits, class 0 "a sample of q(z)" and class 1 "a sample of prod_j q(z_j)"."""

from __future__ import annotations

import torch
from torch import nn


class CodeDiscriminator(nn.Module):
    def __init__(self, latent_dim: int, hidden: int = 1000, layers: int = 6) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits [B, 2]; logits[:, 0] - logits[:, 1] = log D(z) / (1 - D(z))."""
        return self.net(z)
