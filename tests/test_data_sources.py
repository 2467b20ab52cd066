"""Loaders of files (MedMNIST, MNIST IDX, image folders with a CSV) and scikit-learn's digits."""

import csv
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from untwine.data import DataError, digits, folder, medmnist, mnist

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PNEUMONIA = DATA / "pneumoniamnist" / "pneumoniamnist.npz"
MNIST = DATA / "mnist"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="the shared data folder is not here")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_CACHE", str(tmp_path / "cache"))


@needs_data
@pytest.mark.parametrize(
    "split, count, normal, pneumonia",
    [("train", 4708, 1214, 3494), ("val", 524, 135, 389), ("test", 624, 234, 390)],
)
def test_pneumoniamnist_splits_match_the_documented_counts(split, count, normal, pneumonia):
    ds = medmnist(PNEUMONIA, split)
    assert len(ds) == count and ds.channels == 1 and ds.size == 28 and not ds.is_binary
    assert ds.class_names == ("normal", "pneumonia")
    assert np.bincount(ds.labels).tolist() == [normal, pneumonia]
    assert ds.images([0]).dtype.is_floating_point is False


def test_medmnist_rgb_multilabel_and_unknown_names(tmp_path):
    path = tmp_path / "chestmnist_64.npz"
    labels = np.random.default_rng(0).integers(0, 2, (5, 14), dtype=np.uint8)
    np.savez(path, train_images=np.zeros((5, 64, 64), np.uint8), train_labels=labels)
    chest = medmnist(path)
    assert chest.labels is None and chest.factor_names[0] == "atelectasis"
    assert np.array_equal(chest.factors, labels)
    path = tmp_path / "mine.npz"
    rgb = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)
    np.savez(path, test_images=rgb, test_labels=np.array([[0], [2]]))
    ds = medmnist(path, "test")
    assert ds.channels == 3 and ds.class_names == ("0", "1", "2")
    assert np.array_equal(ds.images().numpy(), rgb.transpose(0, 3, 1, 2))


def test_medmnist_errors_name_the_file_key_and_split(tmp_path):
    with pytest.raises(DataError, match="no such file: .*nothing.npz"):
        medmnist(tmp_path / "nothing.npz")
    path = tmp_path / "dermamnist.npz"
    np.savez(
        path, train_images=np.zeros((3, 28, 28, 3), np.uint8), val_images=np.zeros((1, 28, 28))
    )
    with pytest.raises(DataError, match="dermamnist.npz has no key 'train_labels'"):
        medmnist(path)
    with pytest.raises(DataError, match="unknown split 'valid'"):
        medmnist(path, "valid")
    np.savez(path, train_images=np.zeros((3, 28, 28, 3), np.uint8), train_labels=np.full((3, 1), 9))
    with pytest.raises(DataError, match="dermamnist.npz:train: labels hold 9"):
        medmnist(path)


@needs_data
def test_mnist_matches_the_documented_counts_and_first_labels():
    train = mnist(MNIST)
    assert len(train) == 60000 and train.size == 28 and train.channels == 1
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(train.labels).tolist() == counts
    test = mnist(MNIST / "t10k-images-idx3-ubyte.gz", split="test")
    assert len(test) == 10000
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@needs_data
def test_mnist_errors_name_the_file(tmp_path):
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    shutil.copy(MNIST / "train-labels-idx1-ubyte.gz", labels)
    # a labels file where the images file should be: wrong magic number
    shutil.copy(labels, tmp_path / "train-images-idx3-ubyte.gz")
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte.gz: magic number 0x801, expected 0x803"
    ):
        mnist(tmp_path)
    with pytest.raises(DataError, match="no t10k-images-idx3-ubyte"):
        mnist(tmp_path, split="test")
    with pytest.raises(DataError, match="unknown split 'dev'"):
        mnist(tmp_path, split="dev")
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as file:
        file.write(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes(100))
    with pytest.raises(DataError, match="100 data bytes, expected 1568"):
        mnist(tmp_path)


def _isic_like(root: Path, sizes=((30, 20), (25, 25), (40, 30), (20, 20))) -> Path:
    """Images named by id, a ground-truth CSV with one-hot columns and a subject column."""
    rng = np.random.default_rng(0)
    rows = []
    for i, (w, h) in enumerate(sizes):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"ISIC_{i:07d}.{'png' if i % 2 else 'jpg'}")
        onehot = [0.0, 0.0, 0.0]
        onehot[i % 3] = 1.0
        rows.append([f"ISIC_{i:07d}", *onehot, f"patient{i // 2}"])
    csv_path = root / "GroundTruth.csv"
    with open(csv_path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["image", "MEL", "NV", "BCC", "lesion"])
        writer.writerows(rows)
    return csv_path


def test_folder_reads_one_hot_labels_groups_and_resizes(tmp_path):
    _isic_like(tmp_path)
    ds = folder(tmp_path, "GroundTruth.csv", "image", ["MEL", "NV", "BCC"], "lesion", size=16)
    assert len(ds) == 4 and ds.channels == 3 and ds.size == 16
    assert ds.class_names == ("MEL", "NV", "BCC") and ds.labels.tolist() == [0, 1, 2, 0]
    assert ds.groups.tolist() == ["patient0", "patient0", "patient1", "patient1"]
    cached = list((tmp_path / "cache").glob("folder-*.npz"))
    assert len(cached) == 1
    again = folder(tmp_path, tmp_path / "GroundTruth.csv", "image", ["MEL", "NV", "BCC"], size=16)
    assert np.array_equal(again.images().numpy(), ds.images().numpy())
    named = folder(tmp_path, "GroundTruth.csv", "image", "lesion", size=8, channels=1)
    assert named.class_names == ("patient0", "patient1") and named.channels == 1


def test_folder_errors_name_the_column_row_and_file(tmp_path):
    csv_path = _isic_like(tmp_path)
    with pytest.raises(DataError, match="GroundTruth.csv has no column 'AKIEC'"):
        folder(tmp_path, csv_path, "image", ["MEL", "AKIEC"])
    with pytest.raises(DataError, match="GroundTruth.csv, row 3: image 'ISIC_0000001' not found"):
        (tmp_path / "ISIC_0000001.png").unlink()
        folder(tmp_path, csv_path, "image")
    (tmp_path / "ISIC_0000001.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="cannot decode image .*ISIC_0000001.png"):
        folder(tmp_path, csv_path, "image")
    with pytest.raises(DataError, match="mixed or non-square sizes: .*ISIC_0000000.jpg is 30x20"):
        folder(tmp_path, _isic_like(tmp_path), "image", size=None)
    with pytest.raises(DataError, match="no such folder"):
        folder(tmp_path / "nope", csv_path, "image")


def test_folder_keeps_a_common_size(tmp_path):
    _isic_like(tmp_path, sizes=((12, 12),) * 3)
    ds = folder(tmp_path, "GroundTruth.csv", "image", size=None, cache=False)
    assert ds.size == 12 and len(ds) == 3


def test_digits_are_upsampled_with_labels():
    ds = digits(size=32)
    assert len(ds) == 1797 and ds.size == 32 and ds.channels == 1
    assert ds.class_names == tuple("0123456789") and sorted(set(ds.labels.tolist())) == list(
        range(10)
    )
    assert ds.images().max() == 255
