"""The "unsupervised" evaluation protocol: disentanglement_lib's label-free scores of one run
(metrics/unsupervised.py) on the posterior means of ``n`` images drawn with ``seed``, as its
``unsupervised_metrics`` draws ``num_train`` observations (10,000 in Locatello et al. 2019).

Scores: ``gaussian_total_correlation``, ``gaussian_wasserstein_correlation``,
``gaussian_wasserstein_correlation_norm`` and ``mutual_info_score``; no factors or labels needed, so
it runs on any image set (a folder of dermoscopy images as well as the shapes grid). Where factors
exist, the same scores can join the disentanglement protocol's suite as the metric ``unsupervised``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from untwine.metrics.unsupervised import unsupervised_scores
from untwine.protocols.disentanglement import encode
from untwine.protocols.result import ProtocolResult


def unsupervised(model: torch.nn.Module, dataset, *, seed: int, figures: Path,  # noqa: ARG001
                 n: int = 10_000, bins: int = 20) -> ProtocolResult:
    """The unsupervised scores of ``model``'s codes of ``dataset``."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False))
    result = unsupervised_scores(encode(model, dataset, rows), bins)
    scores = {
        "gaussian_total_correlation": result.gaussian_total_correlation,
        "gaussian_wasserstein_correlation": result.gaussian_wasserstein_correlation,
        "gaussian_wasserstein_correlation_norm": result.gaussian_wasserstein_correlation_norm,
        "mutual_info_score": result.mutual_info_score,
    }
    parameters = {"n": int(len(rows)), "seed": seed, "bins": bins, "sampling": "without replacement",
                  "codes": "posterior means"}
    details = {"covariance": result.covariance.tolist(), "mutual_info": result.mutual_info.tolist()}
    return ProtocolResult(scores, parameters, details)
