"""SAP and Explicitness against scikit-learn computed the way disentanglement_lib does, by a
loop."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

from untwine.metrics import MetricError, explicitness, sap
from untwine.metrics._linear_svc import fit

# The problem _linear_svc replays, every option spelled out: liblinear's primal trust-region Newton
# solver (dual=False) on the squared hinge loss with an l2 penalty and a regularized bias.
SVC_OPTIONS = dict(C=0.01, class_weight="balanced", penalty="l2", loss="squared_hinge", dual=False,
                   tol=1e-4, fit_intercept=True, intercept_scaling=1, max_iter=1000)


def _split(seed: int, sizes=(2, 3, 12), n: int = 900, dims: int = 4):
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((len(sizes), dims))

    def draw(m):
        f = rng.integers(0, sizes, size=(m, len(sizes)))
        return f / np.array(sizes) @ mixing + 0.3 * rng.standard_normal((m, dims)), f

    return (*draw(n), *draw(n // 2))


@pytest.mark.parametrize("k", [2, 3, 9])
def test_one_feature_svc_matches_liblinear(k):
    rng = np.random.default_rng(k)
    labels = np.minimum(rng.geometric(0.3, size=700) - 1, k - 1)  # unbalanced classes
    x = labels[:, None] * rng.uniform(0.2, 1.0, size=(1, 3)) + rng.standard_normal((700, 3))
    w, b = fit(x, labels, k)
    for d in range(3):
        svc = LinearSVC(**SVC_OPTIONS).fit(x[:, d : d + 1], labels)
        np.testing.assert_allclose(w[d], svc.coef_.ravel(), atol=1e-9)
        np.testing.assert_allclose(b[d], svc.intercept_, atol=1e-9)


def test_disentanglement_libs_svc_call_is_the_primal_problem_replayed():
    """disentanglement_lib calls LinearSVC(C=0.01, class_weight="balanced") and leaves dual to the
    installed scikit-learn: from 1.5 on its default dual="auto" picks the primal solver for one
    feature and more samples, the problem SVC_OPTIONS spells out (before 1.5 it solved the dual;
    pyproject admits scikit-learn >= 1.5 only)."""
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 4, size=500)
    x = labels[:, None] * 0.3 + rng.standard_normal((500, 1))
    dlib = LinearSVC(C=0.01, class_weight="balanced").fit(x, labels)
    spelled = LinearSVC(**SVC_OPTIONS).fit(x, labels)
    np.testing.assert_array_equal(dlib.coef_, spelled.coef_)
    np.testing.assert_array_equal(dlib.intercept_, spelled.intercept_)


def test_sap_score_matrix_is_disentanglement_libs():
    ztr, ftr, zte, fte = _split(0)
    result = sap(ztr, ftr, zte, fte)
    expected = np.zeros_like(result.score_matrix)
    for d in range(ztr.shape[1]):
        for k in range(ftr.shape[1]):
            svc = LinearSVC(**SVC_OPTIONS).fit(ztr[:, [d]], ftr[:, k])
            expected[d, k] = np.mean(svc.predict(zte[:, [d]]) == fte[:, k])
    np.testing.assert_allclose(result.score_matrix, expected, atol=1e-12)
    top = np.sort(expected, axis=0)
    assert result.score == pytest.approx(np.mean(top[-1] - top[-2]), abs=1e-12)


def test_sap_continuous_is_squared_correlation():
    ztr, ftr, _, _ = _split(1)
    result = sap(ztr, ftr, continuous=True)
    for d in range(ztr.shape[1]):
        for k in range(ftr.shape[1]):
            r = np.corrcoef(ztr[:, d], ftr[:, k])[0, 1]
            assert result.score_matrix[d, k] == pytest.approx(r**2, abs=1e-12)


def test_sap_of_a_disentangled_code_is_large_and_a_constant_dimension_scores_chance():
    rng = np.random.default_rng(2)
    f = rng.integers(0, 4, size=(1200, 2))
    z = np.hstack([f + 0.05 * rng.standard_normal(f.shape), np.zeros((1200, 1))])
    result = sap(z, f)  # the last third is held out
    assert result.score > 0.45
    np.testing.assert_array_equal(result.score_matrix.argmax(axis=0), [0, 1])
    # A constant dimension: the balanced SVC predicts one class, about a quarter of the time right.
    assert np.all(result.score_matrix[2] < 0.4)


def test_sap_bad_input():
    ztr, ftr, zte, fte = _split(3)
    with pytest.raises(MetricError, match="pass both codes_test and factors_test"):
        sap(ztr, ftr, codes_test=zte)
    with pytest.raises(MetricError, match="codes_test has 3 dimensions but codes_train has 4"):
        sap(ztr, ftr, zte[:, :3], fte)
    with pytest.raises(MetricError, match=r"factors_test\[0, 0\] is \d+\.5"):
        sap(ztr, ftr, zte, fte + 0.5)


def _dlib_explicitness(ztr, ftr, zte, fte):
    mean, std = ztr.mean(0), ztr.std(0)
    xtr, xte = (ztr - mean) / std, (zte - mean) / std
    train, test = [], []
    for k in range(ftr.shape[1]):
        clf = LogisticRegression().fit(xtr, ftr[:, k])
        mlb = MultiLabelBinarizer()
        train.append(roc_auc_score(mlb.fit_transform(ftr[:, [k]]), clf.predict_proba(xtr)))
        test.append(roc_auc_score(mlb.fit_transform(fte[:, [k]]), clf.predict_proba(xte)))
    return np.mean(train), np.mean(test)


def test_explicitness_is_disentanglement_libs():
    ztr, ftr, zte, fte = _split(4)
    result = explicitness(ztr, ftr, zte, fte)
    train, test = _dlib_explicitness(ztr, ftr, zte, fte)
    assert result.train == pytest.approx(train, abs=1e-12)
    assert result.test == pytest.approx(test, abs=1e-12)


def test_explicitness_survives_a_constant_dimension_unchanged():
    ztr, ftr, zte, fte = _split(5)
    padded = [np.hstack([z, np.full((len(z), 1), 3.0)]) for z in (ztr, zte)]
    with_constant = explicitness(padded[0], ftr, padded[1], fte)
    without = explicitness(ztr, ftr, zte, fte)
    assert with_constant.constant_dimensions == (4,)
    assert with_constant.test == pytest.approx(without.test, abs=1e-12)
    assert np.isfinite(with_constant.per_factor_train).all()


def test_explicitness_of_noise_is_chance_and_of_the_factors_near_one():
    rng = np.random.default_rng(6)
    f = rng.integers(0, 3, size=(1500, 2))
    noise = rng.standard_normal((1500, 2))
    assert explicitness(noise[:1000], f[:1000], noise[1000:], f[1000:]).test == pytest.approx(0.5, abs=0.05)
    onehot = np.hstack([f == v for v in range(3)]).astype(float) + 0.01 * rng.standard_normal((1500, 6))
    assert explicitness(onehot[:1000], f[:1000], onehot[1000:], f[1000:]).test > 0.99


def test_explicitness_averages_over_the_classes_each_split_holds():
    ztr, ftr, zte, fte = _split(7)
    keep = fte[:, 2] != 5  # the test split loses one of the 12 values of factor 2
    partial = explicitness(ztr, ftr, zte[keep], fte[keep])
    clf = LogisticRegression().fit((ztr - ztr.mean(0)) / ztr.std(0), ftr[:, 2])
    proba = clf.predict_proba((zte[keep] - ztr.mean(0)) / ztr.std(0))
    present = clf.classes_ != 5
    expected = roc_auc_score(fte[keep, 2][:, None] == clf.classes_[present], proba[:, present])
    assert partial.per_factor_test[2] == pytest.approx(expected, abs=1e-12)
