"""UDR and the unsupervised scores against independent computations: disentanglement_lib's UDR
procedure restated with scipy/scikit-learn one pair of dimensions at a time, and closed forms."""

import math

import numpy as np
import pytest
from scipy import linalg, stats
from sklearn import linear_model, metrics, preprocessing

from untwine.metrics._arrays import MetricError
from untwine.metrics.udr import relative_strength, udr
from untwine.metrics.unsupervised import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    unsupervised_scores,
)


def reference_udr(codes, kl, correlation, filter_low_kl=True, threshold=0.01):
    """disentanglement_lib's compute_udr_sklearn on codes already drawn, written out loop by loop."""
    reps, masks = [], []
    for z, k in zip(codes, kl, strict=True):
        scaled = preprocessing.StandardScaler().fit_transform(z)
        reps.append(scaled * (k > 0.01))
        masks.append(k > threshold)

    def strength(r):
        x = np.nan_to_num(np.max(r, axis=0) ** 2 / np.sum(r, axis=0))
        y = np.nan_to_num(np.max(r, axis=1) ** 2 / np.sum(r, axis=1))
        return (np.nanmean(x) + np.nanmean(y)) / 2

    m, d = len(codes), codes[0].shape[1]
    pair = np.zeros((m, m))
    for a in range(m):
        for b in range(m):
            if a == b:
                continue
            if correlation == "spearman":
                r = np.empty((d, d))
                for i in range(d):
                    for j in range(d):
                        with _quiet():
                            r[i, j] = abs(stats.spearmanr(reps[a][:, i], reps[b][:, j])[0])
            else:
                r = np.abs(linear_model.Lasso(alpha=0.1, random_state=0).fit(reps[a], reps[b]).coef_).T
            if filter_low_kl:
                r = r[masks[a]][:, masks[b]]
            pair[a, b] = strength(r)
    return np.array([np.median([pair[a, b] for a in range(m) if a != b]) for b in range(m)]), pair


class _quiet:
    """Silence scipy's warning for the constant (inactive) dimensions, whose correlation is NaN."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def models_of_one_setting(n=400, d=6, count=4, seed=0):
    """Codes of `count` models: the same 4 sources, permuted, sign-flipped, mixed to different degrees
    and with seed noise; dimensions 4 and 5 inactive (tiny KL) in every model, one more in model 2."""
    rng = np.random.default_rng(seed)
    sources = rng.standard_normal((n, 4))
    codes, kl = [], []
    for m in range(count):
        mixing = np.eye(4) + (0.15 * m) * rng.standard_normal((4, 4))
        active = sources @ mixing[:, rng.permutation(4)] * rng.choice([-1, 1], 4)
        z = np.concatenate([active + 0.1 * rng.standard_normal((n, 4)),
                            0.01 * rng.standard_normal((n, 2))], axis=1)
        k = np.array([1.5, 1.2, 0.9, 0.7, 0.001, 0.005])
        if m == 2:
            k[3] = 0.008  # dimension 3 counted inactive for this model
        codes.append(z)
        kl.append(k)
    return codes, kl


@pytest.mark.parametrize("correlation", ["spearman", "lasso"])
@pytest.mark.parametrize("filter_low_kl", [True, False])
def test_udr_equals_disentanglement_libs_procedure(correlation, filter_low_kl):
    codes, kl = models_of_one_setting()
    result = udr(codes, kl, correlation, filter_low_kl=filter_low_kl)
    expected_scores, expected_pairs = reference_udr(codes, kl, correlation, filter_low_kl)
    np.testing.assert_allclose(result.pairwise, expected_pairs, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(result.model_scores, expected_scores, rtol=1e-6, atol=1e-9)
    assert result.active.sum(1).tolist() == [4, 4, 3, 4]


def test_udr_with_a_threshold_above_the_hard_coded_one():
    codes, kl = models_of_one_setting(count=3, seed=1)
    result = udr(codes, kl, "spearman", kl_threshold=1.0)  # only the two strongest dimensions count
    expected, _ = reference_udr(codes, kl, "spearman", threshold=1.0)
    np.testing.assert_allclose(result.model_scores, expected, rtol=1e-6)


def test_udr_is_one_for_permuted_sign_flipped_copies_and_low_for_rotated_ones():
    rng = np.random.default_rng(0)
    sources = rng.uniform(-1, 1, (20_000, 3))
    kl = [np.ones(3)] * 2
    copy = sources[:, [2, 0, 1]] * np.array([-1, 1, -1])
    # independent dimensions still correlate by ~1/sqrt(N) in a sample; hence not exactly 1
    assert udr([sources, copy], kl).model_scores == pytest.approx([1.0, 1.0], abs=0.05)
    angle = math.pi / 4  # a 45-degree rotation of two of the dimensions mixes them evenly
    rotation = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0],
                         [0, 0, 1]])
    rotated = udr([sources, sources @ rotation], kl).model_scores
    assert (rotated < 0.8).all(), rotated


def test_inactive_dimensions_are_filtered_by_kl():
    """disentanglement_lib's test: one informative dimension and noise, KL 1 on the first only."""
    rng = np.random.default_rng(0)
    informative = rng.standard_normal((1000, 1))
    codes = [np.concatenate([informative, rng.random((1000, 4))], 1) for _ in range(2)]
    kl = [np.array([1.0, 0, 0, 0, 0])] * 2
    assert udr(codes, kl, filter_low_kl=True).model_scores == pytest.approx([1.0, 1.0])
    assert (udr(codes, kl, filter_low_kl=False).model_scores < 0.2).all()


