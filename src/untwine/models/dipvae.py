"""DIP-VAE-I and DIP-VAE-II (Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations"), eqs. (6) and (7).

The VAE objective plus a penalty that pushes a covariance of the aggregate posterior towards I:

    min  -E_q[log p(x|z)] + KL(q(z|x) || p(z))                                  reconstruction, kl
         + lambda_od sum_{i != j} [Cov]_ij^2 + lambda_d sum_i ([Cov]_ii - 1)^2   off_diagonal, diagonal

    DIP-VAE-I  (eq. 6):  Cov = Cov_{p(x)}[mu(x)]                       the covariance of the means
    DIP-VAE-II (eq. 7):  Cov = Cov_{q(z)}[z] = E_{p(x)}[Sigma(x)] + Cov_{p(x)}[mu(x)]

with q(z|x) = N(mu(x), Sigma(x)), Sigma diagonal. Both covariances are estimated on each batch.
``off_diagonal`` and ``diagonal`` are logged unweighted; ``dip`` is the weighted penalty in the loss.

Where the paper leaves choices, disentanglement_lib's (``DIPVAE``): the batch covariance with 1/M
(E[mu mu^T] - E[mu] E[mu]^T), the sum over every ordered pair i != j, and lambda_d given as a multiple
of lambda_od, ``lambda_d = lambda_d_factor * lambda_od``, with factor 10 for DIP-VAE-I and 1 for
DIP-VAE-II (Locatello et al. 2019's study varies lambda_od over 1, 2, 5, 10, 20, 50).
"""

from __future__ import annotations

import torch
from pydantic import Field

from untwine.data.batch import Batch
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import LossTerms, Posterior, TrainingStep


class DIPVAEIConfig(ModelConfig):
    name: str = "dipvae_i"
    lambda_od: float = Field(10.0, ge=0, description="weight of the off-diagonal penalty")
    lambda_d_factor: float = Field(10.0, ge=0, description="lambda_d = lambda_d_factor * lambda_od")

    @property
    def lambda_d(self) -> float:
        return self.lambda_d_factor * self.lambda_od


class DIPVAEIIConfig(DIPVAEIConfig):
    name: str = "dipvae_ii"
    lambda_d_factor: float = Field(1.0, ge=0, description="lambda_d = lambda_d_factor * lambda_od")


def covariance_of_means(mean: torch.Tensor) -> torch.Tensor:
    """Cov_{p(x)}[mu(x)] on a batch of means [M, D]: E[mu mu^T] - E[mu] E[mu]^T, [D, D]."""
    centred = mean - mean.mean(0, keepdim=True)
    return centred.T @ centred / mean.shape[0]


def covariance_of_aggregate_posterior(posterior: Posterior) -> torch.Tensor:
    """Cov_{q(z)}[z] = E_{p(x)}[Sigma(x)] + Cov_{p(x)}[mu(x)] on a batch, [D, D]."""
    return torch.diag(posterior.logvar.exp().mean(0)) + covariance_of_means(posterior.mean)


def deviation_from_identity(covariance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum_{i != j} Cov_ij^2, sum_i (Cov_ii - 1)^2)."""
    diagonal = torch.diagonal(covariance)
    off_diagonal = covariance.square().sum() - diagonal.square().sum()
    return off_diagonal, (diagonal - 1).square().sum()


class DIPVAEI(GaussianAutoencoder):
    Config = DIPVAEIConfig
    config: DIPVAEIConfig

    def covariance(self, posterior: Posterior) -> torch.Tensor:
        return covariance_of_means(posterior.mean)

    def objective(self, batch: Batch) -> LossTerms:
        cfg = self.config
        elbo = self.elbo_terms(batch.images)
        reconstruction, kl = elbo.reconstruction, elbo.kl
        off_diagonal, diagonal = deviation_from_identity(self.covariance(elbo.posterior))
        dip = cfg.lambda_od * off_diagonal + cfg.lambda_d * diagonal
        return self.regularized({
            "loss": reconstruction + kl + dip,
            "reconstruction": reconstruction,
            "kl": kl,
            "dip": dip,
            "off_diagonal": off_diagonal,
            "diagonal": diagonal,
        })

    def training_steps(self) -> list[TrainingStep]:
        return [TrainingStep(self.config.name, list(self.parameters()), self.objective)]


class DIPVAEII(DIPVAEI):
    """DIP-VAE-II: the same penalty on the covariance of z ~ q(z), which adds E[Sigma(x)]."""

    Config = DIPVAEIIConfig
    config: DIPVAEIIConfig

    def covariance(self, posterior: Posterior) -> torch.Tensor:
        return covariance_of_aggregate_posterior(posterior)
