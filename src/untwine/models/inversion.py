"""Encoder inversion of a trained generator (paper 003, section 2): an encoder E is trained so that
the frozen generator G reproduces real images, G(E(x)) ~ x, under the Laplacian-pyramid L1 loss of
Bojanowski et al. 2017 (eq. 3):

    min_E  E_x[ Lap1(x, G(E(x))) ],    Lap1(x, x') = sum_j 2^{2j} |L^j(x) - L^j(x')|_1

where L^j is level j of the Laplacian pyramid (j = 0 the finest). Level j has 4^-j as many pixels as
the image, so the 2^{2j} weights make every level count as much as the finest: the loss below is the
sum over levels of the mean absolute difference (the summed form divided by the number of pixels).
The encoder has the critic's DCGAN architecture with ``latent_dim`` outputs; G's weights never change.

The validation split is the run's test split (``data.test_fraction``; 1/16 for the paper's 15:1),
which ``ImageSet.split`` draws by subject whenever the data has groups. ``held_out_error`` measures it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from untwine.data.batch import Batch
from untwine.models.base import LossTerms, Model, Posterior, TrainingStep, image_shape
from untwine.models.likelihood import mean_image
from untwine.models.wgan import WGANGP, WGANConfig
from untwine.nn.gan import DCGANEncoder

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def _blur(x: torch.Tensor) -> torch.Tensor:
    """The 5x5 binomial (Gaussian) low-pass of every channel, edges replicated."""
    kernel = torch.outer(_BINOMIAL, _BINOMIAL).to(x)
    channels = x.shape[1]
    padded = F.pad(x, (2, 2, 2, 2), mode="replicate")
    return F.conv2d(padded, kernel.expand(channels, 1, 5, 5), groups=channels)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``levels`` band-pass images from the finest down, then the low-pass residual (levels + 1)."""
    pyramid = []
    current = x
    for _ in range(levels):
        down = _blur(current)[..., ::2, ::2]
        up = F.interpolate(down, size=current.shape[-2:], mode="bilinear", align_corners=False)
        pyramid.append(current - up)
        current = down
    pyramid.append(current)
    return pyramid


def laplacian_l1(x: torch.Tensor, y: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """Lap1(x, y) per image [B]: the sum over pyramid levels of the mean |L^j(x) - L^j(y)|."""
    return sum(
        (a - b).abs().flatten(1).mean(1)
        for a, b in zip(laplacian_pyramid(x, levels), laplacian_pyramid(y, levels), strict=True)
    )


class InversionConfig(WGANConfig):
    name: str = "wgan_inversion"
    generator: str = Field(description="run directory of the trained WGAN whose generator is inverted")
    levels: int = Field(3, ge=0, description="Laplacian pyramid levels (plus the low-pass residual)")


class GANInversion(Model):
    """A trained WGAN-GP generator (frozen) with the encoder that inverts it."""

    Config = InversionConfig

    def __init__(self, config: InversionConfig, generator: WGANGP | None = None) -> None:
        """``generator`` is the trained WGAN of the run ``config.generator`` names; whoever loads runs
        (``untwine.run``, which sees that the registry entry needs it) passes it in."""
        super().__init__()
        image_shape(config)
        if generator is None:
            raise ValueError(f"model.generator={config.generator!r}: pass the trained WGAN as "
                             "generator=load_run(config.generator).model (untwine.run does)")
        trained = generator
        shape = (trained.config.channels, trained.config.size, trained.latent_dim, trained.config.width)
        wanted = (config.channels, config.size, config.latent_dim, config.width)
        if shape != wanted:
            raise ValueError(
                f"model.generator={config.generator!r} has (channels, size, latent_dim, width) "
                f"{shape}, but this config has {wanted}"
            )
        self.config = config
        self.latent_dim = config.latent_dim
        self.generator = trained.generator.requires_grad_(False)
        self.encoder = DCGANEncoder(config.channels, config.size, config.latent_dim, config.width)

    def encode(self, x: torch.Tensor) -> Posterior:
        code = self.encoder(x)
        return Posterior(code, torch.zeros_like(code))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def objective(self, batch: Batch) -> LossTerms:
        x = batch.images
        laplacian = laplacian_l1(x, mean_image(self.decode(self.encoder(x))), self.config.levels).mean()
        return {"loss": laplacian, "laplacian_l1": laplacian}

    def training_steps(self) -> list[TrainingStep]:
        return [TrainingStep("encoder", list(self.encoder.parameters()), self.objective)]


@torch.no_grad()
def held_out_error(model: Model, dataset, levels: int = 3, batch_size: int = 256) -> float:
    """Mean Lap1(x, decode(encode(x))) over every image of ``dataset`` (e.g. the validation split)."""
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, len(dataset), batch_size):
        x = dataset.load(range(start, min(start + batch_size, len(dataset))), device).images
        total += float(laplacian_l1(x, mean_image(model.decode(model.encode(x).mean)), levels).sum())
    return total / len(dataset)
