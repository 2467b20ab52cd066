"""train.precision: what ``auto`` chooses, and that a bf16 step computes the fp32 step's terms and
gradients to bf16's precision, with fp32 weights, gradients and loss terms."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from untwine.config import TrainConfig
from untwine.data.batch import Batch
from untwine.models import BetaTCVAE, BetaTCVAEConfig
from untwine.nn import ConvDecoder, ConvEncoder
from untwine.nn.conv64 import conv_transpose_as_matmul
from untwine.train import fit, precision
from untwine.train.precision import networks_in, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize(("features", "chosen"), [([], "fp32"), (["avx512_bf16"], "bf16"),
                                                  (["amx_tile"], "bf16"), (["bf16"], "bf16")])
def test_auto_is_bf16_only_where_the_cpu_has_native_bf16(monkeypatch, features, chosen) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_features", lambda: features)
    assert resolve_precision("auto", CPU) == chosen
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    with pytest.raises(ValueError, match="train.precision must be auto, fp32 or bf16; got 'fp16'"):
        resolve_precision("fp16", CPU)


def test_cpu_bf16_features_agree_with_torchs_own_detection() -> None:
    found = precision.cpu_bf16_features()
    if "avx512_bf16" in found or "amx_tile" in found:
        assert torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert set(found) <= {"avx512_bf16", "amx_tile", "bf16"}


def _model(seed: int = 0) -> BetaTCVAE:
    torch.manual_seed(seed)
    return BetaTCVAE(BetaTCVAEConfig(channels=1, size=32, latent_dim=6, beta=6.0, dataset_size=1000))


def _step(model: BetaTCVAE, batch: Batch, chosen: str) -> tuple[dict[str, torch.Tensor], list]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(123)  # the same reparameterization noise in both precisions
    with networks_in(model, chosen, CPU):
        terms = model.objective(batch)
    terms["loss"].backward()
    return {k: v.detach() for k, v in terms.items()}, [p.grad.clone() for p in model.parameters()]


def test_bf16_step_agrees_with_fp32_and_keeps_fp32_weights_and_terms() -> None:
    torch.manual_seed(1)
    images = (torch.rand(32, 1, 32, 32) < 0.3).float()
    batch = Batch(images=images, index=torch.arange(32))
    model = _model()
    fp32_terms, fp32_grads = _step(model, batch, "fp32")
    bf16_terms, bf16_grads = _step(model, batch, "bf16")
    for name, value in bf16_terms.items():
        assert value.dtype == torch.float32, name
        # bf16 keeps 8 bits of mantissa: each product is good to ~0.4%; the terms are sums of them
        assert abs(float(value) - float(fp32_terms[name])) <= 0.02 * abs(float(fp32_terms[name])) + 0.05, name
    for p, g32, g16 in zip(model.parameters(), fp32_grads, bf16_grads, strict=True):
        assert p.dtype == torch.float32 and g16.dtype == torch.float32
        cosine = F.cosine_similarity(g32.flatten(), g16.flatten(), dim=0)
        assert cosine > 0.99, (tuple(p.shape), float(cosine))
    # the networks did compute in bf16 (a layer's own output), and got their forward back
    seen = []
    hook = model.encoder.head[1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with networks_in(model, "bf16", CPU):
        assert "forward" in model.encoder.__dict__
        assert model.encode(images).mean.dtype == torch.float32
    hook.remove()
    assert seen == [torch.bfloat16]
    assert "forward" not in model.encoder.__dict__ and "forward" not in model.decoder.__dict__


def test_fast_transposed_convolution_under_autocast_matches_torchs() -> None:
    torch.manual_seed(2)
    layer = torch.nn.ConvTranspose2d(32, 1, 4, 2, 1)
    x = torch.randn(4, 32, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_()
    outs, grads = [], []
    for fn in (lambda v: conv_transpose_as_matmul(v, layer), layer):
        layer.zero_grad(set_to_none=True)
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = fn(x)
        assert out.dtype == torch.bfloat16
        (out.float() * torch.linspace(-0.5, 1.5, out.numel()).view_as(out)).sum().backward()
        assert layer.weight.grad.dtype == torch.float32 and layer.bias.grad.dtype == torch.float32
        outs.append(out.float())
        grads.append([x.grad.float(), layer.weight.grad, layer.bias.grad])
    torch.testing.assert_close(outs[0], outs[1], atol=0.03, rtol=0.02)
    for fast, plain in zip(*grads, strict=True):
        assert F.cosine_similarity(fast.flatten(), plain.flatten(), dim=0) > 0.999


def test_fast_networks_under_bf16_give_float32_outputs_and_gradients() -> None:
    torch.manual_seed(3)
    enc, dec = ConvEncoder(1, 64, 20), ConvDecoder(1, 64, 10)
    x = (torch.rand(4, 1, 64, 64) < 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = dec(enc(x)[:, :10])
    out.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32
               for m in (enc, dec) for p in m.parameters())


@pytest.mark.parametrize(("requested", "features", "chosen"),
                         [("auto", [], "fp32"), ("auto", ["avx512_bf16"], "bf16"), ("bf16", [], "bf16")])
def test_fit_records_the_precision_it_trained_in(tmp_path, monkeypatch, requested, features, chosen) -> None:
    from untwine.data import shapes

    monkeypatch.setattr(precision, "cpu_bf16_features", lambda: features)
    data = shapes(scale=2, orientation=2, pos_x=4, pos_y=4, size=32)
    config = TrainConfig(steps=3, batch_size=8, device="cpu", precision=requested, log_every=1)
    result = fit(_model(), data, config, tmp_path, progress=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert result.precision == summary["precision"] == chosen
    assert summary["cpu_bf16_features"] == features
