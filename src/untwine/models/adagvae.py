"""Ada-GVAE and Ada-ML-VAE (Locatello et al. 2020, "Weakly-Supervised Disentanglement Without
Compromises", section 4), trained on pairs (x1, x2) that share an unknown set S of factors.

Both images are encoded, q(z|x1) = N(mu1, sigma1^2) and q(z|x2) = N(mu2, sigma2^2), and every latent
dimension j gets the divergence between the pair's posteriors

    delta_j = KL(q(z_j|x1) || q(z_j|x2)).

The dimensions that the pair shares are those whose delta_j falls below the adaptive threshold
midway between the smallest and the largest (the paper's estimate of k, eq. (5)):

    tau = 1/2 (max_j delta_j + min_j delta_j),        S^ = {j : delta_j < tau}.

On S^ both posteriors are replaced by their average a(., .), the others are kept:

    q~(z_j|x_i) = a(q(z_j|x1), q(z_j|x2))  for j in S^,    q~(z_j|x_i) = q(z_j|x_i)  otherwise,

with a() either the GVAE's (Hosoya 2019) arithmetic mean of means and variances,
``average="gvae"``: mu = (mu1 + mu2) / 2, sigma^2 = (sigma1^2 + sigma2^2) / 2; or the ML-VAE's
(Bouchacourt et al. 2018) product of experts, ``average="mlvae"``: the precision-weighted mean
mu = (mu1/sigma1^2 + mu2/sigma2^2) / (1/sigma1^2 + 1/sigma2^2) with sigma^2 = 2 sigma1^2 sigma2^2 /
(sigma1^2 + sigma2^2), as disentanglement_lib's ``MLVae`` writes it. The objective, eq. (4), is the
ELBO of both images under the modified posteriors, with beta on the KL as in beta-VAE:

    max  E_{q~(z|x1)}[log p(x1|z)] + E_{q~(z|x2)}[log p(x2|z)]
         - beta (KL(q~(z|x1) || p(z)) + KL(q~(z|x2) || p(z)))

untwine averages the two images' terms (as disentanglement_lib does: 0.5 each), so ``reconstruction``
and ``kl`` are per image and comparable with a beta-VAE's. With ``k`` set (the GVAE with k known, the
paper's section 4 remark), S^ is the d - k dimensions with the smallest delta_j instead of tau.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from untwine.data.batch import Batch
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import LossTerms, Posterior, TrainingStep
from untwine.models.divergence import kl_to_standard_normal
from untwine.models.likelihood import reconstruction_loss

Average = Literal["gvae", "mlvae"]


class AdaGVAEConfig(ModelConfig):
    name: str = "adagvae"
    beta: float = Field(1.0, ge=0, description="weight of the KL of the modified posteriors")
    average: Average = Field("gvae", description="gvae: mean of means and variances; mlvae: product")
    k: int | None = Field(
        None, ge=0, description="changed factors per pair if known; null: the adaptive threshold"
    )


def pair_divergence(first: Posterior, second: Posterior) -> torch.Tensor:
    """delta_j = KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) per pair and dimension, [B, D]."""
    return 0.5 * (
        (first.logvar - second.logvar).exp()
        + (first.mean - second.mean).square() * (-second.logvar).exp()
        - 1.0
        + second.logvar
        - first.logvar
    )


def shared_dimensions(delta: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """bool [B, D]: the dimensions each pair shares, delta_j < tau (the adaptive threshold midway
    between the pair's smallest and largest delta_j), or with ``k`` known all but the k largest."""
    if k is None:
        low, high = delta.aminmax(dim=1, keepdim=True)
        return delta < 0.5 * (low + high)
    keep = min(k, delta.shape[1])
    ranks = delta.argsort(dim=1, descending=True).argsort(dim=1)
    return ranks >= keep


def average_posteriors(first: Posterior, second: Posterior, average: Average) -> Posterior:
    """a(q1, q2): the GVAE's arithmetic mean or the ML-VAE's product of experts, per dimension."""
    var1, var2 = first.logvar.exp(), second.logvar.exp()
    if average == "gvae":
        return Posterior(0.5 * (first.mean + second.mean), torch.log(0.5 * (var1 + var2)))
    if average == "mlvae":
        precision = 1.0 / var1 + 1.0 / var2
        mean = (first.mean / var1 + second.mean / var2) / precision
        return Posterior(mean, torch.log(2.0 / precision))
    raise ValueError(f"unknown average {average!r}; expected 'gvae' or 'mlvae'")


def _where(shared: torch.Tensor, averaged: Posterior, own: Posterior) -> Posterior:
    return Posterior(
        torch.where(shared, averaged.mean, own.mean), torch.where(shared, averaged.logvar, own.logvar)
    )


class AdaGVAE(GaussianAutoencoder):
    """Ada-GVAE (``average="gvae"``), Ada-ML-VAE (``"mlvae"``); GVAE / ML-VAE with ``k`` known."""

    Config = AdaGVAEConfig
    config: AdaGVAEConfig

    def modified_posteriors(
        self, x1: torch.Tensor, x2: torch.Tensor
    ) -> tuple[Posterior, Posterior, torch.Tensor]:
        """q~(z|x1), q~(z|x2) and the shared dimensions S^ (bool [B, D])."""
        first, second = self.encode(x1), self.encode(x2)
        shared = shared_dimensions(pair_divergence(first, second).detach(), self.config.k)
        averaged = average_posteriors(first, second, self.config.average)
        return _where(shared, averaged, first), _where(shared, averaged, second), shared

    def objective(self, batch: Batch) -> LossTerms:
        if batch.pair is None:
            raise ValueError(
                "adagvae trains on pairs of images: set data.pairs in the config (by: factors or "
                "groups) or train on a PairSet"
            )
        x1, x2 = batch.images, batch.pair.images
        q1, q2, shared = self.modified_posteriors(x1, x2)
        reconstruction = 0.5 * (
            reconstruction_loss(x1, self.decode(q1.sample()), self.likelihood)
            + reconstruction_loss(x2, self.decode(q2.sample()), self.likelihood)
        )
        kl = 0.5 * (kl_to_standard_normal(q1).sum(1).mean() + kl_to_standard_normal(q2).sum(1).mean())
        return self.regularized({
            "loss": reconstruction + self.config.beta * kl,
            "reconstruction": reconstruction,
            "kl": kl,
            # logged, not optimized: how many dimensions the threshold calls shared, per pair
            "shared_dimensions": shared.sum(1).float().mean(),
        })

    def training_steps(self) -> list[TrainingStep]:
        return [TrainingStep("adagvae", list(self.parameters()), self.objective)]
