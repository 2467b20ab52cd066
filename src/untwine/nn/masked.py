"""Sparse channel-to-channel masks on convolutional and linear weights (paper 001, "Effect of Sparsity
on Disentanglement").

A layer whose weight K has shape [m, n, w, h] (m output channels, n input channels) computes with

    K' = K ⊙ M,     M ∈ R^{m x n} broadcast over every kernel position,

so M_ij gates the whole w x h filter slice K_{i,j,:,:} between input channel j and output channel i; a
fully connected layer is the case w = h = 1 (one gate per weight). A transposed convolution stores its
weight as [n, m, w, h]; its mask is the same [m, n] matrix, transposed onto it.

The gates are hard-concrete variables with an L0 penalty (Louizos, Welling & Kingma 2018, "Learning
Sparse Neural Networks through L0 Regularization", eqs. 10-13), one sample per forward pass:

    u ~ U(0, 1),   s = sigmoid((log u - log(1 - u) + log α) / β),   M = min(1, max(0, s (ζ - γ) + γ))
    L0 = Σ_ij P(M_ij ≠ 0) = Σ_ij sigmoid(log α_ij - β log(-γ / ζ))        (the expected open count)
    at evaluation:   M = min(1, max(0, sigmoid(log α) (ζ - γ) + γ))

with their β = 2/3, γ = -0.1, ζ = 1.1. The objective adds λ L0 (``MaskConfig.weight``).

Why hard concrete and not sigmoid gates with an L1 penalty: the paper wants fewer connections, which is
what L0 counts. An L1 penalty on g = sigmoid(s) prices the gate's size, which the layer buys back by
growing K (K ⊙ M unchanged, penalty smaller), so such gates shrink without closing; L0 is indifferent to
scale. And the evaluation gate is exactly 0 once sigmoid(log α) <= -γ / (ζ - γ), i.e. log α <= -2.40,
so ``prune`` sets exact zeros without changing the function that was evaluated, where sigmoid gates
never reach 0 and need a threshold that does change it.

Why log α is stored divided by ``gate_lr_scale``: Adam moves a parameter about lr per step whatever its
gradient's scale, so at the 1e-4..5e-4 learning rates of these models a gate's log α would travel only
0.5-2.5 units in 5,000 steps, while closing a gate that starts open (log α = 4.6 for ``drop_init``
0.01) takes 7. Scaling the parameterization (the "equalized learning rate" of Karras et al. 2018) lets
the gates move ``gate_lr_scale`` times faster than the weights without a second optimizer. Starting
nearly open (rather than Louizos et al.'s drop rate 0.5) keeps the gates' sampling noise low while the
network first learns; with drop_init 0.2 a beta-VAE on 32x32 shapes still had a collapsed posterior
after 600 steps, with 0.01 it trained as fast as the unmasked one (notes/issue-6b.md).
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils import parametrize

from untwine.core.options import Strict

GAMMA, ZETA = -0.1, 1.1  # the stretch of the hard-concrete interval (Louizos et al. 2018)
LayerKind = Literal["conv", "linear"]


class MaskConfig(Strict):
    """How a network is masked: the L0 weight λ and the hard-concrete gates' settings."""

    weight: float = Field(ge=0, description="λ: the loss pays λ for every expected open connection")
    layers: tuple[LayerKind, ...] = Field(
        ("conv", "linear"), min_length=1,
        description="which layers get a mask: conv (Conv2d, ConvTranspose2d) and/or linear",
    )
    temperature: float = Field(2 / 3, gt=0, description="β of the hard concrete")
    drop_init: float = Field(
        0.01, gt=0, lt=1, description="initial 1 - sigmoid(log α): log α starts at log((1 - p) / p)"
    )
    gate_lr_scale: float = Field(50.0, gt=0, description="log α = scale x stored parameter")


