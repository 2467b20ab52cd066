"""The objectives' terms are what the papers say; the networks have the shapes they promise."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from untwine.data.batch import Batch
from untwine.models import build_model, model_config
from untwine.models.base import Posterior
from untwine.models.divergence import decompose_kl, log_importance_weights
from untwine.models.likelihood import reconstruction_loss
from untwine.nn import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder


def random_posterior(batch: int, dim: int, seed: int = 0, correlated: bool = False) -> Posterior:
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(batch, dim, generator=g) * 1.5
    if correlated:  # every dimension is a copy of the first: the aggregate posterior is far from factorized
        mean = mean[:, :1].expand(batch, dim).clone()
    logvar = torch.randn(batch, dim, generator=g) * 0.3 - 2.0
    return Posterior(mean, logvar)


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_decomposition_sums_to_the_monte_carlo_kl(estimator):
    """MI + TC + dimension-wise KL = mean_i [log q(z_i|x_i) - log p(z_i)], an identity of the estimator."""
    post = random_posterior(32, 6)
    z = post.sample()
    terms = decompose_kl(z, post, dataset_size=1000, estimator=estimator)
    q = Independent(Normal(post.mean, torch.exp(0.5 * post.logvar)), 1)
    p = Independent(Normal(torch.zeros_like(z), torch.ones_like(z)), 1)
    monte_carlo_kl = (q.log_prob(z) - p.log_prob(z)).mean()
    assert torch.allclose(terms.total, monte_carlo_kl, atol=1e-4)
    assert torch.allclose(
        terms.index_code_mi + terms.total_correlation + terms.dimension_wise_kl, monte_carlo_kl,
        atol=1e-4,
    )


def test_with_unit_weights_the_tcvae_prior_is_the_vae_kl_in_expectation():
    torch.manual_seed(0)
    post = random_posterior(16, 5)
    draws = torch.stack([decompose_kl(post.sample(), post, 500).total for _ in range(4000)])
    q = Independent(Normal(post.mean, torch.exp(0.5 * post.logvar)), 1)
    p = Independent(Normal(torch.zeros_like(post.mean), torch.ones_like(post.mean)), 1)
    analytic = kl_divergence(q, p).mean()
    standard_error = draws.std() / math.sqrt(len(draws))
    assert abs(draws.mean() - analytic) < 4 * standard_error


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_total_correlation_is_non_negative_on_average_and_larger_for_a_correlated_code(estimator):
    torch.manual_seed(1)

    def average_tc(correlated: bool) -> float:
        values = []
        for seed in range(200):
            post = random_posterior(64, 4, seed, correlated)
            values.append(decompose_kl(post.sample(), post, 64, estimator).total_correlation)
        return float(torch.stack(values).mean())

    # independent random means still give a finite mixture, which has some true TC (> 0)
    factorized, correlated = average_tc(False), average_tc(True)
    assert factorized >= 0.0
    assert correlated > 1.0
    assert correlated > factorized + 1.0


def test_stratified_tc_is_zero_when_every_posterior_is_the_prior():
    """q(z|x) = N(0, I) for every x makes q(z) = N(0, I): no total correlation, no index-code MI."""
    post = Posterior(torch.zeros(32, 5), torch.zeros(32, 5))
    terms = decompose_kl(post.sample(), post, dataset_size=10_000, estimator="mss")
    assert abs(terms.total_correlation.item()) < 1e-5
    assert abs(terms.index_code_mi.item()) < 1e-5


def test_stratified_weights_put_one_over_n_on_the_diagonal_and_rows_sum_to_one():
    n, m = 100, 5
    w = log_importance_weights(m, n, torch.device("cpu")).exp()
    assert torch.allclose(torch.diagonal(w), torch.full((m,), 1 / n))
    assert torch.allclose(w.sum(1), torch.ones(m))
    strat = (n - (m - 1)) / (n * (m - 1))
    for i in range(m):
        off_diagonal = sorted(w[i, j].item() for j in range(m) if j != i)
        assert math.isclose(off_diagonal[0], strat, rel_tol=1e-6)
        assert all(math.isclose(v, 1 / (m - 1), rel_tol=1e-6) for v in off_diagonal[1:])


def test_tcvae_terms_are_logged_under_their_paper_names_and_weighted_as_configured():
    torch.manual_seed(0)
    cfg = {"name": "betatcvae", "channels": 1, "size": 32, "latent_dim": 4, "dataset_size": 100}
    x = (torch.rand(16, 1, 32, 32) > 0.5).float()
    batch = Batch(x, torch.arange(16))
    weights = {"alpha": 0.5, "beta": 7.0, "gamma": 2.0}
    model = build_model(model_config({**cfg, **weights}))
    torch.manual_seed(3)
    terms = model.objective(batch)
    assert {"reconstruction", "index_code_mi", "total_correlation", "dimension_wise_kl"} <= set(terms)
    expected = (terms["reconstruction"] + 0.5 * terms["index_code_mi"]
                + 7.0 * terms["total_correlation"] + 2.0 * terms["dimension_wise_kl"])
    assert torch.allclose(terms["loss"], expected)


def test_vae_loss_is_reconstruction_plus_beta_times_closed_form_kl():
    torch.manual_seed(0)
    model = build_model(model_config({"name": "betavae", "channels": 1, "size": 28, "beta": 4.0,
                                      "architecture": "mlp", "latent_dim": 3}))
    x = torch.rand(8, 1, 28, 28).round()
    terms = model.objective(Batch(x, torch.arange(8)))
    post = model.encode(x)
    q = Independent(Normal(post.mean, torch.exp(0.5 * post.logvar)), 1)
    p = Independent(Normal(torch.zeros_like(post.mean), torch.ones_like(post.mean)), 1)
    assert torch.allclose(terms["kl"], kl_divergence(q, p).mean(), atol=1e-5)
    assert torch.allclose(terms["loss"], terms["reconstruction"] + 4.0 * terms["kl"])


def test_likelihoods_against_direct_formulas():
    x = torch.rand(4, 1, 8, 8).round()
    logits = torch.randn(4, 1, 8, 8)
    p = torch.sigmoid(logits)
    bernoulli = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1).mean()
    assert torch.allclose(reconstruction_loss(x, logits, "bernoulli"), bernoulli, atol=1e-4)
    assert torch.allclose(
        reconstruction_loss(x, logits, "gaussian"), (p - x).square().flatten(1).sum(1).mean())
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        reconstruction_loss(x, logits, "poisson")


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_networks_map_images_to_codes_and_back(size, channels):
    x = torch.rand(2, channels, size, size)
    for enc, dec in ((ConvEncoder, ConvDecoder), (MLPEncoder, MLPDecoder)):
        out = enc(channels, size, 20)(x)
        assert out.shape == (2, 20)
        assert dec(channels, size, 10)(out[:, :10]).shape == x.shape


def test_conv64_has_the_locatello_parameter_count():
    count = sum(p.numel() for m in (ConvEncoder(1, 64, 20), ConvDecoder(1, 64, 10)) for p in m.parameters())
    assert count == 764_245


def test_unknown_model_and_bad_field_are_named():
    with pytest.raises(ValueError, match="unknown model 'tcvae'"):
        model_config({"name": "tcvae"})
    with pytest.raises(ValueError, match="estimator"):
        model_config({"name": "betatcvae", "estimator": "exact"})
