"""The convolutional encoder and decoder of Burgess et al. (2018) and Locatello et al. (2019).

Encoder: four 4x4 stride-2 convolutions (32, 32, 64, 64 channels) with ReLU, then fc 256 and a linear
layer to the posterior's parameters. The decoder mirrors it with transposed convolutions. For 28x28 and
32x32 images one stride-2 stage is dropped (32, 64, 64 channels), so the last feature map is 3x3 or 4x4;
the decoder's ``output_padding`` makes its output exactly the input size.
"""

from __future__ import annotations

import torch
from torch import nn

SUPPORTED_SIZES = (28, 32, 64)


def _stage_channels(size: int) -> list[int]:
    if size not in SUPPORTED_SIZES:
        raise ValueError(f"conv64 supports image sizes {SUPPORTED_SIZES}, got {size}")
    return [32, 32, 64, 64] if size == 64 else [32, 64, 64]


def _feature_sizes(size: int, stages: int) -> list[int]:
    """Spatial size after each k4 s2 p1 convolution, starting with the input size."""
    sizes = [size]
    for _ in range(stages):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)
    return sizes


class ConvEncoder(nn.Module):
    """Image [B, C, H, W] in [0, 1] -> [B, out_features] (the posterior's parameters)."""

    def __init__(self, channels: int, size: int, out_features: int, hidden: int = 256) -> None:
        super().__init__()
        widths = _stage_channels(size)
        last = _feature_sizes(size, len(widths))[-1]
        layers: list[nn.Module] = []
        in_ch = channels
        for width in widths:
            layers += [nn.Conv2d(in_ch, width, 4, 2, 1), nn.ReLU()]
            in_ch = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(in_ch * last * last, hidden), nn.ReLU(),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ConvDecoder(nn.Module):
    """Latent [B, latent_dim] -> logits [B, C, H, W]."""

    def __init__(self, channels: int, size: int, latent_dim: int, hidden: int = 256) -> None:
        super().__init__()
        widths = _stage_channels(size)
        sizes = _feature_sizes(size, len(widths))
        self.start = (widths[-1], sizes[-1], sizes[-1])
        self.head = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, widths[-1] * sizes[-1] * sizes[-1]), nn.ReLU(),
        )
        outs = list(reversed(widths[:-1])) + [channels]
        layers: list[nn.Module] = []
        in_ch = widths[-1]
        for i, out_ch in enumerate(outs):
            src, dst = sizes[-1 - i], sizes[-2 - i]
            layers.append(nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, output_padding=dst - 2 * src))
            if i < len(outs) - 1:
                layers.append(nn.ReLU())
            in_ch = out_ch
        self.features = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.features(self.head(z).view(-1, *self.start))