class ChannelMask(nn.Module):
    """The parametrization K -> K ⊙ M of one layer's weight, M [out, in] from hard-concrete gates."""

    def __init__(self, out_channels: int, in_channels: int, transposed: bool, config: MaskConfig) -> None:
        super().__init__()
        self.transposed = transposed
        self.temperature = config.temperature
        self.scale = config.gate_lr_scale
        log_alpha = math.log(1 - config.drop_init) - math.log(config.drop_init)
        self.scaled_log_alpha = nn.Parameter(torch.full((out_channels, in_channels), log_alpha / self.scale))

    @property
    def log_alpha(self) -> torch.Tensor:
        return self.scaled_log_alpha * self.scale

    def gates(self, sample: bool) -> torch.Tensor:
        """M [out, in]: a hard-concrete sample (training) or its deterministic value (evaluation)."""
        log_alpha = self.log_alpha
        if sample:
            u = torch.rand_like(log_alpha).clamp_(1e-6, 1 - 1e-6)
            s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / self.temperature)
        else:
            s = torch.sigmoid(log_alpha)
        return (s * (ZETA - GAMMA) + GAMMA).clamp(0, 1)

    def expected_open(self) -> torch.Tensor:
        """Σ_ij P(M_ij ≠ 0): the L0 norm the penalty prices, differentiable in log α."""
        return torch.sigmoid(self.log_alpha - self.temperature * math.log(-GAMMA / ZETA)).sum()

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        m = self.gates(sample=self.training)
        if self.transposed:
            m = m.t()
        return weight * m.view(*m.shape, *([1] * (weight.ndim - 2)))


class _Masked:
    """What the three masked layers share: the mask, its open fraction and the plain pruned layer."""

    weight: torch.Tensor
    parametrizations: nn.ModuleDict

    def _attach(self, out_channels: int, in_channels: int, transposed: bool, config: MaskConfig) -> None:
        mask = ChannelMask(out_channels, in_channels, transposed, config).to(self.weight.device)
        parametrize.register_parametrization(self, "weight", mask)  # type: ignore[arg-type]

    @property
    def mask(self) -> ChannelMask:
        return self.parametrizations.weight[0]

    @property
    def dense_weight(self) -> torch.Tensor:
        """K, the weight before masking."""
        return self.parametrizations.weight.original

    def alive(self) -> torch.Tensor:
        """bool [out, in]: the connections whose evaluation gate is not exactly 0."""
        return self.mask.gates(sample=False) > 0

    @torch.no_grad()
    def pruned_weight(self) -> torch.Tensor:
        """K ⊙ M with the evaluation gates: exact zeros where a connection is closed."""
        mask = self.mask
        was = mask.training
        mask.eval()
        try:
            return self.weight.detach().clone()
        finally:
            mask.train(was)


def _copy_dense(masked: nn.Module, dense: nn.Module) -> nn.Module:
    with torch.no_grad():
        masked.parametrizations.weight.original.copy_(dense.weight)
        if dense.bias is not None:
            masked.bias.copy_(dense.bias)
    return masked.to(dense.weight.device)


def _fresh(build):
    # the layer is overwritten at once; building it must not advance the RNG, so that a masked model
    # starts from the same dense weights, and draws the same noise afterwards, as an unmasked one
    with torch.random.fork_rng(devices=[]):
        return build()


class MaskedLinear(_Masked, nn.Linear):
    """``nn.Linear`` computing with W ⊙ M, M [out_features, in_features] hard-concrete gates."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 mask: MaskConfig) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias)
        self._attach(out_features, in_features, False, mask)

    @classmethod
    def from_dense(cls, dense: nn.Linear, mask: MaskConfig) -> MaskedLinear:
        layer = _fresh(lambda: cls(dense.in_features, dense.out_features, dense.bias is not None, mask=mask))
        return _copy_dense(layer, dense)

    def pruned(self) -> nn.Linear:
        plain = _fresh(lambda: nn.Linear(self.in_features, self.out_features, self.bias is not None))
        return _set_pruned(plain, self)


def _conv_arguments(layer: nn.Conv2d | nn.ConvTranspose2d) -> dict:
    if layer.groups != 1:
        raise ValueError(
            f"{type(layer).__name__} with groups={layer.groups}: a channel-to-channel mask needs groups=1"
        )
    return dict(
        in_channels=layer.in_channels, out_channels=layer.out_channels, kernel_size=layer.kernel_size,
        stride=layer.stride, padding=layer.padding, dilation=layer.dilation, bias=layer.bias is not None,
    )


class MaskedConv2d(_Masked, nn.Conv2d):
    """``nn.Conv2d`` computing with K ⊙ M, M [out_channels, in_channels] over every kernel position."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, *, mask: MaskConfig) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                           bias=bias)
        self._attach(out_channels, in_channels, False, mask)

    @classmethod
    def from_dense(cls, dense: nn.Conv2d, mask: MaskConfig) -> MaskedConv2d:
        if dense.padding_mode != "zeros":
            raise ValueError(f"Conv2d with padding_mode={dense.padding_mode!r}: expected 'zeros'")
        return _copy_dense(_fresh(lambda: cls(**_conv_arguments(dense), mask=mask)), dense)

    def pruned(self) -> nn.Conv2d:
        return _set_pruned(_fresh(lambda: nn.Conv2d(**_conv_arguments(self))), self)


