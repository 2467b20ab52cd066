"""Building blocks only: encoders and decoders that map images to vectors and back."""

from untwine.nn.conv64 import ConvDecoder, ConvEncoder
from untwine.nn.mlp import MLPDecoder, MLPEncoder

ARCHITECTURES = {
    "conv64": (ConvEncoder, ConvDecoder),
    "mlp": (MLPEncoder, MLPDecoder),
}

__all__ = ["ARCHITECTURES", "ConvDecoder", "ConvEncoder", "MLPDecoder", "MLPEncoder"]
