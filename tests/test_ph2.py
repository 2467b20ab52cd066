"""The PH2 source: the README's counts, factors named as the criteria, mask geometry, clear errors."""

from pathlib import Path

import numpy as np
import pytest

from untwine.config import load_config
from untwine.data import DataError, ph2
from untwine.data.mask_factors import measure_masks

PH2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ph2" / "ph2_128.npz"  # ../shared
pytestmark = pytest.mark.skipif(not PH2.exists(), reason="PH2 is not on this machine")


@pytest.fixture(scope="module")
def dataset():
    return ph2(PH2, size=32)


def test_labels_are_the_diagnosis_with_the_readmes_counts(dataset):
    assert len(dataset) == 200 and dataset.channels == 3 and dataset.size == 32
    assert dataset.class_names == ("common nevus", "atypical nevus", "melanoma")
    assert np.bincount(dataset.labels).tolist() == [80, 80, 40]


def test_factors_are_the_expert_criteria_then_the_mask_geometry(dataset):
    names = dataset.factor_names
    assert names[:6] == ("asymmetry", "pigment_network", "dots_globules", "streaks", "regression_areas",
                         "blue_whitish_veil")
    assert names[-3:] == ("eccentricity", "orientation", "size")
    column = dict(zip(names, dataset.factors.T, strict=True))
    assert np.bincount(column["asymmetry"]).tolist() == [117, 31, 52]
    assert np.bincount(column["dots_globules"]).tolist() == [87, 54, 59]
    assert int(column["streaks"].sum()) == 30 and int(column["blue_whitish_veil"].sum()) == 36
    colours = [int(column[f"color_{c}"].sum()) for c in
               ("white", "red", "light_brown", "dark_brown", "blue_gray", "black")]
    assert colours == [19, 10, 139, 156, 38, 42]
    # median splits of 200 distinct measures: 100 on each side
    for name in ("eccentricity", "size"):
        assert int(column[name].sum()) == 100
    assert int(column["orientation"].sum()) == 22  # lesions whose major axis is nearer horizontal


def test_mask_factors_agree_with_the_masks_in_the_file(dataset):
    with np.load(PH2, allow_pickle=False) as archive:
        masks = archive["masks"]
    area = masks.reshape(200, -1).mean(axis=1)  # the README's mean lesion fraction is 0.323
    assert abs(area.mean() - 0.323) < 0.001
    size_class = dataset.factors[:, dataset.factor_names.index("size")]
    assert np.array_equal(size_class, (area > np.median(area)).astype(int))
    measured = measure_masks(masks)
    assert np.allclose(measured.size, area)
    low, high = dataset.factor_values[dataset.factor_names.index("size")]
    assert low < np.median(area) < high
    # orientation: the ellipse of the same second moments is long along the horizontal exactly when
    # the lesion's pixels spread more along the columns than along the rows
    rows, cols = np.indices(masks.shape[1:])
    weights = (masks != 0).reshape(200, -1).astype(float)
    weights /= weights.sum(axis=1, keepdims=True)
    spread = [weights @ (axis.ravel() ** 2) - (weights @ axis.ravel()) ** 2 for axis in (rows, cols)]
    horizontal = (spread[1] > spread[0]).astype(int)
    assert np.array_equal(dataset.factors[:, dataset.factor_names.index("orientation")], horizontal)


def test_images_are_resized_from_the_128_pixel_originals():
    full, small = ph2(PH2, size=128, mask_geometry=False), ph2(PH2, size=16, mask_geometry=False)
    with np.load(PH2, allow_pickle=False) as archive:
        assert np.array_equal(full.images().numpy(), archive["images"].transpose(0, 3, 1, 2))
    assert small.images().shape == (200, 3, 16, 16)
    assert len(full.factor_names) == 12  # the criteria only
    # a resized image keeps its mean colour
    assert abs(small.images().float().mean() - full.images().float().mean()) < 1.0


def test_bad_input_is_named(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        ph2(tmp_path / "missing.npz")
    np.savez(tmp_path / "partial.npz", images=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="has no key 'masks'"):
        ph2(tmp_path / "partial.npz")
    with pytest.raises(DataError, match="size=300"):
        ph2(PH2, size=300)


def test_the_lesion_configs_validate():
    for path in sorted(Path("experiments/lesions").glob("*.yaml")):
        config = load_config(path)
        assert config.data.source == "ph2" and config.evaluate[0].protocol == "lesions"
        assert config.train.augment == ["hflip", "vflip", "rot90"]
    names = {load_config(p).name for p in Path("experiments/lesions").glob("*.yaml")}
    assert names == {"VAE", "beta-TCVAE", "Ours-resnet", "Ours-Adv"}
