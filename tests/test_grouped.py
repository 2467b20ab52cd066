"""Grouped-VAE (paper 002): the gradient routing of eqs. (8)-(10), the terms by hand, training."""

import pytest
import torch
from pydantic import ValidationError
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from untwine.config import TrainConfig
from untwine.data import shapes
from untwine.data.batch import Batch
from untwine.models import GroupedVAE, build_model, model_config
from untwine.train.fit import fit

SIZE = 8


def tiny_model(groups=(2, 1, 2), beta: float = 1.0, seed: int = 0) -> GroupedVAE:
    torch.manual_seed(seed)
    config = model_config({"name": "grouped", "groups": list(groups), "beta": beta, "architecture": "mlp",
                           "channels": 1, "size": SIZE})
    model = build_model(config)
    assert isinstance(model, GroupedVAE)
    return model


def binary_batch(n: int = 6, seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch((torch.rand(n, 1, SIZE, SIZE, generator=g) > 0.5).float(), torch.arange(n))


def head_rows(model: GroupedVAE, dims: list[int]) -> list[int]:
    """Rows of the encoder's last layer that output the means and log-variances of ``dims``."""
    return dims + [model.latent_dim + d for d in dims]


def group_dims(model: GroupedVAE) -> list[list[int]]:
    starts = torch.tensor([0, *model.config.groups]).cumsum(0).tolist()
    return [list(range(a, b)) for a, b in zip(starts[:-1], starts[1:], strict=True)]


@pytest.mark.parametrize("i", [1, 2, 3])
def test_loss_i_reaches_the_decoder_and_only_group_i_of_the_encoder(i):
    model = tiny_model()
    batch = binary_batch()
    torch.manual_seed(5)
    model.objective(batch)[f"reconstruction_{i}"].backward()
    head = model.encoder.net[-1]
    dims = group_dims(model)
    for j, group in enumerate(dims, start=1):
        rows = head_rows(model, group)
        weight_grad, bias_grad = head.weight.grad[rows], head.bias.grad[rows]
        if j == i:
            assert weight_grad.abs().sum() > 0 and bias_grad.abs().sum() > 0
        else:  # earlier groups are detached, later ones are zeros: nothing from loss i
            assert torch.count_nonzero(weight_grad) == 0 and torch.count_nonzero(bias_grad) == 0
    # the shared hidden layers produce every group, so loss i reaches them through z_i
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.net[:-1].parameters())
    # the full decoder, every layer
    for name, p in model.decoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_kl_term_reaches_every_group():
    model = tiny_model()
    torch.manual_seed(5)
    model.objective(binary_batch())["kl"].backward()
    grads = model.encoder.net[-1].weight.grad
    for group in group_dims(model):
        assert grads[head_rows(model, group)].abs().sum() > 0
    assert all(p.grad is None for p in model.decoder.parameters())


def test_terms_equal_a_hand_computation():
    """eqs. (7)-(11) written out with torch.distributions on a tiny batch, the same noise."""
    beta = 2.5
    model = tiny_model(beta=beta)
    batch = binary_batch()
    x = batch.images
    torch.manual_seed(11)
    terms = model.objective(batch)

    with torch.no_grad():
        mean, logvar = model.encoder(x).chunk(2, dim=1)
        torch.manual_seed(11)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        expected = {}
        for i, group in enumerate(group_dims(model), start=1):
            visible = torch.zeros_like(z)
            upto = group[-1] + 1
            visible[:, :upto] = z[:, :upto]  # z_1..z_i, zeros after
            p_x = Independent(Bernoulli(logits=model.decoder(visible)), 3)
            expected[f"reconstruction_{i}"] = -p_x.log_prob(x).mean()
        q = Independent(Normal(mean, torch.exp(0.5 * logvar)), 1)
        prior = Independent(Normal(torch.zeros_like(mean), torch.ones_like(mean)), 1)
        kl = kl_divergence(q, prior).mean()
    reconstruction = sum(expected.values())
    assert set(terms) == {"loss", "reconstruction", "reconstruction_1", "reconstruction_2",
                          "reconstruction_3", "kl"}
    for name, value in expected.items():
        assert torch.allclose(terms[name], value, atol=1e-4), name
    assert torch.allclose(terms["reconstruction"], reconstruction, atol=1e-4)
    assert torch.allclose(terms["kl"], kl, atol=1e-5)
    assert torch.allclose(terms["loss"], reconstruction + beta * kl, atol=1e-4)


def test_the_last_term_decodes_the_whole_latent_as_a_vae_would():
    model = tiny_model(groups=(3, 3))
    batch = binary_batch()
    torch.manual_seed(2)
    terms = model.objective(batch)
    torch.manual_seed(2)
    z = model.encode(batch.images).sample()
    full = torch.nn.functional.binary_cross_entropy_with_logits(
        model.decode(z), batch.images, reduction="sum") / len(z)
    assert torch.allclose(terms["reconstruction_2"], full, atol=1e-4)


def test_config_groups_must_tile_the_latent():
    assert model_config({"name": "grouped", "groups": [2, 4]}).latent_dim == 6
    assert model_config({"name": "grouped"}).groups == [3, 3]
    with pytest.raises(ValidationError, match="add up to 5 but latent_dim is 6"):
        model_config({"name": "grouped", "groups": [2, 3], "latent_dim": 6})
    with pytest.raises(ValidationError, match="positive sizes"):
        model_config({"name": "grouped", "groups": [3, 0, 3]})


def test_training_lowers_the_loss(tmp_path):
    data = shapes(shape=2, scale=2, orientation=2, pos_x=4, pos_y=4, size=16, cache=False)
    torch.manual_seed(0)
    model = build_model(model_config({"name": "grouped", "groups": [2, 2], "architecture": "mlp",
                                      "channels": 1, "size": 16}))
    batch = data.load(torch.arange(len(data)))

    def terms() -> dict[str, float]:
        """The terms on every image, averaged over 4 fixed draws of the reparameterisation noise."""
        draws = []
        for seed in range(4):
            torch.manual_seed(seed)
            with torch.no_grad():
                draws.append({k: v.item() for k, v in model.objective(batch).items()})
        return {k: sum(d[k] for d in draws) / len(draws) for k in draws[0]}

    before = terms()
    fit(model, data, TrainConfig(steps=150, batch_size=32, lr=1e-3, log_every=50), tmp_path,
        progress=False)
    after = terms()
    # measured: loss 355 -> 59, each reconstruction 177 -> 29 (OMP_NUM_THREADS 1 and 2 alike); the
    # factor 2 margins hold for any CPU's rounding. Whether decoding both groups beats the first alone
    # is left out: at 150-400 steps the two differ by -1.8 to +0.1 nats (of 20-33), the sign set by the seed
    # (notes/issue-18.md), a difference no float margin can make portable
    assert after["loss"] < 0.5 * before["loss"]
    assert after["reconstruction_1"] < 0.5 * before["reconstruction_1"]
    assert after["reconstruction_2"] < 0.5 * before["reconstruction_2"]
