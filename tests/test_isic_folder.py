"""ISIC 2018 / HAM10000 layouts on a small tree the test writes: Task 3 one-hot ground truth through
folder() and isic(), Task 1/2 masks as eccentricity, orientation and size factors."""

import numpy as np
import pytest
from PIL import Image
from skimage.draw import ellipse

from untwine.data import DataError, folder, isic
from untwine.data.isic import ISIC_CLASSES

CLASSES = list(ISIC_CLASSES)


def write_tree(root, n=8, masks=True, csv=True):
    images = root / "ISIC2018_Task3_Training_Input"
    truth = root / "ISIC2018_Task1_Training_GroundTruth"
    images.mkdir(parents=True)
    truth.mkdir()
    rng = np.random.default_rng(0)
    rows, geometry = [], []
    for i in range(n):
        image_id = f"ISIC_{i:07d}"
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(images / f"{image_id}.jpg")
        # ellipses of growing size, long along the horizontal (tilted 17 degrees one way or the
        # other) for even i, along the vertical for odd i
        mask = np.zeros((64, 64), np.uint8)
        a, b = 8 + 2 * i, 5 + i
        tilt = 0.3 if i % 4 < 2 else -0.3
        rr, cc = ellipse(32, 32, b, a, shape=mask.shape, rotation=np.pi / 2 + tilt if i % 2 else tilt)
        mask[rr, cc] = 255
        if masks:
            Image.fromarray(mask).save(truth / f"{image_id}_segmentation.png")
        geometry.append((i % 2, mask.mean()))
        onehot = ["1.0" if k == i % 7 else "0.0" for k in range(7)]
        rows.append(",".join([image_id, *onehot]))
    if csv:
        (root / "ISIC2018_Task3_Training_GroundTruth.csv").write_text(
            "image," + ",".join(CLASSES) + "\n" + "\n".join(rows) + "\n")
    return images, truth, root / "ISIC2018_Task3_Training_GroundTruth.csv", geometry


def test_task3_ground_truth_through_folder(tmp_path):
    images, _, csv, _ = write_tree(tmp_path)
    data = folder(images, csv, "image", CLASSES, size=16, cache=False)
    assert data.class_names == tuple(CLASSES)
    assert data.labels.tolist() == [i % 7 for i in range(8)]
    assert data.images().shape == (8, 3, 16, 16)


def test_isic_reads_labels_and_mask_factors(tmp_path):
    images, truth, csv, geometry = write_tree(tmp_path)
    data = isic(images, ground_truth=csv, masks=truth, size=32, cache=False)
    assert data.labels.tolist() == [i % 7 for i in range(8)]
    assert data.factor_names == ("eccentricity", "orientation", "size")
    size = data.factors[:, 2]
    # areas grow with i: the larger half is above the median
    assert size.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    # horizontal major axes are 1, vertical ones 0, whichever way they tilt
    assert data.factors[:, 1].tolist() == [1, 0] * 4


def test_isic_without_a_csv_takes_every_image_and_skips_masks(tmp_path):
    images, truth, _, _ = write_tree(tmp_path, csv=False)
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(images / "ISIC_0000000_segmentation.png")
    (images / "LICENSE.txt").write_text("CC-BY-NC")
    data = isic(images, masks=truth, size=16, cache=False)
    assert len(data) == 8 and data.labels is None and data.factors.shape == (8, 3)


def test_a_missing_mask_or_label_column_is_named(tmp_path):
    images, truth, csv, _ = write_tree(tmp_path)
    (truth / "ISIC_0000003_segmentation.png").unlink()
    with pytest.raises(DataError, match="ISIC_0000003_segmentation.png"):
        isic(images, ground_truth=csv, masks=truth, size=16, cache=False)
    csv.write_text("image,MEL,NV\nISIC_0000000,1,0\n")
    with pytest.raises(DataError, match="no column 'BCC'"):
        isic(images, ground_truth=csv, size=16, cache=False)


def test_an_empty_mask_is_named(tmp_path):
    images, truth, csv, _ = write_tree(tmp_path)
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(truth / "ISIC_0000002_segmentation.png")
    with pytest.raises(DataError, match=r"\[2\] is empty"):
        isic(images, ground_truth=csv, masks=truth, size=16, cache=False)
