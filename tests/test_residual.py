"""The residual encoder and decoder: the shapes conv64 promises, gradients everywhere, residual blocks."""

import pytest
import torch

from untwine.models import build_model, model_config
from untwine.nn import ARCHITECTURES, ConvEncoder
from untwine.nn.residual import Bottleneck, ResidualDecoder, ResidualEncoder


@pytest.mark.parametrize("architecture", ["resnet", "resnet_leaky"])
@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_encoder_and_decoder_have_conv64s_interface(architecture, size, channels):
    encoder_cls, decoder_cls = ARCHITECTURES[architecture]
    x = torch.rand(2, channels, size, size)
    assert encoder_cls(channels, size, 10)(x).shape == ConvEncoder(channels, size, 10)(x).shape == (2, 10)
    assert decoder_cls(channels, size, 5)(torch.randn(2, 5)).shape == (2, channels, size, size)


@pytest.mark.parametrize("architecture", ["resnet", "resnet_leaky"])
def test_every_parameter_gets_a_gradient(architecture):
    encoder_cls, decoder_cls = ARCHITECTURES[architecture]
    torch.manual_seed(0)
    encoder, decoder = encoder_cls(3, 32, 8), decoder_cls(3, 32, 4)
    (decoder(encoder(torch.rand(4, 3, 32, 32))[:, :4]) ** 2).mean().backward()
    for module in (encoder, decoder):
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_encoder_and_decoder_are_built_from_bottleneck_blocks():
    encoder, decoder = ResidualEncoder(3, 64, 10), ResidualDecoder(3, 64, 10)
    assert sum(isinstance(m, Bottleneck) for m in encoder.modules()) == 3
    assert sum(isinstance(m, Bottleneck) for m in decoder.modules()) == 3
    leaky = ARCHITECTURES["resnet_leaky"][0](3, 64, 10)
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in leaky.modules())
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in encoder.modules())


def test_a_bottleneck_block_is_the_identity_plus_its_residual_branch():
    """x + W3 act(W2 act(W1 act(x))): with the last 1x1 convolution zeroed, the block is the identity."""
    block = Bottleneck(16, 16)
    x = torch.randn(2, 16, 8, 8)
    torch.nn.init.zeros_(block.expand.weight)
    torch.nn.init.zeros_(block.expand.bias)
    assert torch.equal(block(x), x)
    down = Bottleneck(16, 32, stride=2)
    assert down(x).shape == (2, 32, 4, 4)
    torch.nn.init.zeros_(down.expand.weight)
    torch.nn.init.zeros_(down.expand.bias)
    expected = down.shortcut(torch.relu(x))  # projection of the pre-activated input
    assert torch.allclose(down(x), expected)


def test_a_model_config_can_name_the_residual_architecture():
    model = build_model(model_config({"name": "betatcvae", "architecture": "resnet", "channels": 3,
                                      "size": 32, "latent_dim": 6}))
    assert isinstance(model.encoder, ResidualEncoder)
    posterior = model.encode(torch.rand(3, 3, 32, 32))
    assert posterior.mean.shape == posterior.logvar.shape == (3, 6)


def test_an_unsupported_size_is_refused_by_name():
    with pytest.raises(ValueError, match="resnet supports image sizes"):
        ResidualEncoder(3, 48, 10)
