"""VAE (Kingma & Welling 2014) and beta-VAE (Higgins et al. 2017).

Paper 000, eq. (1):

    min_{phi, theta}  -E_{q_phi(z|x)}[log p_theta(x|z)]  +  beta * KL(q_phi(z|x) || p(z))
                       \\_____ reconstruction _____/           \\_________ kl _________/

with p(z) = N(0, I) and the KL in closed form for the diagonal Gaussian posterior. beta = 1 is the VAE;
beta > 1 trades reconstruction for a more factorized posterior.
"""

from __future__ import annotations

from pydantic import Field

from untwine.data.batch import Batch
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import LossTerms, TrainingStep
from untwine.models.divergence import kl_to_standard_normal
from untwine.models.likelihood import reconstruction_loss


class VAEConfig(ModelConfig):
    name: str = "vae"
    beta: float = Field(1.0, ge=0)


class VAE(GaussianAutoencoder):
    Config = VAEConfig
    config: VAEConfig

    def objective(self, batch: Batch) -> LossTerms:
        x = batch.images
        posterior = self.encode(x)
        reconstruction = reconstruction_loss(x, self.decode(posterior.sample()), self.likelihood)
        kl = kl_to_standard_normal(posterior).sum(1).mean()
        return self.regularized({
            "loss": reconstruction + self.config.beta * kl,
            "reconstruction": reconstruction,
            "kl": kl,
        })

    def training_steps(self) -> list[TrainingStep]:
        return [TrainingStep("vae", list(self.parameters()), self.objective)]


class BetaVAEConfig(VAEConfig):
    name: str = "betavae"
    beta: float = Field(4.0, ge=0)


class BetaVAE(VAE):
    """beta-VAE: the same objective with beta > 1 by default."""

    Config = BetaVAEConfig
