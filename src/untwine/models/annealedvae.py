"""AnnealedVAE (Burgess et al. 2018, "Understanding disentangling in beta-VAE"), eq. (8).

The KL is not pushed to zero but held near a target capacity C that grows during training:

    min  -E_{q(z|x)}[log p(x|z)]  +  gamma |KL(q(z|x) || p(z)) - C|          reconstruction, capacity_gap
         C = min(C_max, C_max * t / T)                                      capacity

t is the training step (0 at the first), T the number of steps over which C rises linearly from 0
to C_max, in nats. The model counts its own training steps in a buffer (``annealing_step``, saved in
its state dict, so a resumed run continues the schedule): each call of the objective in training mode
with gradients on is one step; evaluation calls read the schedule without advancing it.

Where the paper leaves choices, disentanglement_lib's (``AnnealedVAE``): the absolute value is taken
of the batch-mean KL minus C (not averaged per image), and Locatello et al. 2019's study uses
gamma = 1000, T = 100,000 and varies C_max over 5, 10, 25, 50, 75, 100.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from untwine.data.batch import Batch
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import LossTerms, TrainingStep


class AnnealedVAEConfig(ModelConfig):
    name: str = "annealedvae"
    gamma: float = Field(1000.0, ge=0, description="weight of |KL - C|")
    c_max: float = Field(25.0, ge=0, description="the final capacity C_max, in nats")
    iteration_threshold: int = Field(100_000, ge=1, description="T: steps over which C reaches C_max")


def capacity(step: int | torch.Tensor, c_max: float, iteration_threshold: int) -> torch.Tensor:
    """C = min(C_max, C_max * step / T)."""
    step = torch.as_tensor(step, dtype=torch.float32)
    return torch.clamp(c_max * step / iteration_threshold, max=c_max)


class AnnealedVAE(GaussianAutoencoder):
    Config = AnnealedVAEConfig
    config: AnnealedVAEConfig

    def __init__(self, config: AnnealedVAEConfig, encoder: nn.Module | None = None,
                 decoder: nn.Module | None = None) -> None:
        super().__init__(config, encoder, decoder)
        self.register_buffer("annealing_step", torch.zeros((), dtype=torch.long))

    def objective(self, batch: Batch) -> LossTerms:
        cfg = self.config
        elbo = self.elbo_terms(batch.images)
        reconstruction, kl = elbo.reconstruction, elbo.kl
        c = capacity(self.annealing_step, cfg.c_max, cfg.iteration_threshold).to(kl)
        if self.training and torch.is_grad_enabled():
            self.annealing_step += 1
        capacity_gap = (kl - c).abs()
        return self.regularized({
            "loss": reconstruction + cfg.gamma * capacity_gap,
            "reconstruction": reconstruction,
            "kl": kl,
            "capacity": c,
            "capacity_gap": capacity_gap,
        })

    def training_steps(self) -> list[TrainingStep]:
        return [TrainingStep("annealedvae", list(self.parameters()), self.objective)]
