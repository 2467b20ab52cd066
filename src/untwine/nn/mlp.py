"""The fully connected encoder and decoder of Locatello et al. (2019), used by Halevi (paper 002).

Encoder: 1200-1200 with ReLU, then a linear layer to the posterior's parameters.
Decoder: 1200-1200-1200 with tanh, then a linear layer to the logits of every pixel.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPEncoder(nn.Module):
    def __init__(self, channels: int, size: int, out_features: int, hidden: int = 1200) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * size * size, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    def __init__(self, channels: int, size: int, latent_dim: int, hidden: int = 1200) -> None:
        super().__init__()
        self.shape = (channels, size, size)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, channels * size * size),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)
