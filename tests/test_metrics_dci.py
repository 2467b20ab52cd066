"""DCI: the entropy scores in closed form, the GBT learner against disentanglement_lib's computation
done independently, and the fast default learner within 0.05 of it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier

from untwine.metrics import MetricError, dci
from untwine.metrics.dci import scores_from_importance


def _split(seed: int, kind: str, sizes=(3, 4, 6), n: int = 500):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(np.random.default_rng(99).standard_normal((4, 4)))

    def draw(m):
        f = rng.integers(0, sizes, size=(m, len(sizes)))
        u = np.hstack([f / np.array(sizes), np.zeros((m, 1))])
        z = u @ q if kind == "rotated" else u
        return z + 0.02 * rng.standard_normal((m, 4)), f

    return (*draw(n), *draw(n // 2))


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


def test_gbt_learner_is_disentanglement_libs_computation():
    ztr, ftr, zte, fte = _split(0, "rotated", sizes=(2, 3, 4), n=300)
    result = dci(ztr, ftr, zte, fte, learner="gbt")
    importance = np.zeros((4, 3))
    train, test = [], []
    for k in range(3):
        model = GradientBoostingClassifier(random_state=0).fit(ztr, ftr[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        train.append(np.mean(model.predict(ztr) == ftr[:, k]))
        test.append(np.mean(model.predict(zte) == fte[:, k]))
    np.testing.assert_allclose(result.importance, importance, atol=1e-12)
    assert (result.disentanglement, result.completeness) == pytest.approx(_dlib_scores(importance), abs=1e-12)
    assert result.informativeness_train == pytest.approx(np.mean(train), abs=1e-12)
    assert result.informativeness_test == pytest.approx(np.mean(test), abs=1e-12)


@pytest.mark.parametrize("kind", ["axis", "rotated"])
def test_default_learner_is_within_005_of_gbt(kind):
    split = _split(1, kind)
    fast, slow = dci(*split), dci(*split, learner="gbt")
    for key in ("disentanglement", "completeness", "informativeness_train", "informativeness_test"):
        assert getattr(fast, key) == pytest.approx(getattr(slow, key), abs=0.05), key


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
    with pytest.raises(MetricError, match="learner must be 'hist' or 'gbt'"):
        dci(ztr, ftr, zte, fte, learner="xgboost")
    with pytest.raises(MetricError, match="factors_test has 2 factors but the training split has 3"):
        dci(ztr, ftr, zte, fte[:, :2])
