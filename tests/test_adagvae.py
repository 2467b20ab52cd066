"""Ada-GVAE: the per-dimension KL, the adaptive threshold, both averages, the objective's terms as
Locatello et al. (2020) write them, training on pairs, and a config that trains on pairs end to end."""

import json

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from untwine.config import validate_config
from untwine.data import PairSet, shapes
from untwine.data.batch import Batch
from untwine.models import build_model, model_config
from untwine.models.adagvae import average_posteriors, pair_divergence, shared_dimensions
from untwine.models.base import Posterior
from untwine.models.divergence import kl_to_standard_normal
from untwine.models.likelihood import reconstruction_loss


@pytest.fixture(scope="module")
def grid():
    return shapes(scale=3, orientation=4, pos_x=6, pos_y=6, size=16)


def adagvae(**overrides):
    torch.manual_seed(0)
    values = {"name": "adagvae", "architecture": "mlp", "channels": 1, "size": 16, "latent_dim": 5,
              **overrides}
    return build_model(model_config(values))


def random_posterior(seed, shape=(6, 5)):
    g = torch.Generator().manual_seed(seed)
    return Posterior(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def test_pair_divergence_is_the_kl_between_the_two_posteriors():
    q1, q2 = random_posterior(0), random_posterior(1)
    expected = kl_divergence(Normal(q1.mean, (0.5 * q1.logvar).exp()), Normal(q2.mean, (0.5 * q2.logvar).exp()))
    torch.testing.assert_close(pair_divergence(q1, q2), expected)


def test_the_threshold_is_midway_between_the_smallest_and_largest_divergence():
    delta = torch.tensor([[0.0, 1.0, 10.0, 4.9, 5.1], [2.0, 2.0, 2.0, 2.0, 2.0]])
    # tau = 5 for the first pair; a pair whose dimensions all agree shares none (no delta < tau)
    assert shared_dimensions(delta).tolist() == [[True, True, False, True, False], [False] * 5]
    # k known: all but the k largest are shared
    assert shared_dimensions(delta[:1], k=2).tolist() == [[True, True, False, True, False]]
    assert shared_dimensions(delta[:1], k=0).all()


def test_gvae_averages_means_and_variances_and_mlvae_multiplies_the_experts():
    q1 = Posterior(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 3.0]).log())
    q2 = Posterior(torch.tensor([4.0, -2.0]), torch.tensor([3.0, 1.0]).log())
    gvae = average_posteriors(q1, q2, "gvae")
    torch.testing.assert_close(gvae.mean, torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(gvae.logvar.exp(), torch.tensor([2.0, 2.0]))
    # product N(0, 1) N(4, 3) has mean (0 * 3 + 4 * 1) / 4 = 1; its variance 3/4, doubled as in
    # disentanglement_lib's MLVae (the harmonic mean of the variances)
    mlvae = average_posteriors(q1, q2, "mlvae")
    torch.testing.assert_close(mlvae.mean, torch.tensor([1.0, -1.0]))
    torch.testing.assert_close(mlvae.logvar.exp(), torch.tensor([1.5, 1.5]))


@pytest.mark.parametrize("average", ["gvae", "mlvae"])
def test_shared_dimensions_are_replaced_by_the_average_and_the_rest_kept(grid, average):
    model = adagvae(average=average)
    batch = PairSet(grid, "factors", 1).load(PairSet(grid, "factors", 1).sampler(8, 0).indices(0))
    q1, q2, shared = model.modified_posteriors(batch.images, batch.pair.images)
    own1, own2 = model.encode(batch.images), model.encode(batch.pair.images)
    averaged = average_posteriors(own1, own2, average)
    assert shared.any() and (~shared).any()
    for modified, own in ((q1, own1), (q2, own2)):
        torch.testing.assert_close(modified.mean[shared], averaged.mean[shared])
        torch.testing.assert_close(modified.logvar[shared], averaged.logvar[shared])
        torch.testing.assert_close(modified.mean[~shared], own.mean[~shared])
    assert torch.equal(shared, shared_dimensions(pair_divergence(own1, own2)))


def test_the_objective_is_both_images_elbo_under_the_modified_posteriors(grid):
    model = adagvae(beta=3.0)
    pairs = PairSet(grid, "factors", 2)
    batch = pairs.load(pairs.sampler(16, 0).indices(1))
    torch.manual_seed(5)
    terms = model.objective(batch)
    torch.manual_seed(5)
    q1, q2, shared = model.modified_posteriors(batch.images, batch.pair.images)
    z1, z2 = q1.sample(), q2.sample()
    reconstruction = 0.5 * (reconstruction_loss(batch.images, model.decode(z1), "bernoulli")
                            + reconstruction_loss(batch.pair.images, model.decode(z2), "bernoulli"))
    kl = 0.5 * (kl_to_standard_normal(q1).sum(1).mean() + kl_to_standard_normal(q2).sum(1).mean())
    torch.testing.assert_close(terms["reconstruction"], reconstruction)
    torch.testing.assert_close(terms["kl"], kl)
    torch.testing.assert_close(terms["loss"], reconstruction + 3.0 * kl)
    assert terms["shared_dimensions"] == shared.sum(1).float().mean()


def test_training_on_pairs_lowers_the_loss(grid):
    model = adagvae()
    pairs = PairSet(grid, "factors", 1)
    sampler = pairs.sampler(32, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for step in range(60):
        terms = model.objective(pairs.load(sampler.indices(step)))
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        losses.append(terms["loss"].detach().item())
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10


def test_a_batch_without_pairs_is_an_error_that_says_how_to_get_them(grid):
    with pytest.raises(ValueError, match="set data.pairs"):
        adagvae().objective(Batch(images=grid.load([0, 1]).images, index=torch.arange(2)))


def test_a_config_with_pairs_trains_adagvae_on_the_training_split(tmp_path):
    from untwine.run import train

    config = validate_config({
        "name": "pairs", "output": str(tmp_path),
        "data": {"source": "longitudinal", "options": {"subjects": 12, "size": 16, "positions": 2},
                 "test_fraction": 0.25, "pairs": {"by": "groups"}},
        "model": {"name": "adagvae", "architecture": "mlp", "latent_dim": 3, "average": "mlvae"},
        "train": {"steps": 4, "batch_size": 8, "log_every": 2, "device": "cpu"},
    })
    run, result = train(config, progress=False)
    assert result.steps == 4 and run.config.data.pairs.by == "groups"
    last = json.loads((run.dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"loss", "reconstruction", "kl", "shared_dimensions"} <= set(last)
    with pytest.raises(ValueError, match="pairs.k"):
        validate_config({**config.model_dump(mode="json"),
                         "data": {"source": "shapes", "pairs": {"by": "factors", "k": 0}}})


def test_shared_dimensions_are_counted_against_the_changed_factors(tmp_path):
    import numpy as np

    from untwine.data import longitudinal
    from untwine.protocols.shared_dimensions import shared_dimensions_protocol, summarize_shared

    shared = np.array([[True, False], [True, True], [False, True]])
    changed = np.array([[False, True, False], [False, False, False], [True, False, False]])
    codes = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    factors = np.array([[0, 0, 0], [1, 0, 0], [2, 1, 0], [3, 1, 0]])
    result = summarize_shared(shared, changed, codes, factors, kl=np.array([1.0, 0.0]))
    np.testing.assert_allclose(result.shared_fraction, [2 / 3, 2 / 3])
    # factor 0 changed in pair 3 only, where dimension 0 was above the threshold; factor 1 in pair 1
    np.testing.assert_array_equal(result.flagged, [[1.0, 0.0, np.nan], [0.0, 1.0, np.nan]])
    assert result.informative[0] == 0 and result.active.tolist() == [True, False]
    assert (result.mutual_info[:, 2] == 0).all()  # a factor constant here informs nothing

    study = longitudinal(subjects=10, size=16, positions=2)
    model = adagvae(channels=3)
    out = shared_dimensions_protocol(model, study, seed=0, figures=tmp_path, pairs=50)
    assert set(out.scores) == {"shared_per_pair", "flagged_scale"}  # only scale changes in the study
    assert 0 <= out.scores["shared_per_pair"] < 5 and (tmp_path / "shared_dimensions.png").stat().st_size
