"""Models, one file per objective. Add a model with one file and one line in ``MODELS``.

Each entry is the model class (its ``Config`` is the entry's options) and what it needs:
``needs=("pairs",)`` for a weakly supervised objective that trains on pairs (checked when a config is
validated: a run config must then have ``data.pairs``), ``needs=("generator",)`` for one built around
another trained run; ``traits=("encodes",)`` for a model with an encoder (what the evaluation
protocols and explanations need).
"""

from __future__ import annotations

from typing import Any

from untwine.core.registry import Registry
from untwine.models.adagvae import AdaGVAE, AdaGVAEConfig
from untwine.models.adversarial import AdversarialBetaTCVAE, AdversarialBetaTCVAEConfig
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import Model, Posterior, TrainingStep
from untwine.models.grouped import GroupedVAE, GroupedVAEConfig
from untwine.models.inversion import GANInversion
from untwine.models.tcvae import BetaTCVAE, BetaTCVAEConfig
from untwine.models.vae import VAE, BetaVAE, BetaVAEConfig, VAEConfig
from untwine.models.wgan import WGANGP

ENCODES = ("encodes",)

MODELS: Registry[type[Model]] = Registry("model")
MODELS.add("vae", VAE, options=VAE.Config, traits=ENCODES)
MODELS.add("betavae", BetaVAE, options=BetaVAE.Config, traits=ENCODES)
MODELS.add("betatcvae", BetaTCVAE, options=BetaTCVAE.Config, traits=ENCODES)
MODELS.add("adversarial", AdversarialBetaTCVAE, options=AdversarialBetaTCVAE.Config, traits=ENCODES)
MODELS.add("grouped", GroupedVAE, options=GroupedVAE.Config, traits=ENCODES)
MODELS.add("adagvae", AdaGVAE, options=AdaGVAE.Config, needs=("pairs",), traits=ENCODES)
MODELS.add("wgan", WGANGP, options=WGANGP.Config)
MODELS.add("wgan_inversion", GANInversion, options=GANInversion.Config, needs=("generator",),
           traits=ENCODES)


def model_config(values: dict[str, Any]) -> ModelConfig:
    """Validate a model section against the options of the model it names."""
    name = values.get("name")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {MODELS.names()}")
    return MODELS.validate(name, values)  # type: ignore[return-value]


def build_model(config: ModelConfig, **parts: Any) -> Model:
    """The model a validated config names; ``parts`` are what its entry needs beyond the config
    (a trained ``generator``, a user's ``encoder`` and ``decoder``)."""
    return MODELS[config.name](config, **parts)


__all__ = [
    "AdversarialBetaTCVAE", "AdversarialBetaTCVAEConfig",
    "AdaGVAE", "AdaGVAEConfig",
    "MODELS", "VAE", "BetaVAE", "BetaVAEConfig", "BetaTCVAE", "BetaTCVAEConfig", "GaussianAutoencoder",
    "GroupedVAE", "GroupedVAEConfig",
    "Model", "ModelConfig", "Posterior", "TrainingStep", "VAEConfig", "build_model", "model_config",
]
