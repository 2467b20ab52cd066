"""The fast conv64 forms (channels-last, first and last layer as matrix products) compute the plain
network: the same outputs and the same gradients for inputs and every parameter."""

from __future__ import annotations

import pytest
import torch

from untwine.nn import ConvDecoder, ConvEncoder
from untwine.nn.conv64 import _col2im, _im2col


def _plain_encoder(m: ConvEncoder, x: torch.Tensor) -> torch.Tensor:
    return m.head(m.features(x))  # nn.Sequential's own forward: NCHW, torch's convolutions


def _plain_decoder(m: ConvDecoder, z: torch.Tensor) -> torch.Tensor:
    return m.features(m.head(z).view(-1, *m.start))


def _outputs_and_grads(fn, module: torch.nn.Module, inp: torch.Tensor) -> list[torch.Tensor]:
    out = fn(inp)
    # a loss that weighs every output differently, so a transposed or shifted gradient shows
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    grads = torch.autograd.grad((out * weights).sum(), [inp, *module.parameters()])
    return [out, *grads]


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_fast_network_matches_plain_outputs_and_gradients(size: int, channels: int) -> None:
    torch.manual_seed(0)
    enc, dec = ConvEncoder(channels, size, 20), ConvDecoder(channels, size, 10)
    x = (torch.rand(6, channels, size, size) < 0.5).float().requires_grad_()
    z = torch.randn(6, 10, requires_grad=True)
    for module, plain, inp in (
        (enc, lambda v: _plain_encoder(enc, v), x),
        (dec, lambda v: _plain_decoder(dec, v), z),
    ):
        fast = _outputs_and_grads(module, module, inp)
        slow = _outputs_and_grads(plain, module, inp)
        # fp32 sums in another order differ by rounding: measure both against the plain form in fp64
        # and require the fast form to be as accurate as the plain one (4x its error at most)
        module.double()
        exact = _outputs_and_grads(plain, module, inp.detach().double().requires_grad_())
        module.float()
        for f, s, e in zip(fast, slow, exact, strict=True):
            assert f.shape == e.shape
            f, s, e = f.detach(), s.detach(), e.detach()
            scale = float(e.abs().max())
            err_fast, err_plain = float((f - e).abs().max()), float((s - e).abs().max())
            assert err_fast <= max(4 * err_plain, 1e-6 * scale), (err_fast, err_plain, scale)


def test_im2col_and_col2im_are_adjoint() -> None:
    # <im2col(x), c> == <x, col2im(c)>: the identity that makes each the other's backward
    torch.manual_seed(1)
    x = torch.randn(2, 3, 8, 10, dtype=torch.float64)
    cols = torch.randn(2, 4, 5, 3, 4, 4, dtype=torch.float64)
    assert _im2col(x).shape == cols.shape
    torch.testing.assert_close((_im2col(x) * cols).sum(), (x * _col2im(cols)).sum())


def test_fast_encoder_gives_second_derivatives_through_the_input() -> None:
    # explanations differentiate through the encoder; gradcheck covers both custom functions
    enc = ConvEncoder(1, 28, 4).double()
    x = torch.rand(1, 1, 28, 28, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: enc(v).sum(1), (x,))


def test_fast_decoder_gives_exact_input_gradients() -> None:
    # the hidden transposed convolutions' backward is written by hand (as the convolution they are the
    # adjoint of): gradcheck against finite differences in fp64
    torch.manual_seed(4)
    dec = ConvDecoder(1, 32, 3).double()
    z = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: dec(v).flatten(1) @ torch.linspace(-1, 1, 32 * 32,
                                                                                  dtype=torch.float64), (z,))


def test_parameter_count_and_state_dict_keys_are_the_plain_networks() -> None:
    enc, dec = ConvEncoder(1, 64, 20), ConvDecoder(1, 64, 10)
    count = sum(p.numel() for m in (enc, dec) for p in m.parameters())
    assert count == 764_245
    assert "features.0.weight" in enc.state_dict() and "features.6.weight" in dec.state_dict()
    assert all(p.is_contiguous() for m in (enc, dec) for p in m.parameters())  # safetensors needs it


def test_fused_adam_makes_the_same_updates_as_torchs_default() -> None:
    from untwine.train.fast import adam

    torch.manual_seed(2)
    enc = ConvEncoder(1, 28, 20)
    twin = ConvEncoder(1, 28, 20)
    twin.load_state_dict(enc.state_dict())
    fast, plain = adam(enc.parameters(), 1e-3), torch.optim.Adam(twin.parameters(), lr=1e-3)
    assert fast.defaults["fused"]
    for _ in range(5):
        x = torch.rand(4, 1, 28, 28)
        for module, optimizer in ((enc, fast), (twin, plain)):
            optimizer.zero_grad()
            module(x).square().sum().backward()
            optimizer.step()
    for a, b in zip(enc.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_keep_freed_memory_sets_glibcs_thresholds_and_can_be_called_again() -> None:
    import platform
    import sys

    from untwine.train.fast import keep_freed_memory

    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is expected
    assert keep_freed_memory() is expected
