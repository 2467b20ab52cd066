"""The lesion protocol's metrics, each against an independent computation or a closed form."""

import warnings

import numpy as np
import pytest
from skimage.draw import ellipse
from skimage.metrics import peak_signal_noise_ratio
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from untwine.data import DataError
from untwine.data.mask_factors import binarize_at_median, mask_factors, measure_masks
from untwine.metrics import MetricError
from untwine.metrics.clustering import gmm_nmi
from untwine.metrics.few_label import few_label_accuracy
from untwine.metrics.psnr import psnr
from untwine.protocols.lesions import one_vs_all


def test_psnr_matches_scikit_image_per_image_and_a_closed_form():
    rng = np.random.default_rng(0)
    x = rng.random((5, 3, 8, 8))
    y = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1)
    result = psnr(x, y)
    expected = [peak_signal_noise_ratio(x[i], y[i], data_range=1.0) for i in range(5)]
    assert np.allclose(result.per_image, expected)
    assert result.score == pytest.approx(np.mean(expected))
    # a constant error of 0.1 everywhere: 10 log10(1 / 0.01) = 20 dB
    assert psnr(np.zeros((2, 4, 4)), np.full((2, 4, 4), 0.1)).score == pytest.approx(20.0)
    assert psnr(np.zeros((1, 4)), np.full((1, 4), 25.5), data_range=255).score == pytest.approx(20.0)
    with pytest.raises(MetricError, match="same shape"):
        psnr(x, y[:, :2])


def _nmi_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) / ((H(a) + H(b)) / 2) from the contingency table."""
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    p = table / table.sum()
    pa, pb = p.sum(1), p.sum(0)
    nz = p > 0
    mi = (p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum()
    h = lambda q: -(q[q > 0] * np.log(q[q > 0])).sum()  # noqa: E731
    return mi / ((h(pa) + h(pb)) / 2)


def test_gmm_nmi_is_the_mean_nmi_of_independent_fits():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 40)
    codes = rng.normal(size=(120, 4)) + 4 * np.eye(3, 4)[labels]  # three well-separated clusters
    result = gmm_nmi(codes, labels, components=3, realizations=4, seed=7)
    expected = [_nmi_by_hand(labels, GaussianMixture(3, random_state=7 + r).fit_predict(codes))
                for r in range(4)]
    assert np.allclose(result.per_realization, expected)
    assert result.score == pytest.approx(np.mean(expected)) and result.score > 0.9
    # codes that carry nothing about the classes cluster at chance
    noise = gmm_nmi(rng.normal(size=(120, 4)), labels, components=7, realizations=3)
    assert noise.score < 0.1
    with pytest.raises(MetricError, match="labels has 3 entries"):
        gmm_nmi(codes, labels[:3])


def test_few_label_accuracy_trains_on_each_fold_and_tests_on_the_rest():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], [80, 80, 40])
    codes = rng.normal(size=(200, 2))
    codes[:, 0] += 10 * labels  # class is readable from dimension 0
    result = few_label_accuracy(codes, labels, folds=10, seed=3)
    folds = list(StratifiedKFold(10, shuffle=True, random_state=3).split(codes, labels))
    assert result.train_size.tolist() == [len(test) for _, test in folds] == [20] * 10
    # the roles of k-fold swapped: fit on the small fold, score on the 180 others
    for i, (rest, fold) in enumerate(folds[:3]):
        model = make_pipeline(StandardScaler(), MLPClassifier((100,), max_iter=1000, random_state=3 + i))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(codes[fold], labels[fold])
        assert result.per_fold[i] == pytest.approx(model.score(codes[rest], labels[rest]))
    assert result.score > 0.95 and result.std == pytest.approx(result.per_fold.std())
    # labels unrelated to the codes: accuracy near the majority rate (0.4) or below
    shuffled = rng.permutation(labels)
    chance = few_label_accuracy(rng.normal(size=(200, 5)), shuffled, folds=5, max_iter=200)
    assert chance.score < 0.5
    with pytest.raises(MetricError, match="fewer than folds=10"):
        few_label_accuracy(codes[:50], np.repeat([0, 1], [45, 5]))


def test_one_vs_all_makes_one_binary_factor_per_present_class():
    factors, classes = one_vs_all(np.array([2, 0, 2, 5]))
    assert classes.tolist() == [0, 2, 5]
    assert factors.tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize("angle", [-1.0, -0.3, 0.4, 1.2])
def test_mask_measures_recover_a_rendered_ellipses_eccentricity_orientation_and_area(angle):
    a, b = 40.0, 20.0  # semi-axes in pixels
    mask = np.zeros((160, 160), np.uint8)
    rr, cc = ellipse(80, 80, a, b, shape=mask.shape, rotation=angle)
    mask[rr, cc] = 1
    measured = measure_masks(mask[None])
    assert measured.eccentricity[0] == pytest.approx(np.sqrt(1 - (b / a) ** 2), abs=0.01)
    assert measured.size[0] == pytest.approx(np.pi * a * b / mask.size, rel=0.02)
    # skimage.draw rotates the row-axis radius by `angle` counter-clockwise: regionprops measures
    # the major axis from the row axis the same way round
    assert measured.orientation[0] == pytest.approx(angle, abs=0.02)


def test_mask_factors_binarize_each_measure_at_its_median():
    masks = np.zeros((6, 64, 64), np.uint8)
    for i in range(6):
        rr, cc = ellipse(32, 32, 6 + 3 * i, 6 + i, shape=(64, 64))
        masks[i, rr, cc] = 1
    factors, means = mask_factors(masks)
    assert factors[:, 2].tolist() == [0, 0, 0, 1, 1, 1]  # size grows with i
    assert factors[:, 0].tolist() == [0, 0, 0, 1, 1, 1]  # so does eccentricity
    classes, class_means = binarize_at_median(np.array([1.0, 2.0, 3.0, 10.0]))
    assert classes.tolist() == [0, 0, 1, 1] and class_means.tolist() == [1.5, 6.5]
    assert means[2][0] < means[2][1]
    vertical = factors[1:, 1]  # rows radius > columns radius: long along the vertical
    assert vertical.tolist() == [0] * 5


@pytest.mark.parametrize("tilt", [-0.5, -0.2, 0.2, 0.5])
def test_orientation_factor_is_horizontal_against_vertical_major_axis_whatever_the_tilt(tilt):
    masks = np.zeros((2, 64, 64), np.uint8)
    for i, rotation in enumerate([tilt, np.pi / 2 + tilt]):  # long along columns, then along rows
        rr, cc = ellipse(32, 32, 6, 18, shape=(64, 64), rotation=rotation)
        masks[i, rr, cc] = 1
    factors, means = mask_factors(masks)
    assert factors[:, 1].tolist() == [1, 0]
    assert means[1][1] == pytest.approx(np.pi / 2 - abs(tilt), abs=0.03)  # |angle| from the vertical
    assert means[1][0] == pytest.approx(abs(tilt), abs=0.03)


def test_mask_factors_refuse_an_empty_mask():
    masks = np.zeros((6, 64, 64), np.uint8)
    masks[:, 20:30, 20:40] = 1
    masks[4] = 0
    with pytest.raises(DataError, match=r"masks\[4\] is empty"):
        mask_factors(masks)