class MaskedConvTranspose2d(_Masked, nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` computing with K ⊙ Mᵀ (its weight is [in, out, w, h]); M [out, in]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, dilation=1, bias: bool = True, *, mask: MaskConfig) -> None:
        nn.ConvTranspose2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                                    output_padding, bias=bias, dilation=dilation)
        self._attach(out_channels, in_channels, True, mask)

    @classmethod
    def from_dense(cls, dense: nn.ConvTranspose2d, mask: MaskConfig) -> MaskedConvTranspose2d:
        arguments = _conv_arguments(dense) | {"output_padding": dense.output_padding}
        return _copy_dense(_fresh(lambda: cls(**arguments, mask=mask)), dense)

    def pruned(self) -> nn.ConvTranspose2d:
        arguments = _conv_arguments(self) | {"output_padding": self.output_padding}
        return _set_pruned(_fresh(lambda: nn.ConvTranspose2d(**arguments)), self)


def _set_pruned(plain: nn.Module, masked: _Masked) -> nn.Module:
    with torch.no_grad():
        plain.weight.copy_(masked.pruned_weight())
        if plain.bias is not None:
            plain.bias.copy_(masked.bias)
    return plain.to(masked.dense_weight.device)


_MASKED: dict[type[nn.Module], tuple[LayerKind, type]] = {
    nn.Conv2d: ("conv", MaskedConv2d),
    nn.ConvTranspose2d: ("conv", MaskedConvTranspose2d),
    nn.Linear: ("linear", MaskedLinear),
}


def mask_layers(module: nn.Module, config: MaskConfig) -> nn.Module:
    """Replace, in place, every plain Conv2d / ConvTranspose2d / Linear of ``module`` (of the kinds in
    ``config.layers``) by its masked version with the same weights; returns ``module``.

    Works on any built encoder or decoder: the layers keep their names and attributes, and code that
    reads ``layer.weight`` (as conv64's matrix-product paths do) reads K ⊙ M.
    """
    for name, child in list(module.named_children()):
        kind, masked = _MASKED.get(type(child), (None, None))
        if masked is not None and kind in config.layers:
            setattr(module, name, masked.from_dense(child, config))
        else:
            mask_layers(child, config)
    return module


def masked_layers(module: nn.Module) -> dict[str, _Masked]:
    """The masked layers of ``module`` by their qualified names, in definition order."""
    return {name: layer for name, layer in module.named_modules() if isinstance(layer, _Masked)}


def expected_open_connections(module: nn.Module) -> torch.Tensor:
    """L0 = Σ over masked layers of Σ_ij P(M_ij ≠ 0); 0 for a module without masks."""
    layers = masked_layers(module).values()
    total = [layer.mask.expected_open() for layer in layers]
    return torch.stack(total).sum() if total else torch.zeros(())


def alive_fractions(module: nn.Module) -> dict[str, float]:
    """Per masked layer, the fraction of its channel-to-channel connections that are open (evaluation
    gate > 0); under ``"total"`` the fraction over all masked connections together."""
    fractions: dict[str, float] = {}
    alive = count = 0
    for name, layer in masked_layers(module).items():
        with torch.no_grad():
            gates = layer.alive()
        fractions[name] = float(gates.float().mean())
        alive, count = alive + int(gates.sum()), count + gates.numel()
    if count:
        fractions["total"] = alive / count
    return fractions


def prune(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every masked layer replaced by the plain layer whose weight is K ⊙ M
    at the evaluation gates: closed connections are exact zeros, and the copy computes what ``module``
    computes in eval mode. Its state dict has the keys of the same network built without masks.
    """
    if isinstance(module, _Masked):
        return module.pruned()
    pruned = copy.deepcopy(module)
    for name, layer in masked_layers(pruned).items():
        parent_name, _, child = name.rpartition(".")
        setattr(pruned.get_submodule(parent_name), child, layer.pruned())
    return pruned
