"""beta-TCVAE (Chen et al. 2018), the prior term of paper 000's eq. (2).

    min_{phi, theta}  -E_q[log p_theta(x|z)]                          reconstruction
                      + alpha * I_q(z; x)                             index_code_mi
                      + beta  * KL(q(z) || prod_j q(z_j))             total_correlation
                      + gamma * sum_j KL(q(z_j) || p(z_j))            dimension_wise_kl

Paper 000 uses alpha = gamma = 1 and puts beta on the total correlation only. q(z) is the aggregate
posterior, estimated on each batch with minibatch stratified sampling (``estimator="mss"``, Chen et
al.'s choice for their experiments) or minibatch weighted sampling (``"mws"``); both need N, the
training-set size (``dataset_size``). ``fit()`` sets it from the data it trains on when the config
leaves it unset; a model asked for its loss without N refuses instead of guessing (using the batch
size as N changes the TC and MI estimates that beta and alpha weigh). With alpha = beta = gamma = 1 the
objective is the VAE's in expectation (the three terms sum to a Monte-Carlo estimate of its KL).
"""

from __future__ import annotations

import torch
from pydantic import Field

from untwine.data.batch import Batch
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import LossTerms, TrainingStep
from untwine.models.divergence import Estimator, decompose_kl
from untwine.models.likelihood import reconstruction_loss


class BetaTCVAEConfig(ModelConfig):
    name: str = "betatcvae"
    alpha: float = Field(1.0, ge=0, description="weight of the index-code mutual information")
    beta: float = Field(6.0, ge=0, description="weight of the total correlation")
    gamma: float = Field(1.0, ge=0, description="weight of the dimension-wise KL")
    estimator: Estimator = "mss"
    dataset_size: int | None = Field(None, ge=2, description="N for q(z); fit() sets it")


class BetaTCVAE(GaussianAutoencoder):
    Config = BetaTCVAEConfig
    config: BetaTCVAEConfig

    def objective(self, batch: Batch) -> LossTerms:
        return self.tcvae_terms(batch)[0]

    def tcvae_terms(self, batch: Batch) -> tuple[LossTerms, torch.Tensor]:
        """The objective's terms and the decoder's logits for the sampled z (models built on this
        objective, such as the adversarial one, judge the same reconstruction)."""
        cfg = self.config
        if cfg.dataset_size is None:
            raise ValueError(
                f"{cfg.name}: dataset_size (N, the training-set size in the estimate of q(z)) is unset; "
                "fit() sets it from its data, a model trained otherwise must set it in its config"
            )
        x = batch.images
        posterior = self.encode(x)
        z = posterior.sample()
        logits = self.decode(z)
        reconstruction = reconstruction_loss(x, logits, self.likelihood)
        kl = decompose_kl(z, posterior, cfg.dataset_size, cfg.estimator)
        prior = (
            cfg.alpha * kl.index_code_mi
            + cfg.beta * kl.total_correlation
            + cfg.gamma * kl.dimension_wise_kl
        )
        return self.regularized({
            "loss": reconstruction + prior,
            "reconstruction": reconstruction,
            "index_code_mi": kl.index_code_mi,
            "total_correlation": kl.total_correlation,
            "dimension_wise_kl": kl.dimension_wise_kl,
            "kl": kl.total,
        }), logits

    def training_steps(self) -> list[TrainingStep]:
        return [TrainingStep("tcvae", list(self.parameters()), self.objective)]
