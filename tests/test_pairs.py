"""Pair sources: exactly k factors differ, partners of one subject at another visit, nothing across the
train/test split, draws a pure function of (seed, step), and fit() resumes on pairs bit for bit."""

import numpy as np
import pytest
import torch

from untwine.config import TrainConfig
from untwine.data import DataError, ImageSet, PairSet, longitudinal, shapes
from untwine.models import build_model, model_config
from untwine.train.checkpoint import read_safetensors
from untwine.train.fit import fit


@pytest.fixture(scope="module")
def grid():
    return shapes(scale=3, orientation=4, pos_x=6, pos_y=6, size=16)  # 1296 images, 5 factors


@pytest.fixture(scope="module")
def study():
    return longitudinal(subjects=40, visits=3, size=16, positions=4)


def draw(pair_set, steps=5, batch=64, seed=0):
    sampler = pair_set.sampler(batch, seed)
    return np.concatenate([sampler.indices(step).numpy() for step in range(steps)])


@pytest.mark.parametrize("k", [1, 2, 4])
def test_factor_pairs_differ_in_exactly_k_factors(grid, k):
    rows = draw(PairSet(grid, "factors", k))
    differ = (grid.factors[rows[:, 0]] != grid.factors[rows[:, 1]]).sum(1)
    assert (differ == k).all()


def test_random_k_is_drawn_per_pair_from_1_to_d_minus_1(grid):
    rows = draw(PairSet(grid, "factors", None), steps=10)
    differ = (grid.factors[rows[:, 0]] != grid.factors[rows[:, 1]]).sum(1)
    assert set(differ.tolist()) == {1, 2, 3, 4}  # d = 5 factors vary


def test_a_changed_factor_takes_every_other_value(grid):
    rows = draw(PairSet(grid, "factors", 1), steps=40)
    first, second = grid.factors[rows[:, 0]], grid.factors[rows[:, 1]]
    scale = first[:, 1] != second[:, 1]
    # scale has 3 values: from value 0 a changed scale reaches both 1 and 2, never 0
    reached = set(second[scale & (first[:, 1] == 0), 1].tolist())
    assert reached == {1, 2}


def test_factor_pairs_stay_inside_the_training_split(grid):
    train, test = grid.split(0.3, seed=1)
    rows = draw(PairSet(train, "factors", 2), steps=20)
    held_out = {tuple(f) for f in test.factors}
    partners = {tuple(f) for f in train.factors[rows[:, 1]]}
    assert rows.max() < len(train) and not partners & held_out


def test_group_pairs_are_one_subject_at_two_visits_and_never_cross_the_split(study):
    train, test = study.split(0.25, seed=0)
    rows = draw(PairSet(train, "groups"), steps=10, batch=32)
    assert (train.groups[rows[:, 0]] == train.groups[rows[:, 1]]).all()
    assert (train.times[rows[:, 0]] != train.times[rows[:, 1]]).all()
    assert not set(train.groups[rows.ravel()]) & set(test.groups)
    # only scale drifts between visits: the other four factors are shared by every pair
    changed = train.factors[rows[:, 0]] != train.factors[rows[:, 1]]
    assert changed[:, 4].all() and not changed[:, :4].any()
    # every other visit of a subject is reached as a partner
    visits = {(int(a), int(b)) for a, b in zip(train.times[rows[:, 0]], train.times[rows[:, 1]], strict=True)}
    assert visits == {(a, b) for a in range(3) for b in range(3) if a != b}


def test_group_pairs_skip_subjects_seen_once_and_without_times_take_any_other_image():
    pixels = torch.zeros(7, 1, 8, 8, dtype=torch.uint8)
    groups = np.array(["a", "a", "a", "b", "c", "c", "d"])
    single = ImageSet(pixels, groups=groups)
    rows = draw(PairSet(single, "groups"), steps=20, batch=4)
    assert not set(rows.ravel()) & {3, 6}  # b and d have one image each
    assert (rows[:, 0] != rows[:, 1]).all() and (groups[rows[:, 0]] == groups[rows[:, 1]]).all()
    # with times, two images of one visit (a slice pair, say) are not a pair
    timed = ImageSet(pixels, groups=groups, times=np.array([0, 0, 1, 0, 2, 2, 0]))
    rows = draw(PairSet(timed, "groups"), steps=20, batch=2)
    assert set(rows[:, 0]) == {0, 1, 2}
    assert {(int(a), int(b)) for a, b in rows} == {(0, 2), (1, 2), (2, 0), (2, 1)}


def test_draws_depend_only_on_seed_and_step(study):
    pair_set = PairSet(study, "groups")
    fresh = pair_set.sampler(16, seed=3)
    in_order = [pair_set.sampler(16, seed=3).indices(s) for s in range(6)]
    assert all(torch.equal(fresh.indices(s), in_order[s]) for s in (5, 0, 3))
    assert not torch.equal(pair_set.sampler(16, seed=4).indices(0), in_order[0])


def test_load_fills_the_pair_with_the_second_images(study):
    pair_set = PairSet(study, "groups")
    rows = pair_set.sampler(8, 0).indices(2)
    batch = pair_set.load(rows)
    assert torch.equal(batch.images, study.load(rows[:, 0]).images)
    assert torch.equal(batch.pair.images, study.load(rows[:, 1]).images)
    assert torch.equal(batch.pair.factors, torch.from_numpy(study.factors[rows[:, 1].numpy()]))
    assert pair_set.load(rows[:, 0]).pair is None  # single rows stay single images
    assert (len(pair_set), pair_set.channels, pair_set.size) == (len(study), 3, 16)


def test_bad_pair_requests_are_errors_naming_what_is_missing(grid, study):
    no_factors = ImageSet(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), groups=[0, 1, 2, 3], name="tiny")
    with pytest.raises(DataError, match="tiny: pairs by factors need a set with factors"):
        PairSet(no_factors, "factors")
    with pytest.raises(DataError, match="subjects seen at least twice"):
        PairSet(no_factors, "groups")
    with pytest.raises(DataError, match="pairs.k is 6: expected 1..5"):
        PairSet(grid, "factors", 6)
    with pytest.raises(DataError, match="holds 100 of its 1296 combinations"):
        PairSet(grid[:100], "factors")
    with pytest.raises(DataError, match="expected 'factors' or 'groups'"):
        PairSet(study, "visits")


def test_fit_on_pairs_resumes_bit_for_bit(study, tmp_path):
    pairs = PairSet(study, "groups")
    train = TrainConfig(steps=6, batch_size=16, lr=1e-3, log_every=2, checkpoint_every=3, device="cpu")

    def model():
        torch.manual_seed(0)
        return build_model(model_config({"name": "adagvae", "architecture": "mlp", "channels": 3,
                                         "size": 16, "latent_dim": 4}))

    fit(model(), pairs, train, tmp_path / "whole", progress=False)
    fit(model(), pairs, train.model_copy(update={"steps": 3}), tmp_path / "split", progress=False)
    fit(model(), pairs, train, tmp_path / "split", progress=False)
    whole = read_safetensors(tmp_path / "whole" / "model.safetensors")
    split = read_safetensors(tmp_path / "split" / "model.safetensors")
    assert all(torch.equal(whole[k], split[k]) for k in whole)
