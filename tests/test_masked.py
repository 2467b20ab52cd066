"""Sparse channel-to-channel masks: K' = K ⊙ M, the hard-concrete L0 term, masking any network,
the alive fractions and pruning to exact zeros."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from untwine.config import ConfigError, validate_config
from untwine.data import Batch
from untwine.models import build_model, model_config
from untwine.nn import ARCHITECTURES
from untwine.nn.masked import (
    GAMMA,
    ZETA,
    MaskConfig,
    MaskedConv2d,
    MaskedConvTranspose2d,
    MaskedLinear,
    alive_fractions,
    expected_open_connections,
    mask_layers,
    masked_layers,
    prune,
)
from untwine.protocols import run_protocol

CONFIG = MaskConfig(weight=1e-3)


def _set_log_alpha(layer, log_alpha: torch.Tensor) -> None:
    with torch.no_grad():
        layer.mask.scaled_log_alpha.copy_(log_alpha / layer.mask.scale)


def _evaluation_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    # Louizos et al. 2018, eq. 13, written out independently of the module
    return torch.clamp(torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA, 0, 1)


def test_conv_uses_weight_times_mask_over_every_kernel_position():
    torch.manual_seed(0)
    layer = MaskedConv2d(3, 4, 3, padding=1, mask=CONFIG).eval()
    log_alpha = torch.randn(4, 3) * 4
    _set_log_alpha(layer, log_alpha)
    gates = _evaluation_gates(log_alpha)
    x = torch.randn(2, 3, 6, 6)
    expected = F.conv2d(x, layer.dense_weight * gates[:, :, None, None], layer.bias, padding=1)
    torch.testing.assert_close(layer(x), expected)
    assert (gates == 0).any() and (gates == 1).any()  # the draw closes some and fully opens others


@pytest.mark.parametrize("kind", ["conv", "transposed", "linear"])
def test_a_closed_gate_cuts_exactly_one_input_channel_from_one_output_channel(kind):
    torch.manual_seed(1)
    layer = {
        "conv": lambda: MaskedConv2d(3, 4, 4, 2, 1, mask=CONFIG),
        "transposed": lambda: MaskedConvTranspose2d(3, 4, 4, 2, 1, mask=CONFIG),
        "linear": lambda: MaskedLinear(3, 4, mask=CONFIG),
    }[kind]().eval()
    log_alpha = torch.full((4, 3), 5.0)
    log_alpha[2, 1] = -5.0  # close input 1 -> output 2 only
    _set_log_alpha(layer, log_alpha)
    x = torch.randn(2, 3, 8, 8) if kind != "linear" else torch.randn(2, 3)
    x.requires_grad_(True)
    out = layer(x)
    (grad_closed,) = torch.autograd.grad(out[:, 2].sum(), x, retain_graph=True)
    assert torch.all(grad_closed[:, 1] == 0) and grad_closed[:, 0].abs().sum() > 0
    (grad_open,) = torch.autograd.grad(out[:, 3].sum(), x)
    assert grad_open[:, 1].abs().sum() > 0
    assert alive_fractions(nn.Sequential(layer))["0"] == pytest.approx(11 / 12)


def test_expected_open_count_is_the_probability_that_a_gate_is_not_zero():
    torch.manual_seed(2)
    layer = MaskedLinear(5, 4, mask=CONFIG).train()
    log_alpha = torch.linspace(-4, 4, 20).view(4, 5)
    _set_log_alpha(layer, log_alpha)
    closed_form = torch.sigmoid(log_alpha - CONFIG.temperature * math.log(-GAMMA / ZETA))
    assert float(layer.mask.expected_open().detach()) == pytest.approx(float(closed_form.sum()), rel=1e-5)
    # an independent Monte-Carlo estimate from the gates the layer samples
    samples = torch.stack([layer.mask.gates(sample=True) for _ in range(4000)])
    torch.testing.assert_close((samples > 0).float().mean(0), closed_form, atol=0.03, rtol=0)
    assert samples.min() == 0 and samples.max() == 1  # hard: exact 0s and 1s occur


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_any_encoder_and_decoder_can_be_masked_and_start_as_the_dense_network(architecture):
    encoder_cls, decoder_cls = ARCHITECTURES[architecture]
    torch.manual_seed(3)
    dense = nn.ModuleDict({"e": encoder_cls(1, 32, 8), "d": decoder_cls(1, 32, 4)}).eval()
    torch.manual_seed(3)  # the same dense weights, then masked in place
    masked = mask_layers(
        nn.ModuleDict({"e": encoder_cls(1, 32, 8), "d": decoder_cls(1, 32, 4)}), CONFIG
    ).eval()
    plain = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    layers = masked_layers(masked)
    assert layers and all(
        type(m) not in plain for m in masked.modules()
    ), "every conv / transposed conv / linear layer is masked"
    x, z = torch.rand(3, 1, 32, 32), torch.randn(3, 4)
    # drop_init 0.01 puts every evaluation gate at exactly 1: the same function as the dense network
    torch.testing.assert_close(masked["e"](x), dense["e"](x))
    torch.testing.assert_close(masked["d"](z), dense["d"](z))
    only_linear = mask_layers(encoder_cls(1, 32, 8), MaskConfig(weight=1, layers=("linear",)))
    assert all(isinstance(m, MaskedLinear) for m in masked_layers(only_linear).values())


def test_prune_sets_exact_zeros_and_loads_into_the_unmasked_model(tmp_path):
    values = {"name": "vae", "channels": 1, "size": 32, "latent_dim": 4}
    torch.manual_seed(4)
    model = build_model(model_config({**values, "mask": {"weight": 1e-3}})).eval()
    for layer in masked_layers(model).values():
        _set_log_alpha(layer, torch.randn_like(layer.mask.log_alpha) * 4)
    pruned = prune(model).eval()
    assert not masked_layers(pruned) and masked_layers(model)  # the original is left as it was
    for name, layer in masked_layers(model).items():
        weight = pruned.get_submodule(name).weight
        closed = ~layer.alive()
        closed = closed.t() if isinstance(layer, MaskedConvTranspose2d) else closed
        assert closed.any() and torch.all(weight[closed] == 0)
    x = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(pruned.encode(x).mean, model.encode(x).mean)
    plain = build_model(model_config(values))
    plain.load_state_dict(pruned.state_dict())  # strict: the same keys and shapes as no mask
    torch.testing.assert_close(plain.eval().decode(torch.ones(1, 4)), model.decode(torch.ones(1, 4)))
    fractions = alive_fractions(model)
    assert 0 < fractions["total"] < 1 and set(fractions) == {*masked_layers(model), "total"}
    result = run_protocol("sparsity", model, None, figures=tmp_path)
    assert result.scores["open_connections"] == fractions["total"]
    assert result.details["open_per_layer"]["encoder.features.0"] == fractions["encoder.features.0"]
    assert run_protocol("sparsity", plain, None, figures=tmp_path).scores["open_connections"] == 1.0


def test_every_objective_adds_the_l0_term_by_name():
    torch.manual_seed(5)
    x = (torch.rand(8, 1, 28, 28) > 0.5).float()
    # pair: Ada-GVAE's objective reads a second view; the others ignore it
    batch = Batch(images=x, index=torch.arange(8), pair=Batch(images=x.flip(0), index=torch.arange(8)))
    extra = {"grouped": {"groups": [1, 2]}, "betatcvae": {"dataset_size": 100},
             "adversarial": {"dataset_size": 100}}
    for name in ("vae", "betatcvae", "adversarial", "grouped", "adagvae"):
        values = {"name": name, "channels": 1, "size": 28, "latent_dim": 3, "mask": {"weight": 0.01},
                  **extra.get(name, {})}
        model = build_model(model_config(values))
        torch.manual_seed(6)
        terms = model.objective(batch)
        expected = 0.01 * expected_open_connections(model)
        torch.testing.assert_close(terms["mask_l0"], expected)
        unregularized = {k: v for k, v in terms.items() if k not in ("loss", "mask_l0")}
        torch.manual_seed(6)
        model.config = model.config.model_copy(update={"mask": None})  # same draws, no penalty
        torch.testing.assert_close(model.objective(batch)["loss"] + expected, terms["loss"])
        assert set(unregularized) <= set(model.objective(batch))


def test_training_lowers_the_loss_and_a_strong_weight_closes_connections():
    torch.manual_seed(7)
    x = (torch.rand(16, 1, 28, 28) > 0.7).float()
    batch = Batch(images=x, index=torch.arange(16))
    values = {"name": "vae", "channels": 1, "size": 28, "latent_dim": 3,
              "mask": {"weight": 0.01, "gate_lr_scale": 500}}
    model = build_model(model_config(values))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(40):
        terms = model.objective(batch)
        history.append({k: float(v.detach()) for k, v in terms.items()})
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert history[-1]["reconstruction"] < history[0]["reconstruction"]
    assert alive_fractions(model)["total"] < 0.5


def test_bad_mask_settings_are_clear_errors():
    base = {"name": "m", "data": {"source": "digits"}}
    with pytest.raises(ConfigError, match="model.mask.weight"):
        validate_config({**base, "model": {"name": "vae", "mask": {"weight": -1}}})
    with pytest.raises(ConfigError, match="model.mask.layers"):
        validate_config({**base, "model": {"name": "vae", "mask": {"weight": 1, "layers": ["bn"]}}})
    with pytest.raises(ValueError, match="groups=2"):
        mask_layers(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), CONFIG)
