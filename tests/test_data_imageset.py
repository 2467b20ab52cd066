"""ImageSet, bit packing and the batch sampler."""

import numpy as np
import pytest
import torch

from untwine.data import BatchSampler, DataError, ImageSet
from untwine.data.bits import PackedBits


def _sparse_binary(n: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, 1, size, size] 0/1 with a random blob of rows per image and some empty images."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, size, size), dtype=np.uint8)
    for i in range(n):
        if i % 5 == 0:
            continue  # an empty image
        top = rng.integers(0, size - 6)
        images[i, 0, top : top + rng.integers(1, 7)] = rng.integers(0, 2, (1, size))
    return images


@pytest.mark.parametrize("size", [28, 32, 13])
def test_packing_round_trips(size):
    images = _sparse_binary(40, size)
    packed = PackedBits.pack(images)
    assert packed.rows.shape[2] <= 6  # only the band of rows holding pixels is kept
    assert torch.equal(packed.unpack(), torch.from_numpy(images) * 255)
    index = torch.tensor([7, 3, 3, 0])
    assert torch.equal(packed.take(index).unpack(), torch.from_numpy(images[[7, 3, 3, 0]]) * 255)


def test_binary_imageset_stores_bits_and_returns_0_255():
    images = _sparse_binary(50, 32)
    ds = ImageSet(images * 255, binary=True, name="blobs")
    assert ds.is_binary and len(ds) == 50 and ds.channels == 1 and ds.size == 32
    assert ds.nbytes < images.nbytes / 8 * 1.2
    assert torch.equal(ds.images(), torch.from_numpy(images) * 255)
    assert torch.equal(ds.images([4, 1]), torch.from_numpy(images[[4, 1]]) * 255)


def _labelled(n: int = 120) -> ImageSet:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)
    return ImageSet(
        images,
        labels=np.arange(n) % 3,
        class_names=("a", "b", "c"),
        factors=np.stack([np.arange(n) % 4, np.arange(n) % 5], axis=1),
        factor_names=("f", "g"),
        factor_sizes=(4, 5),
        groups=np.array([f"subject{i // 4}" for i in range(n)]),
        times=np.arange(n) % 4 * 30.0,
        name="random",
    )


def test_load_gives_float_batch_with_targets():
    ds = _labelled()
    index = torch.tensor([5, 0, 17])
    batch = ds.load(index, "cpu")
    assert batch.images.dtype == torch.float32 and batch.images.shape == (3, 3, 8, 8)
    assert torch.equal(batch.images, ds.images(index).float() / 255)
    assert batch.labels.tolist() == [2, 0, 2]
    assert batch.factors.tolist() == [[1, 0], [0, 0], [1, 2]]
    assert batch.index.tolist() == [5, 0, 17]
    assert ds.to("cpu") is ds


def test_subset_keeps_rows_and_metadata_together():
    ds = _labelled()
    part = ds[10:20]
    assert len(part) == 10 and part.labels.tolist() == (np.arange(10, 20) % 3).tolist()
    assert torch.equal(part.images(), ds.images(range(10, 20)))
    picked = ds.subset(np.array([3, 99]))
    assert picked.groups.tolist() == ["subject0", "subject24"]
    assert picked.times.tolist() == [90.0, 90.0]
    mask = np.zeros(len(ds), dtype=bool)
    mask[[1, 2]] = True
    assert ds[mask].labels.tolist() == [1, 2]
    with pytest.raises(TypeError, match="slice or an array"):
        ds[3]


def test_split_by_group_puts_no_subject_on_both_sides():
    ds = _labelled()
    train, test = ds.split(0.25, seed=3)
    assert len(train) + len(test) == len(ds)
    assert not set(train.groups) & set(test.groups)
    assert 0.15 < len(test) / len(ds) < 0.4
    again = ds.split(0.25, seed=3)[1]
    assert again.groups.tolist() == test.groups.tolist()


def test_split_without_groups_is_stratified_by_label():
    ds = ImageSet(np.zeros((90, 1, 4, 4), np.uint8), labels=np.repeat([0, 1, 2], [60, 20, 10]))
    train, test = ds.split(0.3, seed=0)
    assert np.bincount(test.labels).tolist() == [18, 6, 3]
    assert len(train) == 63


def test_sampler_is_a_function_of_seed_and_step():
    sampler = BatchSampler(100, batch_size=16, seed=7)
    assert sampler.steps_per_epoch == 6  # the last 4 rows of each epoch are dropped
    drawn = [sampler.indices(step) for step in range(20)]
    # one epoch visits distinct rows; the next epoch is another permutation
    first = torch.cat(drawn[:6])
    assert len(set(first.tolist())) == 96
    assert not torch.equal(torch.cat(drawn[6:12]), first)
    # resuming at step 15 (a fresh sampler, no earlier step drawn) draws the same batches
    resumed = BatchSampler(100, batch_size=16, seed=7)
    assert torch.equal(resumed.indices(15), drawn[15])
    assert torch.equal(resumed.indices(2), drawn[2])  # going back to an earlier epoch too
    other = BatchSampler(100, batch_size=16, seed=8)
    assert not torch.equal(other.indices(0), drawn[0])


def test_sampler_without_drop_last_covers_every_row():
    sampler = _labelled(50).sampler(batch_size=16, seed=0, drop_last=False)
    assert sampler.steps_per_epoch == 4
    rows = torch.cat([sampler.indices(step) for step in range(4)])
    assert sorted(rows.tolist()) == list(range(50))


def test_bad_metadata_is_named():
    images = np.zeros((10, 1, 4, 4), np.uint8)
    with pytest.raises(
        DataError, match=r"toy: factors has shape \(9, 1\): expected one entry for each of the 10"
    ):
        ImageSet(
            images, factors=np.zeros((9, 1)), factor_names=("a",), factor_sizes=(2,), name="toy"
        )
    with pytest.raises(DataError, match="factor 'a' holds values 0..2"):
        ImageSet(images, factors=np.arange(10)[:, None] % 3, factor_names=("a",), factor_sizes=(2,))
    with pytest.raises(DataError, match="labels has shape"):
        ImageSet(images, labels=np.zeros(11))
    with pytest.raises(DataError, match="groups has shape"):
        ImageSet(images, groups=["x"] * 3)
    with pytest.raises(DataError, match="labels hold 5"):
        ImageSet(images, labels=np.full(10, 5), class_names=("a", "b"))
    with pytest.raises(DataError, match="found values"):
        ImageSet(images + 7, binary=True)
    with pytest.raises(DataError, match="expected square"):
        ImageSet(np.zeros((2, 1, 4, 6), np.uint8))
