"""How well a map ranks the causal pixels above the rest: per image, the area under the ROC curve of
|map| as a score for "pixel is in the mask" (the Mann-Whitney U statistic over pixels, ties counted
half; as ``sklearn.metrics.roc_auc_score`` computes it for one image). 0.5: no better than chance.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from untwine.metrics._arrays import MetricError


def mask_auroc(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """[N] AUROC of |map| against the mask (maps, masks [N, H, W]); NaN where a mask is empty or full."""
    a = np.abs(np.asarray(maps, dtype=np.float64)).reshape(len(maps), -1)
    m = np.asarray(masks, dtype=bool).reshape(len(masks), -1)
    if a.shape != m.shape:
        raise MetricError(f"mask_auroc needs maps and masks of one shape, got {a.shape} and {m.shape}")
    ranks = rankdata(a, axis=1)  # average ranks: a tie counts one half
    positives = m.sum(1)
    negatives = m.shape[1] - positives
    u = (ranks * m).sum(1) - positives * (positives + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((positives > 0) & (negatives > 0), u / (positives * negatives), np.nan)
