"""The pointing game (Zhang et al. 2016, "Top-down neural attention by excitation backprop"): a map
scores a hit when its largest |value| falls on the causal mask, grown by ``tolerance`` pixels (the
original allows 15 pixels on 224-pixel images; the default here, 1 pixel on 28, is about as strict).
Ties are broken by the first pixel in raster order, so a constant map points at the corner.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation

from untwine.metrics._arrays import MetricError


def pointing_game(maps: np.ndarray, masks: np.ndarray, tolerance: int = 1) -> np.ndarray:
    """bool [N]: argmax |map| inside the mask grown by ``tolerance`` (maps [N, H, W], masks [N, H, W])."""
    a = np.abs(np.asarray(maps, dtype=np.float64))
    m = np.asarray(masks, dtype=bool)
    if a.ndim != 3 or m.shape != a.shape:
        raise MetricError(f"pointing_game needs maps and masks [N, H, W] alike, got {a.shape} and {m.shape}")
    if tolerance > 0:
        structure = np.zeros((1, 3, 3), dtype=bool)
        structure[0] = True  # grow within each image, never across the batch axis
        m = binary_dilation(m, structure=structure, iterations=tolerance)
    peak = a.reshape(len(a), -1).argmax(1)
    return m.reshape(len(m), -1)[np.arange(len(m)), peak]
