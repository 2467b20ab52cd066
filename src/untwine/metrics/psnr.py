"""Peak signal-to-noise ratio of reconstructions (paper 000's PSNR column).

    PSNR(x, x_hat) = 10 log10( R^2 / mean((x - x_hat)^2) )

per image over all its pixels and channels, R the data range (1 for images in [0, 1]), then averaged
over images, as ``skimage.metrics.peak_signal_noise_ratio`` computes it for one image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from untwine.metrics._arrays import MetricError


@dataclass(frozen=True)
class PSNRResult:
    score: float  # mean over images, in dB
    std: float  # standard deviation over images, in dB
    per_image: np.ndarray  # [N] in dB (inf where x_hat == x exactly)
    data_range: float


def psnr(images: np.ndarray, reconstructions: np.ndarray, data_range: float = 1.0) -> PSNRResult:
    """PSNR of reconstructions [N, ...] against images [N, ...] (same shape, floats in [0, R])."""
    x, y = np.asarray(images, dtype=np.float64), np.asarray(reconstructions, dtype=np.float64)
    if x.shape != y.shape or x.ndim < 2 or len(x) == 0:
        raise MetricError(
            f"images {x.shape} and reconstructions {y.shape} must have the same shape [N, ...], N >= 1"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise MetricError("images and reconstructions must be finite")
    if data_range <= 0:
        raise MetricError(f"data_range must be positive; got {data_range}")
    mse = np.square(x - y).reshape(len(x), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        per_image = 10.0 * np.log10(data_range**2 / mse)
    return PSNRResult(float(per_image.mean()), float(per_image.std()), per_image, data_range)
