"""Attribution mass inside the causal mask (the "energy-based pointing game" of Wang et al. 2020,
Score-CAM; paper 003's region check made per image):

    mass_i = sum_{p in M_i} |a_i(p)| / sum_p |a_i(p)|

for map a_i and mask M_i of image i. 1: all of the map lies on the cause; the share of the image the
mask covers is what a map spread evenly would score.
"""

from __future__ import annotations

import numpy as np

from untwine.metrics._arrays import MetricError


def mask_mass(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """[N] share of |map| inside the mask, for maps [N, H, W] and bool masks [N, H, W] (or one [H, W]
    for all); NaN for an all-zero map."""
    a = np.abs(np.asarray(maps, dtype=np.float64))
    m = np.broadcast_to(np.asarray(masks, dtype=bool), a.shape) if a.ndim == 3 else None
    if a.ndim != 3 or m is None:
        raise MetricError(f"mask_mass needs maps [N, H, W] and masks [N, H, W] or [H, W], got {a.shape}")
    total = a.sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (a * m).sum((1, 2)) / total, np.nan)
