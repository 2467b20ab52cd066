"""Building blocks only: encoders and decoders that map images to vectors and back."""

from untwine.nn.conv64 import ConvDecoder, ConvEncoder
from untwine.nn.mlp import MLPDecoder, MLPEncoder
from untwine.nn.residual import LeakyResidualDecoder, LeakyResidualEncoder, ResidualDecoder, ResidualEncoder

ARCHITECTURES = {
    "conv64": (ConvEncoder, ConvDecoder),
    "mlp": (MLPEncoder, MLPDecoder),
    "resnet": (ResidualEncoder, ResidualDecoder),
    "resnet_leaky": (LeakyResidualEncoder, LeakyResidualDecoder),
}

__all__ = [
    "ARCHITECTURES", "ConvDecoder", "ConvEncoder", "LeakyResidualDecoder", "LeakyResidualEncoder",
    "MLPDecoder", "MLPEncoder", "ResidualDecoder", "ResidualEncoder",
]
