"""What every Gaussian-posterior model shares: an encoder to (mean, logvar), a decoder, a likelihood.

Objectives subclass ``GaussianAutoencoder`` and add only their loss, so the reparameterization,
the likelihoods and the KL terms are written once (models/divergence.py, models/likelihood.py).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from untwine.core.options import Strict
from untwine.models.base import LossTerms, Model, Posterior, image_shape
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
    supplied_networks: list[Literal["encoder", "decoder"]] = Field(
        default_factory=list, description="networks passed in Python in place of architecture's "
        "(written by the model; load_run asks for them back)")


@torch.no_grad()
def check_networks(encoder: nn.Module, decoder: nn.Module, channels: int, size: int, latent_dim: int) -> None:
    """One forward pass of two blank inputs through each network, in eval mode (no batch-norm
    statistics change), with an error that says which shape was expected."""
    x = torch.zeros(2, channels, size, size)
    z = torch.zeros(2, latent_dim)
    for name, net, given, wanted, what in (
        ("encoder", encoder, x, (2, 2 * latent_dim), "2 x latent_dim: the means, then the log-variances"),
        ("decoder", decoder, z, (2, channels, size, size), "logits of images of the training data's shape"),
    ):
        mode = net.training
        net.eval()
        try:
            out = net(given.to(next(net.parameters(), given).device))
        except Exception as err:  # the module's own error, prefixed with what it was given
            raise ValueError(f"{name}: calling it on a batch of shape {list(given.shape)} failed: "
                             f"{err}") from err
        finally:
            net.train(mode)
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
        if shape != wanted:
            got = list(shape) if shape else type(out).__name__
            raise ValueError(f"{name}: maps a batch of shape {list(given.shape)} to {got}; "
                             f"expected {list(wanted)} ({what})")


class GaussianAutoencoder(Model):
    """Encoder x -> (mean, logvar) of q(z|x) = N(mean, diag exp(logvar)); decoder z -> logits.

    The networks are ``architecture``'s, or your own: pass ``encoder`` (images [B, C, H, W] ->
    [B, 2 * latent_dim], the means then the log-variances) and/or ``decoder`` ([B, latent_dim] ->
    logits [B, C, H, W]) to any objective; their shapes are checked here, once. The config then
    lists them under ``supplied_networks``, so a saved run says which networks ``load_run`` must be
    given back (``load_run(path, encoder=..., decoder=...)``).
    """

    Config: type[ModelConfig] = ModelConfig

    def __init__(self, config: ModelConfig, encoder: nn.Module | None = None,
                 decoder: nn.Module | None = None) -> None:
        super().__init__()
        channels, size = image_shape(config)
        given = {"encoder": encoder, "decoder": decoder}
        missing = [name for name in config.supplied_networks if given[name] is None]
        if missing:
            wanted = ", ".join(f"{name}=..." for name in missing)
            raise ValueError(f"model.supplied_networks: this {config.name} model was trained with your "
                             f"own {' and '.join(missing)}; pass the same module(s) back: "
                             f"load_run(path, {wanted})")
        supplied = [name for name, net in given.items() if net is not None]
        self.config = config.model_copy(update={"supplied_networks": supplied})
        self.latent_dim = config.latent_dim
        self.likelihood = config.likelihood
        encoder_cls, decoder_cls = ARCHITECTURES[config.architecture]
        self.encoder = encoder if encoder is not None else encoder_cls(channels, size, 2 * config.latent_dim)
        self.decoder = decoder if decoder is not None else decoder_cls(channels, size, config.latent_dim)
        if supplied:
            check_networks(self.encoder, self.decoder, channels, size, config.latent_dim)
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
