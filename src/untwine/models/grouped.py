"""Grouped-VAE (Halevi, "Important Groups First: Encouraging Disentanglement in VAEs", paper 002).

A VAE (eqs. 1-6) whose latent vector is read as G groups, each of which must improve the
reconstruction as much as it can given only the groups before it (a PCA-like order, built in rather
than left to chance):

    e_theta(x) = z_1, z_2, ..., z_G                                          (7)
    d_phi(z_1, z_2, ..., z_i) = x_hat_i                                     (8)
    L_rec,i = log p_phi(x | z_1, z_2, ..., z_i)                              (9)
    L_rec   = L_rec,1 + L_rec,2 + ... + L_rec,G                              (10)
    L       = L_rec + beta * L_KL,      L_KL = -D_KL(N(mu, sigma) || N(0, I))  (11)

- (8): groups 1..i are concatenated and padded with zeros to the size of z before decoding;
- every L_rec,i reaches the full decoder phi, but in the encoder only "the part responsible for
  generating z_i": the earlier groups z_1..z_{i-1} enter L_rec,i detached, and the later ones are
  zeros, so L_rec,i moves z_i alone;
- L_KL covers the whole latent vector, as in a VAE (the paper uses beta = 1).

The paper writes L as a log-likelihood to maximize; here, as in every untwine model, the loss is its
negative: ``loss = reconstruction + beta * kl`` with ``reconstruction_i = -log p(x | z_1..z_i)``, the
Bernoulli cross entropy (the paper's likelihood: "treating x_hat as a bernoulli distribution") summed
over pixels and averaged over the batch.

Which part of the encoder "produces z_i": the paper's encoder is one feed-forward network (two
hidden layers of 1200 ReLU units, after Locatello et al. 2019) whose last linear layer outputs the
means and standard deviations of all dimensions; it is not split per group. So the shared hidden
layers produce every group and the last layer's rows for group i produce z_i alone. Routing
L_rec,i through z_i only (detaching the other groups) gives exactly that: the rows of the other
groups get no gradient from L_rec,i, the shared hidden layers get it through z_i (they receive
gradient from every L_rec,i, each through its own group), and the decoder gets all of it.
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator

from untwine.data.batch import Batch
from untwine.models.autoencoder import GaussianAutoencoder, ModelConfig
from untwine.models.base import LossTerms, TrainingStep
from untwine.models.divergence import kl_to_standard_normal
from untwine.models.likelihood import reconstruction_loss


class GroupedVAEConfig(ModelConfig):
    """``groups`` are the sizes of z_1..z_G in order; they must add up to ``latent_dim`` (which,
    when left out, is their sum). Defaults: the paper's two groups of 3 and beta = 1."""

    name: str = "grouped"
    latent_dim: int = Field(6, ge=1)
    groups: list[int] = Field(default_factory=lambda: [3, 3], min_length=1,
                              description="sizes of the latent groups z_1..z_G, in order")
    beta: float = Field(1.0, ge=0, description="weight of the KL term on the whole latent")

    @model_validator(mode="after")
    def _groups_tile_the_latent(self) -> GroupedVAEConfig:
        if any(size < 1 for size in self.groups):
            raise ValueError(f"groups must be positive sizes; got {self.groups}")
        if "latent_dim" not in self.model_fields_set:
            self.latent_dim = sum(self.groups)
        elif sum(self.groups) != self.latent_dim:
            raise ValueError(
                f"groups {self.groups} add up to {sum(self.groups)} but latent_dim is {self.latent_dim}; "
                "the groups must tile the latent vector"
            )
        return self


class GroupedVAE(GaussianAutoencoder):
    Config = GroupedVAEConfig
    config: GroupedVAEConfig

    def group_inputs(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The decoder inputs of eq. (8), one per group i: (z_1, ..., z_i, 0, ..., 0), with
        z_1..z_{i-1} detached so that L_rec,i reaches the encoder through z_i alone."""
        groups = z.split(self.config.groups, dim=1)
        inputs = []
        for i, z_i in enumerate(groups):
            earlier = [g.detach() for g in groups[:i]]
            later = [torch.zeros_like(g) for g in groups[i + 1:]]
            inputs.append(torch.cat([*earlier, z_i, *later], dim=1))
        return inputs

    def objective(self, batch: Batch) -> LossTerms:
        x = batch.images
        posterior = self.encode(x)  # (7): all groups from one encoder
        z = posterior.sample()
        inputs = self.group_inputs(z)
        # One decoder pass over the G inputs stacked along the batch: the same function and
        # gradients as G passes, in one larger matrix product.
        x_hats = self.decode(torch.cat(inputs, dim=0)).chunk(len(inputs), dim=0)  # (8)
        terms: LossTerms = {}
        for i, logits in enumerate(x_hats, start=1):
            terms[f"reconstruction_{i}"] = reconstruction_loss(x, logits, self.likelihood)  # (9)
        reconstruction = torch.stack(list(terms.values())).sum()  # (10)
        kl = kl_to_standard_normal(posterior).sum(1).mean()
        return self.regularized({
            "loss": reconstruction + self.config.beta * kl,  # (11), negated
            "reconstruction": reconstruction,
            **terms,
            "kl": kl,
        })

    def training_steps(self) -> list[TrainingStep]:
        return [TrainingStep("grouped", list(self.parameters()), self.objective)]
