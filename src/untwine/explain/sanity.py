"""Numbers for comparing explanation maps (paper 003's contamination check, made quantitative).

Paper 003 trains a second, "contaminated" classifier on the test images themselves until it is
almost always right there, and judges by eye that its rationales point at small idiosyncrasies
rather than the disease. Here the comparison is a number: the Pearson correlation of the two
classifiers' difference maps image by image, and, on a set whose class is decided by a known region
(``untwine.data.blobs``), the share of a map's absolute mass inside that region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from untwine.explain.classifiers import train_classifier


def _flat(maps: np.ndarray) -> np.ndarray:
    """[B, ...] maps -> [B, H*W] with channels summed (a map may be [B, C, H, W] or [B, H, W])."""
    maps = np.asarray(maps, dtype=np.float64)
    return (maps.sum(1) if maps.ndim == 4 else maps).reshape(len(maps), -1)


def region_mass(maps: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per map, sum |map| inside ``region`` (bool [H, W]) / sum |map| (NaN for an all-zero map)."""
    flat = np.abs(_flat(maps))
    total = flat.sum(1)
    inside = flat[:, np.asarray(region, dtype=bool).reshape(-1)].sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def map_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image, the Pearson correlation of two maps over pixels (NaN where one is constant)."""
    x, y = _flat(a), _flat(b)
    x = x - x.mean(1, keepdims=True)
    y = y - y.mean(1, keepdims=True)
    denominator = np.sqrt((x * x).sum(1) * (y * y).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (x * y).sum(1) / denominator, np.nan)


def contaminated_classifier(
    model: nn.Module, test_codes: torch.Tensor, test_labels: torch.Tensor, accuracy: float = 0.99,
    rounds: int = 20, steps_per_round: int = 500, lr: float = 1e-3, seed: int = 0,
) -> tuple[nn.Module, float]:
    """Train ``model`` on the test codes themselves (no weight decay) until its accuracy there reaches
    ``accuracy`` or ``rounds`` rounds pass; returns it and the accuracy it reached."""
    reached = 0.0
    for round_ in range(rounds):
        train_classifier(model, test_codes, test_labels, steps=steps_per_round, lr=lr, weight_decay=0.0,
                         seed=seed + round_)
        with torch.no_grad():
            logits = model(test_codes)
        predicted = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
        reached = float((predicted == test_labels.long()).float().mean())
        if reached >= accuracy:
            break
    return model, reached


@dataclass
class SanityResult:
    correlation: np.ndarray  # [B] clean vs contaminated difference maps
    clean_mass: np.ndarray | None  # [B] share of the clean map in the known region
    contaminated_mass: np.ndarray | None

    def summary(self) -> dict[str, float]:
        out = {"map_correlation_mean": float(np.nanmean(self.correlation))}
        if self.clean_mass is not None and self.contaminated_mass is not None:
            out["clean_region_mass_mean"] = float(np.nanmean(self.clean_mass))
            out["contaminated_region_mass_mean"] = float(np.nanmean(self.contaminated_mass))
        return out


def compare_maps(
    clean: np.ndarray, contaminated: np.ndarray, region: np.ndarray | None = None
) -> SanityResult:
    """The numbers comparing two sets of maps of the same images."""
    if region is None:
        return SanityResult(map_correlation(clean, contaminated), None, None)
    return SanityResult(map_correlation(clean, contaminated), region_mass(clean, region),
                        region_mass(contaminated, region))
