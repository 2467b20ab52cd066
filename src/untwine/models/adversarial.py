"""Adversarial residual beta-TCVAE (Sarhan, Eslami, Navab & Albarqouni 2019, paper 000, "Ours-Adv").

A beta-TCVAE (models/tcvae.py) whose reconstructions x_hat are also judged by a discriminator
Dis(.; psi) that tells real images x from reconstructions. Paper 000, eq. (3):

    min_{phi, theta} L_gen  = L_rec + L_prior - w * log Dis(x_hat)               step "generator"
    min_{psi}        L_disc = -log Dis(x) - log(1 - Dis(x_hat))                 step "discriminator"

    L_rec   = pixel-wise L2 between x and x_hat (the "gaussian" likelihood: summed squared error)
    L_prior = alpha I_q(z; x) + beta KL(q(z) || prod_j q(z_j)) + gamma sum_j KL(q(z_j) || p(z_j))

trained by alternating the two steps, each with its own Adam (``fit()`` runs the generator step,
then the discriminator step, each on a fresh batch). The discriminator has the encoder's
architecture with a single output (a logit; Dis = sigmoid(logit)). Written with logits,
-log Dis(x_hat) = softplus(-logit(x_hat)) and -log(1 - Dis(x_hat)) = softplus(logit(x_hat)).

What the paper leaves open, and what untwine chooses:
- the weight of the adversarial term: eq. (3) has none (w = 1); ``adversarial_weight`` (default 1).
  With L_rec summed over the pixels (about 12,000 values for 64x64 RGB) w = 1 makes the term small
  beside L_rec; the paper does not say whether its L2 is a sum or a mean.
- whether x_hat is decoded from a sample z ~ q(z|x) or the mean: from the same sample as L_rec.
- the discriminator's architecture "as the encoder": the encoder of ``architecture`` (resnet_leaky in
  experiments/lesions, as the paper uses leaky ReLUs in Ours-Adv), here with ``out_features=1``.
- one discriminator update per generator update, at the same learning rate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from untwine.data.batch import Batch
from untwine.models.base import LossTerms, TrainingStep
from untwine.models.likelihood import Likelihood, mean_image
from untwine.models.tcvae import BetaTCVAE, BetaTCVAEConfig
from untwine.nn import ARCHITECTURES


class AdversarialBetaTCVAEConfig(BetaTCVAEConfig):
    name: str = "adversarial"
    likelihood: Likelihood = "gaussian"  # paper 000: pixel-wise L2
    adversarial_weight: float = Field(1.0, ge=0, description="w on -log Dis(x_hat) in L_gen")


class AdversarialBetaTCVAE(BetaTCVAE):
    Config = AdversarialBetaTCVAEConfig
    config: AdversarialBetaTCVAEConfig

    def __init__(self, config: AdversarialBetaTCVAEConfig, **networks: torch.nn.Module | None) -> None:
        """``networks``: your own ``encoder``/``decoder`` (GaussianAutoencoder); the discriminator is
        always ``architecture``'s encoder with one output."""
        super().__init__(config, **networks)
        encoder_cls, _ = ARCHITECTURES[config.architecture]
        self.discriminator = encoder_cls(config.channels, config.size, 1)

    def generator_parameters(self) -> list[torch.nn.Parameter]:
        """phi and theta: the encoder's and decoder's parameters (not the discriminator's)."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def generator_objective(self, batch: Batch) -> LossTerms:
        """L_gen = L_rec + L_prior - w log Dis(x_hat)."""
        terms, logits = self.tcvae_terms(batch)
        x_hat = mean_image(logits)
        adversarial = F.softplus(-self.discriminator(x_hat)).mean()  # -log Dis(x_hat)
        loss = terms["loss"] + self.config.adversarial_weight * adversarial
        return {**terms, "loss": loss, "adversarial": adversarial}

    def discriminator_objective(self, batch: Batch) -> LossTerms:
        """L_disc = -log Dis(x) - log(1 - Dis(x_hat)), x_hat held fixed."""
        x = batch.images
        with torch.no_grad():
            x_hat = mean_image(self.decode(self.encode(x).sample()))
        real = self.discriminator(x)
        fake = self.discriminator(x_hat)
        on_real = F.softplus(-real).mean()  # -log Dis(x)
        on_fake = F.softplus(fake).mean()  # -log(1 - Dis(x_hat))
        return {
            "loss": on_real + on_fake,
            "real": on_real,
            "fake": on_fake,
            "accuracy": ((real > 0).float().mean() + (fake < 0).float().mean()) / 2,
        }

    def training_steps(self) -> list[TrainingStep]:
        return [
            TrainingStep("generator", self.generator_parameters(), self.generator_objective),
            TrainingStep("discriminator", list(self.discriminator.parameters()),
                         self.discriminator_objective),
        ]
