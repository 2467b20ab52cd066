"""What every Gaussian-posterior model shares: an encoder to (mean, logvar), a decoder, a likelihood.

Objectives subclass ``GaussianAutoencoder`` and add only their loss, so the reparameterization,
the likelihoods and the KL terms are written once (models/divergence.py, models/likelihood.py).
"""

from __future__ import annotations

import torch
from pydantic import Field

from untwine.core.options import Strict
from untwine.models.base import LossTerms, Model, Posterior
from untwine.models.likelihood import Likelihood, mean_image
from untwine.nn import ARCHITECTURES
from untwine.nn.masked import MaskConfig, expected_open_connections, mask_layers

Architecture = ARCHITECTURES.name_type()  # a name in the architecture registry


class ModelConfig(Strict):
    """Fields every model has. ``channels`` and ``size`` are filled from the dataset when omitted."""

    name: str
    latent_dim: int = Field(10, ge=1)
    architecture: Architecture = "conv64"
    likelihood: Likelihood = "bernoulli"
    channels: int | None = Field(None, ge=1)
    size: int | None = Field(None, ge=8)
    mask: MaskConfig | None = Field(None, description="sparse channel-to-channel masks (nn/masked.py)")


class GaussianAutoencoder(Model):
    """Encoder x -> (mean, logvar) of q(z|x) = N(mean, diag exp(logvar)); decoder z -> logits."""

    Config: type[ModelConfig] = ModelConfig

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.channels is None or config.size is None:
            raise ValueError("model config needs channels and size (fit() fills them from the data)")
        self.config = config
        self.latent_dim = config.latent_dim
        self.likelihood = config.likelihood
        encoder_cls, decoder_cls = ARCHITECTURES[config.architecture]
        self.encoder = encoder_cls(config.channels, config.size, 2 * config.latent_dim)
        self.decoder = decoder_cls(config.channels, config.size, config.latent_dim)
        if config.mask is not None:
            mask_layers(self.encoder, config.mask)
            mask_layers(self.decoder, config.mask)

    def encode(self, x: torch.Tensor) -> Posterior:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return Posterior(mean, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def regularization_terms(self) -> LossTerms:
        """Penalties on the networks themselves, by name; every objective adds them to its loss.

        With masks: ``mask_l0`` = λ Σ_ij P(M_ij ≠ 0), the L0 price of the open connections.
        """
        if self.config.mask is None:
            return {}
        return {"mask_l0": self.config.mask.weight * expected_open_connections(self)}

    def regularized(self, terms: LossTerms) -> LossTerms:
        """An objective's ``terms`` with ``regularization_terms()`` added to ``loss`` and listed."""
        extra = self.regularization_terms()
        if not extra:
            return terms
        return {**terms, "loss": terms["loss"] + sum(extra.values()), **extra}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: the image in [0, 1] a reader compares with ``x``."""
        return mean_image(self.decode(self.encode(x).mean))
