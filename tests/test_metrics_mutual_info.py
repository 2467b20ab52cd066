"""MIG, Modularity and MIC: closed forms, invariances, an independent MI computation, and bad
input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from untwine.data.shapes import grid_factors
from untwine.metrics import MetricError, mic, mig, modularity
from untwine.metrics._mutual_info import binned_mutual_info, histogram_discretize


def _noisy_codes(seed: int = 0, n: int = 3000):
    rng = np.random.default_rng(seed)
    factors = rng.integers(0, [3, 6, 40, 32], size=(n, 4))
    codes = factors @ rng.standard_normal((4, 6)) + rng.standard_normal((n, 6))
    return codes, factors


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binning_is_numpys_histogram_then_digitize(dtype):
    codes, _ = _noisy_codes()
    codes = codes.astype(dtype)
    codes[:, 2] = 1.25  # a constant dimension: np.histogram widens its range by 0.5
    expected = np.stack([np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in codes.T], axis=1)
    np.testing.assert_array_equal(histogram_discretize(codes, 20), expected)


def test_mi_matrix_and_entropies_match_sklearn_pair_by_pair():
    codes, factors = _noisy_codes()
    mi, entropy = binned_mutual_info(codes, factors, bins=20)
    binned = np.stack([np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in codes.T], axis=1)
    for d in range(codes.shape[1]):
        for k in range(factors.shape[1]):
            assert mi[d, k] == pytest.approx(mutual_info_score(factors[:, k], binned[:, d]), abs=1e-12)
    for k in range(factors.shape[1]):
        assert entropy[k] == pytest.approx(mutual_info_score(factors[:, k], factors[:, k]), abs=1e-12)


def test_perfect_code_of_20_value_factors_has_mig_1():
    factors = grid_factors((20, 20, 20))  # balanced: independent factors share exactly 0 nats
    result = mig(factors.astype(np.float64), factors)
    assert result.score == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(result.mutual_info, np.diag(result.entropy), atol=1e-12)


def test_perfect_code_of_a_40_value_factor_scores_log20_over_log40():
    # The histogram quirk: 40 values in 20 bins merge in pairs, so I = log 20 while H = log 40.
    factors = grid_factors((40, 20))
    result = mig(factors.astype(np.float64), factors)
    assert result.per_factor[0] == pytest.approx(np.log(20) / np.log(40), abs=1e-12)
    assert result.per_factor[1] == pytest.approx(1.0, abs=1e-12)


def test_a_random_rotation_lowers_mig():
    factors = grid_factors((20, 20, 20))
    codes = factors / 19.0
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    assert mig(codes @ q, factors).score < mig(codes, factors).score - 0.5


def test_permuting_and_rescaling_dimensions_changes_nothing():
    codes, factors = _noisy_codes(seed=2)
    perm = np.array([4, 0, 5, 2, 1, 3])
    scale = np.array([2.0, -4.0, 0.5, -1.0, 8.0, 0.25])  # powers of two: the bins move exactly
    moved = codes[:, perm] * scale
    before, after = mig(codes, factors), mig(moved, factors)
    assert after.score == pytest.approx(before.score, abs=1e-12)
    np.testing.assert_allclose(after.mutual_info, before.mutual_info[perm], atol=1e-12)
    assert modularity(moved, factors).score == pytest.approx(modularity(codes, factors).score, abs=1e-12)


def test_a_constant_dimension_counts_as_no_information():
    codes, factors = _noisy_codes(seed=3)
    with_constant = np.hstack([codes, np.full((len(codes), 1), 7.0)])
    result = mig(with_constant, factors)
    np.testing.assert_allclose(result.mutual_info[-1], 0.0, atol=1e-15)
    assert result.score == pytest.approx(mig(codes, factors).score, abs=1e-12)


def test_modularity_closed_form_and_the_zero_for_uninformative_dimensions():
    factors = np.tile(grid_factors((4, 4)), (10, 1))
    codes = np.stack(
        [factors[:, 0], factors[:, 1], 4 * factors[:, 0] + factors[:, 1], np.zeros(len(factors))],
        axis=1,
    ).astype(np.float64)
    # Dimensions 0, 1 inform about one factor (1 each); dimension 2 about both equally
    # (1 - 1/(K-1) = 0); the constant one about none (disentanglement_lib's 0).
    result = modularity(codes, factors)
    np.testing.assert_allclose(result.per_dimension, [1.0, 1.0, 0.0, 0.0], atol=1e-12)
    assert result.score == pytest.approx(0.5, abs=1e-12)


def test_mic_by_hand():
    factors = np.tile(grid_factors((4, 4)), (5, 1))
    codes = np.stack([factors[:, 0], factors[:, 1], factors[:, 0]], axis=1).astype(np.float64)
    # I(d0; f0) = I(d2; f0) = I(d1; f1) = log 4 = H(f); every other pair shares 0 nats.
    r = mic(codes, factors, subset=[0, 1])
    np.testing.assert_allclose(r.per_factor, [(1 + 0 - 1) / 1, (0 + 1 - 0) / 1], atol=1e-12)
    r = mic(codes, factors, subset=[0, 2])
    np.testing.assert_allclose(r.per_factor, [2.0, -1.0], atol=1e-12)
    assert r.score == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize(
    ("codes", "factors", "message"),
    [
        (
            np.zeros((10, 2)),
            np.zeros((9, 1), dtype=int),
            "factors has 9 rows but the codes have 10",
        ),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), np.array([[0], [1]]), r"codes\[0, 1\] is nan"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), np.array([[0], [1]]), r"codes\[0, 1\] is inf"),
        (
            np.ones((4, 2)) * [[1], [2], [3], [4]],
            np.array([[0.0], [0.5], [1], [1]]),
            r"factors\[1, 0\] is 0.5",
        ),
        (
            np.arange(8.0).reshape(4, 2),
            np.array([[0, 3], [1, 3], [0, 3], [1, 3]]),
            r"factors\[:, 1\] takes a single value \(3\)",
        ),
        (np.arange(4.0), np.array([[0], [1], [0], [1]]), r"codes must be a 2-D array"),
    ],
)
def test_bad_input_raises_a_metric_error_naming_the_argument(codes, factors, message):
    for metric in (mig, modularity):
        with pytest.raises(MetricError, match=message):
            metric(codes, factors)


def test_bad_parameters():
    codes, factors = _noisy_codes(n=100)
    with pytest.raises(MetricError, match="bins must be an integer >= 2"):
        mig(codes, factors, bins=1)
    with pytest.raises(MetricError, match="subset must list distinct code dimensions in 0..5"):
        mic(codes, factors, subset=[0, 6])
    with pytest.raises(MetricError, match="MIG compares the two best"):
        mig(codes[:, :1], factors)
    assert isinstance(MetricError("x"), ValueError)
