"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorizing"), eq. (2) and Algorithm 1.

The VAE objective plus gamma times the total correlation of the aggregate posterior q(z):

    min_{theta, phi}  1/N sum_i [ -E_{q(z|x_i)}[log p(x_i|z)] + KL(q(z|x_i) || p(z)) ]    reconstruction, kl
                      + gamma * KL(q(z) || q_bar(z)),   q_bar(z) = prod_j q(z_j)           total_correlation

The total correlation is estimated with the density-ratio trick: a discriminator D(z) (nn/discriminator.py)
that tells samples of q(z) from samples of q_bar(z) gives

    TC(z) ~= E_{q(z)}[ log D(z) / (1 - D(z)) ] = E_{q(z)}[ logit_0(z) - logit_1(z) ].

Samples of q_bar(z) come from permuting each dimension independently across a batch of z ~ q(z).
The discriminator is the second training step, with its own Adam (the paper's beta1 = 0.5,
beta2 = 0.9, lr 1e-4):

    max_psi  1/2m [ sum_{i in B} log D(z_i) + sum_{i in B'} log(1 - D(perm z'_i)) ]     step "discriminator"

As in Algorithm 1, the z of the "real" side are the samples of the VAE step's batch B, and the
permuted z' come from a second, fresh batch B'; both are constants to the discriminator step (the
update is nabla_psi only), so they are detached and the step sends no gradient into the encoder.
Written as cross entropy on the two logits: ``real`` = -log D(z), ``permuted`` = -log(1 - D(perm z')).

Where the paper leaves choices, disentanglement_lib's: a 2-logit discriminator (so that
log D / (1 - D) is the logit difference), the KL with weight 1 beside gamma TC, one discriminator
update per VAE update. disentanglement_lib differs from Algorithm 1 in one point untwine does not
copy: it draws z and perm z from the same batch and updates both networks on it at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from untwine.data.batch import Batch
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import LossTerms, TrainingStep
from untwine.nn.discriminator import CodeDiscriminator


class FactorVAEConfig(ModelConfig):
    name: str = "factorvae"
    gamma: float = Field(40.0, ge=0, description="weight of the total correlation")
    discriminator_lr: float = Field(1e-4, gt=0)
    discriminator_betas: tuple[float, float] = (0.5, 0.9)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Samples of q_bar(z) = prod_j q(z_j): each column of z [B, D] permuted on its own."""
    batch, dims = z.shape
    order = torch.rand(batch, dims, generator=generator, device=z.device).argsort(dim=0)
    return z.gather(0, order)


def discriminator_loss(discriminator: CodeDiscriminator, z: torch.Tensor, z_prime: torch.Tensor) -> LossTerms:
    """-1/2 [mean log D(z) + mean log(1 - D(perm z'))]: z samples of q(z), z' another batch of them.

    Both are detached: the discriminator's step updates psi only.
    """
    z, z_prime = z.detach(), z_prime.detach()
    real_logits = discriminator(z)
    permuted_logits = discriminator(permute_dims(z_prime))
    real = F.cross_entropy(real_logits, torch.zeros(len(z), dtype=torch.long, device=z.device))
    permuted = F.cross_entropy(
        permuted_logits, torch.ones(len(z_prime), dtype=torch.long, device=z.device))
    accuracy = ((real_logits.argmax(1) == 0).float().mean()
                + (permuted_logits.argmax(1) == 1).float().mean()) / 2
    return {"loss": 0.5 * (real + permuted), "real": real, "permuted": permuted, "accuracy": accuracy}


class FactorVAE(GaussianAutoencoder):
    Config = FactorVAEConfig
    config: FactorVAEConfig

    def __init__(self, config: FactorVAEConfig, encoder: nn.Module | None = None,
                 decoder: nn.Module | None = None) -> None:
        super().__init__(config, encoder, decoder)
        self.discriminator = CodeDiscriminator(config.latent_dim)
        self._codes_of_last_vae_step: torch.Tensor | None = None  # Algorithm 1's z of batch B

    def vae_parameters(self) -> list[torch.nn.Parameter]:
        """theta and phi: the encoder's and decoder's parameters (not the discriminator's)."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def total_correlation(self, z: torch.Tensor) -> torch.Tensor:
        """The density-ratio estimate mean_i log D(z_i) / (1 - D(z_i))."""
        logits = self.discriminator(z)
        return (logits[:, 0] - logits[:, 1]).mean()

    def vae_objective(self, batch: Batch) -> LossTerms:
        elbo = self.elbo_terms(batch.images)
        reconstruction, kl = elbo.reconstruction, elbo.kl
        total_correlation = self.total_correlation(elbo.z)
        self._codes_of_last_vae_step = elbo.z.detach()
        return self.regularized({
            "loss": reconstruction + kl + self.config.gamma * total_correlation,
            "reconstruction": reconstruction,
            "kl": kl,
            "total_correlation": total_correlation,
        })

    def discriminator_objective(self, batch: Batch) -> LossTerms:
        """The discriminator's loss with z from the VAE step's batch and z' encoded from ``batch``."""
        with torch.no_grad():
            z_prime = self.encode(batch.images).sample()
        z = self._codes_of_last_vae_step
        if z is None or z.shape != z_prime.shape:
            # called without a VAE step before it (a test, a last partial batch): the real side
            # comes from this batch too, as in disentanglement_lib
            z = z_prime
        return discriminator_loss(self.discriminator, z, z_prime)

    def training_steps(self) -> list[TrainingStep]:
        cfg = self.config
        return [
            TrainingStep("vae", self.vae_parameters(), self.vae_objective),
            TrainingStep("discriminator", list(self.discriminator.parameters()),
                         self.discriminator_objective, lr=cfg.discriminator_lr,
                         betas=cfg.discriminator_betas),
        ]
