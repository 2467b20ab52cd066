"""FactorVAE, DIP-VAE-I/II and AnnealedVAE: each term against a closed form or an independent
computation, the discriminator step's isolation, and training that lowers the loss."""

import json
import math

import numpy as np
import pytest
import torch

from untwine.config import TrainConfig
from untwine.data import shapes
from untwine.data.batch import Batch
from untwine.models import build_model, model_config
from untwine.models.annealedvae import capacity
from untwine.models.base import Posterior
from untwine.models.dipvae import covariance_of_aggregate_posterior, covariance_of_means
from untwine.models.divergence import kl_to_standard_normal
from untwine.models.factorvae import discriminator_loss, permute_dims
from untwine.models.likelihood import reconstruction_loss
from untwine.nn.discriminator import CodeDiscriminator
from untwine.train.fit import fit


def build(name: str, **fields):
    torch.manual_seed(0)
    values = {"name": name, "channels": 1, "size": 32, "latent_dim": 4, **fields}
    return build_model(model_config(values))


def toy_batch(n: int = 16, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch((torch.rand(n, 1, 32, 32, generator=g) > 0.5).float(), torch.arange(n))


def recomputed(model, batch: Batch, seed: int):
    """The posterior, the same z the objective samples with ``seed``, and the reconstruction and KL."""
    torch.manual_seed(seed)
    posterior = model.encode(batch.images)
    z = posterior.sample()
    reconstruction = reconstruction_loss(batch.images, model.decode(z), "bernoulli")
    return posterior, z, reconstruction, kl_to_standard_normal(posterior).sum(1).mean()


# FactorVAE


def test_factorvae_loss_is_the_vae_loss_plus_gamma_times_the_discriminator_log_ratio():
    model, batch = build("factorvae", gamma=7.0), toy_batch()
    torch.manual_seed(3)
    terms = model.vae_objective(batch)
    _, z, reconstruction, kl = recomputed(model, batch, 3)
    logits = model.discriminator(z)
    probability_real = torch.softmax(logits, 1)[:, 0]
    log_ratio = torch.log(probability_real / (1 - probability_real)).mean()
    assert torch.allclose(terms["total_correlation"], log_ratio, atol=1e-4)
    assert torch.allclose(terms["reconstruction"], reconstruction)
    assert torch.allclose(terms["kl"], kl)
    assert torch.allclose(terms["loss"], reconstruction + kl + 7.0 * log_ratio, atol=1e-3)


def test_permuting_dimensions_keeps_each_marginal_and_breaks_the_rows():
    z = torch.arange(200.0).view(50, 4)
    permuted = permute_dims(z, torch.Generator().manual_seed(0))
    for j in range(4):
        assert torch.equal(permuted[:, j].sort().values, z[:, j])
    assert (permuted != z).any(1).float().mean() > 0.9


def test_the_discriminator_estimates_the_total_correlation_of_correlated_gaussians(one_torch_thread):
    """For N(0, [[1, rho], [rho, 1]]) TC = KL(q || q1 q2) = -1/2 log(1 - rho^2); a discriminator
    trained briefly on FactorVAE's loss gives it as the mean log-ratio (a small network: the loss and
    the estimator are under test, not the paper's width)."""
    torch.manual_seed(0)

    def gaussian(n: int, rho: float) -> torch.Tensor:
        e = torch.randn(n, 2)
        return torch.stack([e[:, 0], rho * e[:, 0] + math.sqrt(1 - rho * rho) * e[:, 1]], 1)

    def estimate(rho: float) -> float:
        discriminator = CodeDiscriminator(2, hidden=32, layers=2)
        optimizer = torch.optim.Adam(discriminator.parameters(), lr=3e-3, betas=(0.5, 0.9))
        for _ in range(300):
            loss = discriminator_loss(discriminator, gaussian(512, rho), gaussian(512, rho))["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            logits = discriminator(gaussian(20_000, rho))
        return float((logits[:, 0] - logits[:, 1]).mean())

    for rho in (0.9, 0.6):  # TC 0.830 and 0.223 nats
        assert abs(estimate(rho) - (-0.5 * math.log(1 - rho * rho))) < 0.15, rho
    assert abs(estimate(0.0)) < 0.05


def test_the_discriminator_step_sends_no_gradient_into_the_encoder_or_decoder():
    model, batch = build("factorvae"), toy_batch()
    vae_step, discriminator_step = model.training_steps()
    assert {id(p) for p in vae_step.parameters}.isdisjoint(id(p) for p in discriminator_step.parameters)
    assert discriminator_step.betas == (0.5, 0.9) and discriminator_step.lr == 1e-4
    model.vae_objective(batch)["loss"].backward()  # the real side's z, as fit() computes it
    model.zero_grad(set_to_none=True)
    model.discriminator_objective(toy_batch(seed=1))["loss"].backward()
    for name, parameter in [*model.encoder.named_parameters(), *model.decoder.named_parameters()]:
        assert parameter.grad is None, name
    assert all(p.grad is not None for p in model.discriminator.parameters())


def test_the_discriminator_step_uses_the_vae_steps_codes_as_the_real_side():
    model = build("factorvae")
    torch.manual_seed(5)
    model.vae_objective(toy_batch())
    _, z, _, _ = recomputed(model, toy_batch(), 5)
    real = torch.nn.functional.cross_entropy(model.discriminator(z), torch.zeros(16, dtype=torch.long))
    assert torch.allclose(model.discriminator_objective(toy_batch(seed=1))["real"], real, atol=1e-5)


# DIP-VAE


def random_posterior(n: int = 64, d: int = 5, seed: int = 0) -> Posterior:
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=g)
    return Posterior(torch.randn(n, d, generator=g, dtype=torch.float64) @ mixing.double(),
                     torch.randn(n, d, generator=g, dtype=torch.float64) * 0.5 - 1)


def test_dip_covariances_match_numpy_and_the_sampled_aggregate_posterior():
    post = random_posterior()
    mean, var = post.mean.numpy(), post.logvar.exp().numpy()
    np.testing.assert_allclose(covariance_of_means(post.mean).numpy(), np.cov(mean.T, bias=True),
                               rtol=1e-10, atol=1e-12)
    aggregate = covariance_of_aggregate_posterior(post).numpy()
    np.testing.assert_allclose(aggregate, np.cov(mean.T, bias=True) + np.diag(var.mean(0)), rtol=1e-10)
    # independently: z ~ q(z) = 1/M sum_i q(z|x_i), many draws per image, numpy's covariance of them
    rng = np.random.default_rng(0)
    draws = mean[None] + np.sqrt(var)[None] * rng.standard_normal((4000, *mean.shape))
    sampled = np.cov(draws.reshape(-1, mean.shape[1]).T)
    np.testing.assert_allclose(aggregate, sampled, atol=0.05 * np.abs(aggregate).max())


@pytest.mark.parametrize("name, factor", [("dipvae_i", 10.0), ("dipvae_ii", 1.0)])
def test_dip_loss_is_vae_loss_plus_the_weighted_deviation_from_identity(name, factor):
    model, batch = build(name, lambda_od=3.0), toy_batch()
    assert model.config.lambda_d == factor * 3.0
    torch.manual_seed(2)
    terms = model.objective(batch)
    posterior, _, reconstruction, kl = recomputed(model, batch, 2)
    mean = posterior.mean.detach().double().numpy()
    cov = np.cov(mean.T, bias=True)
    if name == "dipvae_ii":
        cov += np.diag(posterior.logvar.detach().double().exp().numpy().mean(0))
    off = sum(cov[i, j] ** 2 for i in range(4) for j in range(4) if i != j)
    diagonal = sum((cov[i, i] - 1) ** 2 for i in range(4))
    assert math.isclose(terms["off_diagonal"].item(), off, rel_tol=1e-4, abs_tol=1e-7)
    assert math.isclose(terms["diagonal"].item(), diagonal, rel_tol=1e-4)
    expected = reconstruction + kl + 3.0 * off + factor * 3.0 * diagonal
    assert torch.allclose(terms["loss"], expected.float(), rtol=1e-5)


# AnnealedVAE


def test_capacity_rises_linearly_to_c_max_and_stays():
    assert [float(capacity(t, 10.0, 4)) for t in range(7)] == [0, 2.5, 5, 7.5, 10, 10, 10]


def test_annealed_loss_follows_the_schedule_counts_training_steps_and_resumes_it():
    model, batch = build("annealedvae", gamma=100.0, c_max=6.0, iteration_threshold=3), toy_batch()
    seen = []
    for step in range(5):
        torch.manual_seed(step)
        terms = model.objective(batch)
        _, _, reconstruction, kl = recomputed(model, batch, step)
        c = min(6.0, 2.0 * step)
        assert terms["capacity"].item() == c
        assert torch.allclose(terms["capacity_gap"], (kl - c).abs(), atol=1e-4)
        assert torch.allclose(terms["loss"], reconstruction + 100.0 * (kl - c).abs(), atol=1e-2)
        seen.append(terms["capacity"].item())
    assert seen == [0, 2, 4, 6, 6]
    model.eval()
    model.objective(batch)  # evaluation reads the schedule without advancing it
    assert int(model.annealing_step) == 5
    restored = build("annealedvae", gamma=100.0, c_max=6.0, iteration_threshold=3)
    restored.load_state_dict(model.state_dict())
    assert int(restored.annealing_step) == 5


# Training


@pytest.fixture(scope="module")
def small_shapes():
    return shapes(scale=2, orientation=4, pos_x=8, pos_y=8, size=32)


@pytest.mark.parametrize("name, fields, loss_key", [
    ("factorvae", {"gamma": 10.0}, "vae/loss"),
    ("dipvae_i", {"lambda_od": 10.0}, "loss"),
    ("dipvae_ii", {"lambda_od": 10.0}, "loss"),
    ("annealedvae", {"gamma": 10.0, "c_max": 5.0, "iteration_threshold": 40}, "loss"),
])
def test_training_lowers_the_loss_and_logs_every_term(name, fields, loss_key, small_shapes, tmp_path,
                                                      one_torch_thread):
    model = build(name, **fields)
    config = TrainConfig(steps=60, batch_size=32, lr=1e-3, log_every=5, checkpoint_every=60, device="cpu")
    fit(model, small_shapes, config, tmp_path, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    expected = {"factorvae": ["vae/reconstruction", "vae/kl", "vae/total_correlation",
                              "discriminator/real", "discriminator/permuted", "discriminator/accuracy"],
                "dipvae_i": ["reconstruction", "kl", "dip", "off_diagonal", "diagonal"],
                "annealedvae": ["reconstruction", "kl", "capacity", "capacity_gap"]}
    for key in expected.get(name, expected["dipvae_i"]):
        assert key in lines[0], key
    # each log line is already a mean over 5 steps; the first and last 15 steps, averaged
    first = np.mean([line[loss_key] for line in lines[:3]])
    last = np.mean([line[loss_key] for line in lines[-3:]])
    assert last < 0.7 * first, (first, last)


@pytest.mark.parametrize("name, objective", [("factorvae", "vae_objective"), ("dipvae_i", "objective"),
                                             ("dipvae_ii", "objective"), ("annealedvae", "objective")])
def test_sparse_masks_add_their_l0_term_to_every_new_objective(name, objective):
    from untwine.nn.masked import expected_open_connections

    model = build(name, mask={"weight": 0.01})
    terms = getattr(model, objective)(toy_batch(8))
    torch.testing.assert_close(terms["mask_l0"], 0.01 * expected_open_connections(model))
