"""The model protocol: what ``fit()``, the metrics and the explainers may rely on, and nothing more.

A model is an ``nn.Module`` with ``encode(x) -> Posterior``, ``decode(z) -> logits`` and
``training_steps() -> list[TrainingStep]``. Each step names the parameters it updates (one optimizer
each) and a loss function returning a dict of named terms; the term ``"loss"`` is minimized and the
others are logged under their papers' names. A VAE has one step; an adversarial VAE two; WGAN-GP a
critic step repeated 4 times and a generator step. ``fit()`` knows nothing else about a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from untwine.data.batch import Batch

LossTerms = dict[str, torch.Tensor]


@dataclass
class Posterior:
    """A diagonal Gaussian q(z|x) = N(mean, exp(logvar))."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def sample(self) -> torch.Tensor:
        """The reparameterization z = mean + sigma * eps (Kingma & Welling 2014)."""
        return self.mean + torch.exp(0.5 * self.logvar) * torch.randn_like(self.mean)


@dataclass
class TrainingStep:
    name: str
    parameters: Iterable[nn.Parameter]
    loss: Callable[[Batch], LossTerms]
    repeat: int = 1
    # None: fit()'s TrainConfig lr / adam_betas; a step whose paper fixes its own (WGAN-GP's betas)
    lr: float | None = None
    betas: tuple[float, float] | None = None


class Model(nn.Module):
    """Base of every untwine model; subclasses implement the three methods below."""

    latent_dim: int
    encodes: bool = True  # False for a generator alone (WGAN), whose encode() raises

    def encode(self, x: torch.Tensor) -> Posterior:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_steps(self) -> list[TrainingStep]:
        raise NotImplementedError


def image_shape(config) -> tuple[int, int]:
    """(channels, size) of a model config, which ``untwine.run`` fills from the training data."""
    if config.channels is None or config.size is None:
        raise ValueError("model config needs channels and size (fit() fills them from the data)")
    return config.channels, config.size
