"""FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising", Sec. 4), as disentanglement_lib
computes it (factor_vae.py) with its study configuration (prune_dims.threshold = 0.05).

A vote: fix one factor k, draw ``batch_size`` rows sharing its value, divide each code dimension's
variance in that batch by its global variance; the dimension with the smallest ratio votes for k.
The classifier maps each dimension to the factor it got most votes for; the score is the share of
held-out votes it gets right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from untwine.metrics._sampling import Encode, HasFactors, SameValueSampler, encode_rows


@dataclass(frozen=True)
class FactorVAEResult:
    score: float  # = eval_accuracy
    train_accuracy: float
    eval_accuracy: float
    votes: np.ndarray  # [K, D] training votes (factor, dimension)
    active: np.ndarray  # [D] bool: global standard deviation >= prune_threshold
    global_variance: np.ndarray  # [D]


def _votes(sampler, encode, rng, m, batch_size, scale, active, k, d) -> np.ndarray:
    factor = sampler.choose_factors(rng, m)
    reference = rng.integers(sampler.n, size=(m, 1)).repeat(batch_size, axis=1)
    codes = encode_rows(encode, sampler.same_value(rng, factor, reference))  # [m, B, D]
    ratio = codes.var(axis=1, ddof=1) / scale
    ratio[:, ~active] = np.inf  # pruned dimensions never vote
    votes = np.zeros((k, d), dtype=np.int64)
    np.add.at(votes, (factor, ratio.argmin(axis=1)), 1)
    return votes


def factorvae_score(
    dataset: HasFactors,
    encode: Encode,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
    seed: int = 0,
) -> FactorVAEResult:
    """FactorVAE score of ``encode`` (row indices -> codes [M, D]) on a dataset with a factor grid.

    Votes index real code dimensions, where disentanglement_lib indexes the active ones only and
    reports len(mask) as the number of active dimensions; the accuracies are the same either way.
    Factors with a single value are never fixed; with no active dimension every score is 0.
    Defaults are disentanglement_lib's: 640,000 encoded rows for training votes alone.
    """
    rng = np.random.default_rng(seed)
    sampler = SameValueSampler(dataset)
    k = np.asarray(dataset.factors).shape[1]
    estimate = encode_rows(encode, rng.integers(sampler.n, size=num_variance_estimate))
    variance = estimate.var(axis=0, ddof=1)
    d = len(variance)
    # A zero-variance dimension is pruned even at threshold 0: its ratio would be 0/0.
    active = (np.sqrt(variance) >= prune_threshold) & (variance > 0)
    if not active.any():
        zeros = np.zeros((k, d), dtype=np.int64)
        return FactorVAEResult(0.0, 0.0, 0.0, zeros, active, variance)
    scale = np.where(active, variance, 1.0)
    train = _votes(sampler, encode, rng, num_train, batch_size, scale, active, k, d)
    classifier = train.argmax(axis=0)  # [D] factor each dimension stands for
    held_out = _votes(sampler, encode, rng, num_eval, batch_size, scale, active, k, d)
    columns = np.arange(d)
    train_acc = train[classifier, columns].sum() / train.sum()
    eval_acc = held_out[classifier, columns].sum() / held_out.sum()
    return FactorVAEResult(float(eval_acc), float(train_acc), float(eval_acc), train, active, variance)
