"""Models, one file per objective. Add a model with one file and one line in ``MODELS``."""

from __future__ import annotations

from typing import Any

from untwine.models.adagvae import AdaGVAE, AdaGVAEConfig
from untwine.models.adversarial import AdversarialBetaTCVAE, AdversarialBetaTCVAEConfig
from untwine.models.annealedvae import AnnealedVAE, AnnealedVAEConfig
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import Model, Posterior, TrainingStep
from untwine.models.dipvae import DIPVAEI, DIPVAEII, DIPVAEIConfig, DIPVAEIIConfig
from untwine.models.factorvae import FactorVAE, FactorVAEConfig
from untwine.models.grouped import GroupedVAE, GroupedVAEConfig
from untwine.models.inversion import GANInversion
from untwine.models.tcvae import BetaTCVAE, BetaTCVAEConfig
from untwine.models.vae import VAE, BetaVAE, BetaVAEConfig, VAEConfig
from untwine.models.wgan import WGANGP

MODELS: dict[str, type[Model]] = {
    "vae": VAE,
    "betavae": BetaVAE,
    "betatcvae": BetaTCVAE,
    "adversarial": AdversarialBetaTCVAE,
    "grouped": GroupedVAE,
    "adagvae": AdaGVAE,
    "wgan": WGANGP,
    "wgan_inversion": GANInversion,
    "factorvae": FactorVAE,
    "dipvae_i": DIPVAEI,
    "dipvae_ii": DIPVAEII,
    "annealedvae": AnnealedVAE,
}


def model_config(values: dict[str, Any]) -> ModelConfig:
    """Validate a model section against the config class of the model it names."""
    name = values.get("name")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name].Config.model_validate(values)


def build_model(config: ModelConfig) -> Model:
    return MODELS[config.name](config)


__all__ = [
    "AdversarialBetaTCVAE", "AdversarialBetaTCVAEConfig",
    "AdaGVAE", "AdaGVAEConfig", "AnnealedVAE", "AnnealedVAEConfig",
    "DIPVAEI", "DIPVAEIConfig", "DIPVAEII", "DIPVAEIIConfig", "FactorVAE", "FactorVAEConfig",
    "MODELS", "VAE", "BetaVAE", "BetaVAEConfig", "BetaTCVAE", "BetaTCVAEConfig", "GaussianAutoencoder",
    "GroupedVAE", "GroupedVAEConfig",
    "Model", "ModelConfig", "Posterior", "TrainingStep", "VAEConfig", "build_model", "model_config",
]
