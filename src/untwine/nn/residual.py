"""Residual encoder and decoder from bottleneck blocks (He, Zhang, Ren & Sun 2016, "Identity Mappings
in Deep Residual Networks"), the networks of paper 000's Ours-resnet and Ours-Adv.

A bottleneck block is pre-activation: x + W3 act(W2 act(W1 act(x))), with W1 a 1x1 convolution to a
quarter of the width, W2 a 3x3 convolution, W3 a 1x1 convolution back to the full width. A block that
changes width or resolution puts a 1x1 convolution (stride 2 when it downsamples) on the shortcut.

Encoder: a 4x4 stride-2 stem convolution (conv64's first layer), then one downsampling block per
stage until the feature map is 4x4 (64 -> 32 -> 16 -> 8 -> 4; 32 and 28 have one stage fewer), then
fc 256 and a linear layer to ``out_features``, the same interface as conv64. The decoder mirrors it:
fc to a 4x4 map, per stage a nearest-neighbour upsampling and a block, and a 4x4 stride-2 transposed
convolution to the image's channels (logits).
Paper 000 does not give widths or block counts; we take conv64's widths (32, 32, 64, 64) so the two
architectures differ in the blocks, not in capacity. ``activation="leaky_relu"`` (slope 0.2) is the
variant the paper uses in Ours-Adv ("resnet_leaky" in the registry).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from untwine.nn.conv64 import stage_channels

Activation = Literal["relu", "leaky_relu"]
_LAST = 4  # spatial size of the deepest feature map


def _spatial_sizes(size: int, stages: int) -> list[int]:
    """The feature map's size before each stage and after the last (28 -> 14 -> 7 -> 4)."""
    sizes = [size]
    for _ in range(stages):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def _act(activation: Activation) -> nn.Module:
    if activation == "relu":
        return nn.ReLU()
    if activation == "leaky_relu":
        return nn.LeakyReLU(0.2)
    raise ValueError(f"unknown activation {activation!r}; expected 'relu' or 'leaky_relu'")


class Bottleneck(nn.Module):
    """Pre-activation bottleneck block [B, C_in, H, W] -> [B, C_out, H/stride, W/stride]."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, activation: Activation = "relu") -> None:
        super().__init__()
        mid = max(out_ch // 4, 8)
        self.act = _act(activation)
        self.reduce = nn.Conv2d(in_ch, mid, 1)
        self.conv = nn.Conv2d(mid, mid, 3, stride, 1)
        self.expand = nn.Conv2d(mid, out_ch, 1)
        changes = stride != 1 or in_ch != out_ch
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act(x)
        h = self.expand(self.act(self.conv(self.act(self.reduce(pre)))))
        # He et al.'s projection shortcut takes the pre-activated input when the shape changes
        return h + (self.shortcut(pre) if isinstance(self.shortcut, nn.Conv2d) else x)


class ResidualEncoder(nn.Module):
    """Image [B, C, H, W] in [0, 1] -> [B, out_features] (the posterior's parameters, or one logit
    for a discriminator)."""

    def __init__(
        self, channels: int, size: int, out_features: int, hidden: int = 256,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        widths = stage_channels(size, "resnet")
        # a strided 4x4 stem, as conv64's first layer: a block at full resolution cost 3x the rest
        self.stem = nn.Conv2d(channels, widths[0], 4, 2, 1)
        blocks, in_ch = [], widths[0]
        for width in widths[1:]:
            blocks.append(Bottleneck(in_ch, width, stride=2, activation=activation))
            in_ch = width
        self.blocks = nn.Sequential(*blocks)
        last = _spatial_sizes(size, len(widths))[-1]
        self.head = nn.Sequential(
            _act(activation), nn.Flatten(), nn.Linear(in_ch * last * last, hidden), _act(activation),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class ResidualDecoder(nn.Module):
    """Latent [B, latent_dim] -> logits [B, C, H, W]."""

    def __init__(
        self, channels: int, size: int, latent_dim: int, hidden: int = 256,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        widths = stage_channels(size, "resnet")
        self.sizes = list(reversed(_spatial_sizes(size, len(widths))))  # 4, ..., size
        self.start = widths[-1]
        self.head = nn.Sequential(
            nn.Linear(latent_dim, hidden), _act(activation),
            nn.Linear(hidden, widths[-1] * _LAST * _LAST),
        )
        outs = list(reversed(widths))  # 64, 64, 32, 32 for 64x64
        self.blocks = nn.ModuleList(
            Bottleneck(outs[i], outs[i + 1], activation=activation) for i in range(len(outs) - 1)
        )
        self.act = _act(activation)
        # the mirror of the strided stem; output_padding makes 28 from 14 and 32 from 16 alike
        half = self.sizes[-2]
        self.out = nn.ConvTranspose2d(outs[-1], channels, 4, 2, 1, output_padding=size - 2 * half)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(-1, self.start, _LAST, _LAST)
        for block, target in zip(self.blocks, self.sizes[1:-1], strict=True):
            # nearest to an exact size, so 28x28 (4 -> 7 -> 14) needs no output padding
            h = block(F.interpolate(h, size=(target, target), mode="nearest"))
        return self.out(self.act(h))


class LeakyResidualEncoder(ResidualEncoder):
    """``ResidualEncoder`` with leaky ReLUs (slope 0.2), as paper 000's Ours-Adv."""

    def __init__(self, channels: int, size: int, out_features: int, hidden: int = 256) -> None:
        super().__init__(channels, size, out_features, hidden, activation="leaky_relu")


class LeakyResidualDecoder(ResidualDecoder):
    """``ResidualDecoder`` with leaky ReLUs (slope 0.2)."""

    def __init__(self, channels: int, size: int, latent_dim: int, hidden: int = 256) -> None:
        super().__init__(channels, size, latent_dim, hidden, activation="leaky_relu")