def test_relative_strength_on_disentanglement_libs_matrices():
    assert relative_strength(np.eye(3)) == 1.0
    assert relative_strength(np.array([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])) == pytest.approx(2 / 3)
    assert relative_strength(np.ones((3, 3))) == pytest.approx(1 / 3)
    assert relative_strength(np.zeros((3, 3))) == 0.0
    assert relative_strength(np.zeros((0, 2))) == 0.0  # no active dimension: 0 (disentanglement_lib raises)


def test_udr_errors_name_the_argument():
    codes, kl = models_of_one_setting(count=2)
    with pytest.raises(MetricError, match="correlation"):
        udr(codes, kl, "pearson")
    with pytest.raises(MetricError, match=">= 2 models"):
        udr(codes[:1], kl[:1])
    with pytest.raises(MetricError, match=r"kl\[1\]"):
        udr(codes, [kl[0], kl[1][:3]])
    with pytest.raises(MetricError, match="same N images"):
        udr([codes[0], codes[1][:10]], kl)


# The unsupervised scores


def test_gaussian_total_correlation_closed_form_and_determinant_formula():
    rho = 0.8
    assert gaussian_total_correlation(np.array([[1.0, rho], [rho, 1.0]])) == pytest.approx(
        -0.5 * math.log(1 - rho**2))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    cov = a @ a.T + np.eye(5)
    diag = np.diag(np.diag(cov))
    # KL(N(0, cov) || N(0, diag)) by the textbook formula
    kl = 0.5 * (np.trace(np.linalg.inv(diag) @ cov) - 5 + math.log(np.linalg.det(diag) / np.linalg.det(cov)))
    assert gaussian_total_correlation(cov) == pytest.approx(kl, rel=1e-10)
    assert gaussian_total_correlation(np.diag([1.0, 2.0, 3.0])) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(gaussian_total_correlation(np.diag([1.0, 0.0])))


def test_gaussian_wasserstein_correlation_closed_form_and_matrix_square_root():
    rho = 0.6  # unit variances: W2^2 = 4 - 2 tr S^1/2 = 4 - 2 (sqrt(1 + rho) + sqrt(1 - rho))
    expected = 4 - 2 * (math.sqrt(1 + rho) + math.sqrt(1 - rho))
    assert gaussian_wasserstein_correlation(np.array([[1.0, rho], [rho, 1.0]])) == pytest.approx(expected)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 6))
    cov = a @ a.T + 0.5 * np.eye(6)
    by_sqrtm = 2 * np.trace(cov) - 2 * np.trace(linalg.sqrtm(cov * np.diag(cov)[:, None])).real
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(by_sqrtm, rel=1e-8)


def test_unsupervised_scores_against_scipy_and_sklearn():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((3000, 4)) @ rng.standard_normal((4, 4))
    result = unsupervised_scores(z)
    cov = np.cov(z.T)
    assert result.gaussian_total_correlation == pytest.approx(gaussian_total_correlation(cov))
    assert result.gaussian_wasserstein_correlation_norm == pytest.approx(
        result.gaussian_wasserstein_correlation / np.trace(cov))
    binned = [np.digitize(z[:, d], np.histogram(z[:, d], 20)[1][:-1]) for d in range(4)]
    pairs = [metrics.mutual_info_score(binned[i], binned[j]) for i in range(4) for j in range(4) if i != j]
    assert result.mutual_info_score == pytest.approx(np.mean(pairs), rel=1e-10)
    independent = unsupervised_scores(rng.standard_normal((20_000, 3)))
    assert independent.gaussian_total_correlation < 1e-3
    assert independent.gaussian_wasserstein_correlation < 1e-2
    assert independent.mutual_info_score < 0.02 < result.mutual_info_score
