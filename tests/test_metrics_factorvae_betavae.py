"""FactorVAE and beta-VAE scores on a factor grid, through an encode function of row indices."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from untwine.data.shapes import grid_factors
from untwine.metrics import MetricError, betavae_score, factorvae_score
from untwine.metrics._sampling import SameValueSampler

GRID = SimpleNamespace(factors=grid_factors((3, 4, 5)))
SMALL = dict(batch_size=16, num_train=300, num_eval=200)


def _encoder(matrix: np.ndarray, noise: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = GRID.factors / np.array([3, 4, 5]) @ matrix
    codes = codes + noise * rng.standard_normal(codes.shape)
    return lambda rows: codes[rows]


def test_same_value_draws_share_the_fixed_factor_and_cover_the_rest():
    sampler = SameValueSampler(GRID)
    rng = np.random.default_rng(0)
    factor = np.array([0, 1, 2, 2])
    rows = rng.integers(len(GRID.factors), size=(4, 500))
    drawn = sampler.same_value(rng, factor, rows)
    for i, k in enumerate(factor):
        np.testing.assert_array_equal(GRID.factors[drawn[i], k], GRID.factors[rows[i], k])
        other = [j for j in range(3) if j != k]
        assert len(np.unique(GRID.factors[drawn[i]][:, other], axis=0)) > 5


def test_a_disentangled_code_scores_1_and_extra_or_permuted_dimensions_change_nothing():
    identity = np.hstack([np.eye(3), np.zeros((3, 2))])  # two dimensions that never move
    result = factorvae_score(GRID, _encoder(identity), **SMALL)
    assert result.score == 1.0 and result.train_accuracy == 1.0
    assert result.active.tolist() == [True, True, True, False, False]
    assert result.votes[:, 3:].sum() == 0  # dead dimensions never vote
    np.testing.assert_array_equal(result.votes.argmax(axis=0)[:3], [0, 1, 2])
    permuted = factorvae_score(GRID, _encoder(identity[:, [2, 0, 4, 1, 3]]), **SMALL)
    assert permuted.score == 1.0
    assert betavae_score(GRID, _encoder(identity), **SMALL).score == 1.0


def test_an_entangled_code_scores_lower():
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))
    assert factorvae_score(GRID, _encoder(q, noise=0.3), **SMALL).score < 0.9
    noise_only = _encoder(np.zeros((3, 3)), noise=1.0)
    assert betavae_score(GRID, noise_only, **SMALL).score < 0.6


def test_no_active_dimension_scores_0_and_single_valued_factors_are_never_fixed():
    flat = factorvae_score(GRID, _encoder(np.zeros((3, 2)), noise=0.0), **SMALL)
    assert flat.score == 0.0 and not flat.active.any()
    with_constant = SimpleNamespace(factors=np.hstack([GRID.factors, np.zeros((60, 1), int)]))
    result = factorvae_score(with_constant, _encoder(np.eye(3)), **SMALL)
    assert result.votes[3].sum() == 0 and result.score == 1.0


def test_bad_input():
    with pytest.raises(MetricError, match="dataset.factors must be integers"):
        factorvae_score(SimpleNamespace(factors=GRID.factors + 0.5), _encoder(np.eye(3)), **SMALL)
    with pytest.raises(MetricError, match=r"encode\(rows\) must return \[len\(rows\), D\]"):
        factorvae_score(GRID, lambda rows: np.zeros(len(rows)), **SMALL)
    with pytest.raises(MetricError, match="non-finite"):
        betavae_score(GRID, lambda rows: np.full((len(rows), 2), np.nan), **SMALL)
    one = SimpleNamespace(factors=GRID.factors[:, :1])
    with pytest.raises(MetricError, match="needs >= 2 that vary"):
        betavae_score(one, lambda rows: rows[:, None] * 1.0, **SMALL)
