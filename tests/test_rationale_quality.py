"""The ground-truth measures of issue 17: localization metrics against independent computations, the
deletion/insertion curves in closed form, and the two sets whose cause is known pixel by pixel."""

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation
from sklearn.metrics import roc_auc_score

from untwine.data import blobs, nodules
from untwine.data.blobs import blob_masks, blob_region
from untwine.data.nodules import nodule_masks
from untwine.explain.faithfulness import deletion_insertion
from untwine.metrics.mask_auroc import mask_auroc
from untwine.metrics.mask_mass import mask_mass
from untwine.metrics.pointing_game import pointing_game


def test_localization_metrics_against_sklearn_and_by_hand():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(5, 6, 6))
    masks = rng.random((5, 6, 6)) < 0.3
    for i in range(5):
        assert mask_auroc(maps, masks)[i] == pytest.approx(roc_auc_score(masks[i].ravel(), np.abs(maps[i]).ravel()))
        assert mask_mass(maps, masks)[i] == pytest.approx(np.abs(maps[i])[masks[i]].sum() / np.abs(maps[i]).sum())
    ties = np.zeros((1, 2, 2))
    ties[0, 0, 0] = 1.0
    assert mask_auroc(np.zeros((1, 2, 2)), np.eye(2, dtype=bool)[None])[0] == 0.5  # all tied: chance
    assert mask_auroc(ties, np.array([[[True, False], [False, False]]]))[0] == 1.0
    assert np.isnan(mask_auroc(ties, np.zeros((1, 2, 2), bool))[0])
    peak = np.zeros((2, 5, 5))
    peak[0, 0, 0] = peak[1, 4, 4] = -3.0  # the largest |value| counts, whatever its sign
    mask = np.zeros((2, 5, 5), bool)
    mask[:, 1, 1] = True
    assert pointing_game(peak, mask, tolerance=0).tolist() == [False, False]
    assert pointing_game(peak, mask, tolerance=1).tolist() == [True, False]  # (0,0) touches (1,1)


def test_deletion_and_insertion_of_a_mean_brightness_model_follow_the_ranking():
    class Mean(torch.nn.Module):  # "P(class 0)" = mean intensity: each pixel adds 1/16
        def forward(self, x):
            p = x.mean((1, 2, 3))[:, None]
            return torch.cat([p, 1 - p], 1)

    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, :2] = 1.0  # two bright pixels
    good = x[0, 0].numpy()[None]  # ranks the two bright pixels first
    curves = deletion_insertion(Mean(), x, good, np.array([0]), fill=0.0, steps=8)
    # removing 2 of 16 pixels (fraction 1/8) removes all the brightness; restoring them restores it
    assert curves.deletion[0, 0] == pytest.approx(2 / 16) and np.allclose(curves.deletion[0, 1:], 0)
    assert curves.insertion[0, 0] == 0 and np.allclose(curves.insertion[0, 1:], 2 / 16)
    bad = -good + 1  # ranks them last
    worse = deletion_insertion(Mean(), x, bad, np.array([0]), fill=0.0, steps=8)
    assert worse.deletion_area[0] > curves.deletion_area[0] and worse.insertion_area[0] < curves.insertion_area[0]


@pytest.mark.parametrize("source, masks_of", [(blobs, blob_masks), (nodules, nodule_masks)])
def test_each_positive_image_has_a_causal_mask_and_the_class_lives_in_it(source, masks_of):
    data = source(n=60, seed=2)
    masks = masks_of(n=60, seed=2)
    assert masks.shape == (60, 28, 28)
    positive = data.labels == 1
    assert masks[positive].reshape(positive.sum(), -1).any(1).all() and not masks[~positive].any()
    x = data.images().float().numpy()[:, 0] / 255
    # the causal pixels are brighter than the ring of pixels around them
    contrast = [x[i][masks[i]].mean() - x[i][binary_dilation(masks[i], iterations=2) & ~masks[i]].mean()
                for i in np.flatnonzero(positive)]
    assert min(contrast) > 0.02 and np.mean(contrast) > 0.08
    if source is blobs:
        assert (masks[positive] <= blob_region(28)[None] | masks[positive]).all()
        assert (masks[positive] & blob_region(28)[None]).reshape(positive.sum(), -1).any(1).all()


def test_split_rows_line_masks_up_with_the_split():
    data = nodules(n=40, seed=1)
    train_rows, test_rows = data.split_rows(0.25, seed=3)
    _, test = data.split(0.25, seed=3)
    assert torch.equal(test.images(), data.images(test_rows)) and len(train_rows) + len(test_rows) == 40
