"""Augmentation: the eight flips/rotations of a square, chosen per image from (seed, draw) only, so
training with it still resumes bit for bit."""

import json

import numpy as np
import pytest
import torch

from untwine.config import ConfigError, TrainConfig, validate_config
from untwine.data import ImageSet
from untwine.data.augment import augment, choices, transform
from untwine.data.batch import Batch
from untwine.models import build_model, model_config
from untwine.train.checkpoint import read_safetensors
from untwine.train.fit import fit

KINDS = ["hflip", "vflip", "rot90"]


def batch(n=64, size=5):
    images = torch.arange(n * 2 * size * size, dtype=torch.float32).view(n, 2, size, size)
    return Batch(images, torch.arange(n), labels=torch.arange(n) % 3)


def test_each_image_is_one_of_the_eight_symmetries_numpy_computes():
    b = batch()
    out = augment(b, KINDS, seed=3, draw=7)
    chosen = choices(len(b), KINDS, 3, 7).numpy()
    for i in range(len(b)):
        h, v, t = chosen[i]
        expected = b.images[i].numpy()
        if h:
            expected = expected[:, :, ::-1]
        if v:
            expected = expected[:, ::-1, :]
        expected = np.rot90(expected, t, axes=(1, 2))
        assert np.array_equal(out.images[i].numpy(), expected), i
    assert torch.equal(out.labels, b.labels) and torch.equal(out.index, b.index)
    # 64 images meet most of the 8 symmetries
    assert len({tuple(c) for c in chosen}) >= 6


def test_choices_depend_on_seed_and_draw_only():
    assert torch.equal(choices(32, KINDS, 1, 5), choices(32, KINDS, 1, 5))
    assert not torch.equal(choices(32, KINDS, 1, 5), choices(32, KINDS, 1, 6))
    assert not torch.equal(choices(32, KINDS, 2, 5), choices(32, KINDS, 1, 5))
    torch.manual_seed(0)
    before = torch.get_rng_state()
    augment(batch(), KINDS, 0, 0)
    assert torch.equal(before, torch.get_rng_state())  # the global RNG is not touched


def test_only_the_named_kinds_apply():
    b = batch()
    assert augment(b, [], 0, 0) is b
    flips = choices(64, ["hflip"], 0, 0)
    assert flips[:, 1:].abs().sum() == 0 and flips[:, 0].sum() > 0
    turned = augment(b, ["rot90"], 0, 0)
    for i, (_, _, t) in enumerate(choices(64, ["rot90"], 0, 0).tolist()):
        assert torch.equal(turned.images[i], transform(b.images[i : i + 1], 0, 0, t)[0])
    with pytest.raises(ValueError, match="unknown augmentations"):
        choices(4, ["shear"], 0, 0)


def test_train_config_validates_the_list():
    assert TrainConfig(augment=["hflip"]).augment == ["hflip"]
    base = {"name": "t", "data": {"source": "digits"}, "model": {"name": "vae"}}
    with pytest.raises(ConfigError, match="train.augment"):
        validate_config({**base, "train": {"augment": ["shear"]}})


def test_training_with_augmentation_resumes_bit_for_bit(tmp_path, one_torch_thread):
    g = torch.Generator().manual_seed(0)
    dataset = ImageSet(torch.randint(0, 256, (64, 1, 28, 28), generator=g, dtype=torch.uint8))

    def model():
        torch.manual_seed(0)
        return build_model(model_config({"name": "vae", "channels": 1, "size": 28, "latent_dim": 3,
                                         "architecture": "mlp"}))

    def config(steps, augment):
        return TrainConfig(steps=steps, batch_size=16, lr=1e-3, log_every=5, checkpoint_every=10,
                           device="cpu", augment=augment)

    straight, broken, plain = tmp_path / "straight", tmp_path / "broken", tmp_path / "plain"
    fit(model(), dataset, config(20, KINDS), straight, progress=False)
    fit(model(), dataset, config(10, KINDS), broken, progress=False)
    assert fit(model(), dataset, config(20, KINDS), broken, progress=False).resumed_from == 10
    fit(model(), dataset, config(20, []), plain, progress=False)
    a, b, c = (read_safetensors(p / "model.safetensors") for p in (straight, broken, plain))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(not torch.equal(a[key], c[key]) for key in a)  # augmentation changed the training
    last = json.loads((straight / "metrics.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(last["loss"])
