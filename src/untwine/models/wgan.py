"""WGAN-GP (Gulrajani et al. 2017) with the DCGAN networks of paper 003 (no batch norm, SELU, tanh).

The critic D and the generator G play (Arjovsky et al. 2017, with the gradient penalty of Gulrajani):

    critic:     min_D   E_z[D(G(z))] - E_x[D(x)]  +  lambda * E_x^[(||grad_x^ D(x^)||_2 - 1)^2]
                        \\____ -wasserstein ____/           \\_______ gradient_penalty _______/
    generator:  min_G  -E_z[D(G(z))]

with z ~ N(0, I_100), x^ = eps x + (1 - eps) G(z), eps ~ U[0, 1] per image, and lambda = 10. The critic
takes 4 steps (each on a fresh batch) for every generator step: two ``TrainingStep``s, the first with
``repeat=4``. Paper 003: Adam with learning rate 5e-5 for both networks (set ``train.lr``); the paper
gives no betas, so they are the model's ``adam_betas``, (0.5, 0.9) by default (Gulrajani et al. use
(0, 0.9) or (0.5, 0.9)), passed to ``fit()`` through ``TrainingStep.betas``.

The critic sees images in the generator's range [-1, 1]; the generator's ``decode`` returns logits in
untwine's convention (``sigmoid(decode(z))`` is its tanh image in [0, 1], see ``untwine.nn.gan``).
A WGAN has no encoder (``encodes = False``): ``models/inversion.py`` trains one through the frozen G.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from untwine.core.images import image_grid, save_image
from untwine.data.batch import Batch
from untwine.models.autoencoder import ModelConfig
from untwine.models.base import LossTerms, Model, Posterior, TrainingStep, image_shape
from untwine.models.likelihood import mean_image
from untwine.nn.gan import DCGANCritic, DCGANGenerator


def gradient_penalty(
    critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None
) -> torch.Tensor:
    """E[(||grad D(x^)||_2 - 1)^2] at x^ = eps real + (1 - eps) fake (eps ~ U[0, 1] per image if None).

    The graph is kept (``create_graph``) so the penalty trains the critic.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


class WGANConfig(ModelConfig):
    name: str = "wgan"
    latent_dim: int = Field(100, ge=1)
    architecture: Literal["dcgan"] = "dcgan"
    likelihood: Literal["gaussian"] = "gaussian"
    width: int = Field(64, ge=4, description="channels of the critic's first (generator's last) stage")
    gradient_penalty: float = Field(10.0, ge=0, description="lambda of Gulrajani et al.")
    critic_steps: int = Field(4, ge=1, description="critic steps per generator step")
    adam_betas: tuple[float, float] = (0.5, 0.9)


class WGANGP(Model):
    Config = WGANConfig
    encodes = False

    def __init__(self, config: WGANConfig) -> None:
        super().__init__()
        image_shape(config)
        self.config = config
        self.latent_dim = config.latent_dim
        self.generator = DCGANGenerator(config.channels, config.size, config.latent_dim, config.width)
        self.critic = DCGANCritic(config.channels, config.size, 1, config.width)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def encode(self, x: torch.Tensor) -> Posterior:
        raise NotImplementedError("a WGAN has no encoder: train one with the wgan_inversion model")

    def sample(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        """n generated images in the generator's range [-1, 1]."""
        device = device if device is not None else next(self.parameters()).device
        return self.generator.tanh_image(torch.randn(n, self.latent_dim, device=device))

    def critic_objective(self, batch: Batch) -> LossTerms:
        real = 2 * batch.images - 1
        with torch.no_grad():
            fake = self.sample(len(real), real.device)
        wasserstein = self.critic(real).mean() - self.critic(fake).mean()
        penalty = gradient_penalty(self.critic, real, fake)
        return {
            "loss": -wasserstein + self.config.gradient_penalty * penalty,
            "wasserstein": wasserstein,
            "gradient_penalty": penalty,
        }

    def generator_objective(self, batch: Batch) -> LossTerms:
        generated = self.critic(self.sample(len(batch), batch.images.device)).mean()
        return {"loss": -generated}

    def training_steps(self) -> list[TrainingStep]:
        betas = self.config.adam_betas
        return [
            TrainingStep("critic", list(self.critic.parameters()), self.critic_objective,
                         repeat=self.config.critic_steps, betas=betas),
            TrainingStep("generator", list(self.generator.parameters()), self.generator_objective,
                         betas=betas),
        ]


@torch.no_grad()
def save_samples_figure(model: Model, path: Path, n: int = 64, seed: int = 0) -> Path:
    """A grid of ``n`` images decoded from z ~ N(0, I) drawn with ``seed`` (PNG)."""
    device = next(model.parameters()).device
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    images = mean_image(model.decode(z)).cpu()
    cols = int(n**0.5)
    grid = images[: cols * (n // cols)].view(n // cols, cols, *images.shape[1:])
    return save_image(image_grid(grid, scale=max(1, 64 // images.shape[-1])), path)
