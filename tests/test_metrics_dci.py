"""DCI: the entropy scores in closed form, and the default learner against scikit-learn's
GradientBoostingClassifier itself (disentanglement_lib's learner) on varied codes: identical where
no two splits tie, within scikit-learn's own random-state spread where they do."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier

from untwine.metrics import MetricError, dci
from untwine.metrics import _gradient_boosting as gb
from untwine.metrics.dci import scores_from_importance

KEYS = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")


def _split(seed: int, kind: str, sizes=(3, 4, 6), n: int = 500):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(np.random.default_rng(99).standard_normal((len(sizes) + 1,) * 2))

    def draw(m):
        f = rng.integers(0, sizes, size=(m, len(sizes)))
        u = np.hstack([(f + 0.5) / np.array(sizes) - 0.5, np.zeros((m, 1))])
        noise = 0.02 * rng.standard_normal((m, len(sizes) + 1))
        if kind == "axis":
            return u + noise, f
        if kind == "rotated":
            return u @ q + noise, f
        if kind == "mixed":  # every dimension a linear mix of all factors
            mixing = np.eye(len(sizes) + 1) + 0.3 * np.random.default_rng(98).standard_normal(q.shape)
            return u @ mixing + noise, f
        if kind == "noisy":
            return u + 0.5 * rng.standard_normal(u.shape), f
        if kind == "constant":  # the last dimension never varies
            return np.hstack([u[:, :-1] + noise[:, :-1], np.full((m, 1), 0.3)]), f
        if kind == "discrete":  # integer codes: ties between values everywhere
            return np.column_stack([f[:, 0], f[:, 1] + rng.integers(0, 2, m), rng.integers(0, 3, m), f[:, 2] // 2]), f
        raise ValueError(kind)

    return (*draw(n), *draw(n // 2))


def _sklearn(split, random_state: int = 0):
    """disentanglement_lib's computation, written out: one GradientBoostingClassifier per factor."""
    ztr, ftr, zte, fte = split
    importance = np.zeros((ztr.shape[1], ftr.shape[1]))
    train, test, predicted = [], [], []
    for k in range(ftr.shape[1]):
        model = GradientBoostingClassifier(random_state=random_state).fit(ztr, ftr[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        train.append(np.mean(model.predict(ztr) == ftr[:, k]))
        test.append(np.mean(model.predict(zte) == fte[:, k]))
        predicted.append(model.predict(np.vstack([ztr, zte])))
    return importance, np.mean(train), np.mean(test), np.stack(predicted, axis=1)


def _dlib_scores(importance):
    """disentanglement_lib's dci.disentanglement / completeness, written out."""
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    m = importance if importance.sum() > 0 else np.ones_like(importance)
    return (
        np.sum(per_code * m.sum(axis=1) / m.sum()),
        np.sum(per_factor * m.sum(axis=0) / m.sum()),
    )


def test_scores_from_importance_closed_forms():
    one_to_one = np.eye(3)
    assert scores_from_importance(one_to_one)[:2] == pytest.approx((1.0, 1.0), abs=1e-9)
    assert scores_from_importance(np.ones((3, 3)))[:2] == pytest.approx((0.0, 0.0), abs=1e-9)
    # Both dimensions serve factor 0 only: each is disentangled, the factor is not complete.
    d, c, per_code, per_factor = scores_from_importance(np.array([[0.5, 0.0], [0.5, 0.0]]))
    assert (d, c) == pytest.approx((1.0, 0.0), abs=1e-9)
    # No tree ever split: disentanglement_lib weighs uniformly, and nothing is NaN.
    assert scores_from_importance(np.zeros((3, 2)))[:2] == pytest.approx((0.0, 0.0), abs=1e-9)
    m = np.random.default_rng(0).dirichlet(np.ones(4), size=5).T  # [5 dims, 4 factors]
    assert scores_from_importance(m)[:2] == pytest.approx(_dlib_scores(m), abs=1e-12)


@pytest.mark.parametrize(
    ("kind", "sizes", "n"),
    [("rotated", (2, 2, 2), 400), ("discrete", (3, 4, 6), 300), ("axis", (3, 5), 400)],
)
def test_default_learner_is_gradient_boosting_classifier_where_no_splits_tie(kind, sizes, n):
    """Two-class factors, integer codes and well-separated continuous ones: no two candidate
    splits ever tie, so the trees, predictions and importances are scikit-learn's."""
    split = _split(4, kind, sizes, n)
    result = dci(*split, threads=1)
    importance, train, test, predicted = _sklearn(split)
    np.testing.assert_allclose(result.importance, importance, atol=1e-9)
    assert (result.disentanglement, result.completeness) == pytest.approx(_dlib_scores(importance), abs=1e-9)
    assert (result.informativeness_train, result.informativeness_test) == (train, test)
    ztr, ftr, zte, _ = split
    for k in range(ftr.shape[1]):
        ours = gb.fit(gb.presort(ztr), ftr[:, k])
        np.testing.assert_array_equal(ours.predict(np.vstack([ztr, zte])), predicted[:, k])


@pytest.mark.parametrize(
    ("kind", "sizes", "tolerance"),
    # 40 classes in 300 samples: nodes of a few samples, ties everywhere; scikit-learn's own
    # disentanglement spans 0.676-0.690 over random_state 0-2 there.
    [("rotated", (3, 4, 6), 0.01), ("mixed", (3, 4, 6), 0.01), ("noisy", (2, 3, 5), 0.01),
     ("constant", (2, 3, 5), 0.01), ("axis", (40, 2), 0.02)],
)
def test_default_learner_is_within_gradient_boosting_classifiers_own_spread(kind, sizes, tolerance):
    """Where splits tie (small nodes, early rounds of a few-valued gradient) scikit-learn keeps
    the first of its random feature order, so its scores move with random_state; the default
    learner's stay as close to random_state=0's as another random_state's would."""
    split = _split(5, kind, sizes, n=300)
    result = dci(*split)
    importance, train, test, _ = _sklearn(split)
    expected = (*_dlib_scores(importance), train, test)
    for key, value in zip(KEYS, expected, strict=True):
        assert getattr(result, key) == pytest.approx(value, abs=tolerance), key
    np.testing.assert_allclose(result.importance, importance, atol=2 * tolerance)


def test_duplicated_dimension_splits_its_importance_at_random_as_scikit_learn_does():
    """Two identical code dimensions tie at every split: scikit-learn credits whichever its random
    order visits first, and so does the default learner; what they share, and every prediction,
    is the same."""
    ztr, ftr, zte, fte = _split(6, "axis", (2, 3, 5), n=400)
    split = (np.hstack([ztr, ztr[:, :1]]), ftr, np.hstack([zte, zte[:, :1]]), fte)
    result = dci(*split)
    importance, train, test, _ = _sklearn(split)
    pair = [0, ztr.shape[1]]
    np.testing.assert_allclose(result.importance[pair].sum(axis=0), importance[pair].sum(axis=0), atol=1e-3)
    assert 0.2 < result.importance[0, 0] / result.importance[pair, 0].sum() < 0.8  # both credited
    assert (result.informativeness_train, result.informativeness_test) == (train, test)


def test_a_disentangled_code_scores_high_and_an_unused_dimension_gets_no_importance():
    result = dci(*_split(2, "axis"))
    assert result.disentanglement > 0.9 and result.completeness > 0.9
    assert result.informativeness_test > 0.95
    assert result.importance[3].sum() < 0.05 * result.importance.sum()
    np.testing.assert_allclose(result.importance.sum(axis=0), 1.0)


def test_dci_bad_input():
    ztr, ftr, zte, fte = _split(3, "axis", n=60)
    with pytest.raises(MetricError, match="DCI needs >= 2 code dimensions and >= 2 factors"):
        dci(ztr, ftr[:, :1], zte, fte[:, :1])
    with pytest.raises(MetricError, match="learner must be one of"):
        dci(ztr, ftr, zte, fte, learner="hist")
    with pytest.raises(MetricError, match="threads=0"):
        dci(ztr, ftr, zte, fte, threads=0)
    with pytest.raises(MetricError, match="factors_test has 2 factors but the training split has 3"):
        dci(ztr, ftr, zte, fte[:, :2])
