"""beta-VAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework", Sec. 3), as disentanglement_lib computes it (beta_vae.py, scikit-learn
variant).

A sample: fix one factor k, draw ``batch_size`` pairs of rows that share its value (each pair its
own value), and average |z1 - z2| over the pairs; a linear classifier (logistic regression) must
recover k from that vector. The score is its held-out accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from untwine.metrics._arrays import MetricError
from untwine.metrics._sampling import Encode, HasFactors, SameValueSampler, encode_rows
from untwine.metrics._threads import limited_threads


@dataclass(frozen=True)
class BetaVAEResult:
    score: float  # = eval_accuracy
    train_accuracy: float
    eval_accuracy: float
    coefficients: np.ndarray  # [classes, D] of the logistic regression


def _samples(sampler, encode, rng, m, batch_size) -> tuple[np.ndarray, np.ndarray]:
    factor = sampler.choose_factors(rng, m)
    first = rng.integers(sampler.n, size=(m, batch_size))
    second = sampler.same_value(rng, factor, first)
    codes = encode_rows(encode, np.stack([first, second]))  # [2, m, B, D]
    return np.abs(codes[0] - codes[1]).mean(axis=1), factor


def betavae_score(
    dataset: HasFactors,
    encode: Encode,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    seed: int = 0,
    threads: int | None = None,
) -> BetaVAEResult:
    """beta-VAE score of ``encode`` (row indices -> codes [M, D]) on a dataset with a factor grid.

    Factors with a single value are never fixed (no classifier could tell them apart from the rest).
    Defaults are disentanglement_lib's: 1,280,000 encoded pairs for training.
    """
    rng = np.random.default_rng(seed)
    sampler = SameValueSampler(dataset)
    if len(sampler.varying) < 2:
        raise MetricError("the beta-VAE score tells factors apart: the dataset needs >= 2 that vary")
    x_train, y_train = _samples(sampler, encode, rng, num_train, batch_size)
    x_eval, y_eval = _samples(sampler, encode, rng, num_eval, batch_size)
    with limited_threads(threads):  # small products: see explicitness
        model = LogisticRegression().fit(x_train, y_train)
        train_acc = float(np.mean(model.predict(x_train) == y_train))
        eval_acc = float(np.mean(model.predict(x_eval) == y_eval))
    return BetaVAEResult(eval_acc, train_acc, eval_acc, model.coef_)
