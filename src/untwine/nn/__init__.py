"""Building blocks only: encoders and decoders that map images to vectors and back.

``ARCHITECTURES`` is the registry a model config's ``architecture`` names: each entry is an
(encoder class, decoder class) pair, called as ``encoder(channels, size, out_features)`` and
``decoder(channels, size, latent_dim)``. Add one with a file here and one line below.
"""

from untwine.core.registry import Registry
from untwine.nn.conv64 import ConvDecoder, ConvEncoder
from untwine.nn.mlp import MLPDecoder, MLPEncoder
from untwine.nn.residual import LeakyResidualDecoder, LeakyResidualEncoder, ResidualDecoder, ResidualEncoder

ARCHITECTURES: Registry[tuple[type, type]] = Registry("architecture")
ARCHITECTURES.add("conv64", (ConvEncoder, ConvDecoder), help="the 4-conv / 4-deconv net of the "
                  "disentanglement_lib papers (64x64; other sizes by one more or fewer stride-2 stages)")
ARCHITECTURES.add("mlp", (MLPEncoder, MLPDecoder), help="fully connected, 2 hidden layers")
ARCHITECTURES.add("resnet", (ResidualEncoder, ResidualDecoder), help="residual conv stages")
ARCHITECTURES.add("resnet_leaky", (LeakyResidualEncoder, LeakyResidualDecoder),
                  help="residual conv stages with leaky ReLU")

__all__ = [
    "ARCHITECTURES", "ConvDecoder", "ConvEncoder", "LeakyResidualDecoder", "LeakyResidualEncoder",
    "MLPDecoder", "MLPEncoder", "ResidualDecoder", "ResidualEncoder",
]
