"""Ours-Adv (paper 000, eq. 3): the generator's loss is the beta-TCVAE's plus -w log Dis(x_hat), the
discriminator's is -log Dis(x) - log(1 - Dis(x_hat)), each step updates only its own parameters, and
training moves each loss the way it should."""

import json

import pytest
import torch

from untwine.config import TrainConfig
from untwine.data import ImageSet
from untwine.data.batch import Batch
from untwine.models import build_model, model_config
from untwine.models.adversarial import AdversarialBetaTCVAE
from untwine.train.fit import fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def adversarial(**overrides) -> AdversarialBetaTCVAE:
    torch.manual_seed(0)
    values = {"name": "adversarial", "architecture": "resnet_leaky", "channels": 3, "size": 28,
              "latent_dim": 4, "dataset_size": 100, **overrides}
    return build_model(model_config(values))


def toy_batch(n: int = 16, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.rand(n, 3, 28, 28, generator=g), torch.arange(n))


def test_config_defaults_follow_the_paper():
    model = adversarial()
    assert model.config.likelihood == "gaussian"  # pixel-wise L2
    assert model.config.beta == 6.0 and model.config.adversarial_weight == 1.0
    assert [s.name for s in model.training_steps()] == ["generator", "discriminator"]


def test_each_step_updates_only_its_own_parameters():
    model = adversarial()
    generator, discriminator = model.training_steps()
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(discriminator.parameters) == ids(model.discriminator.parameters())
    assert ids(generator.parameters) == ids(model.encoder.parameters()) | ids(model.decoder.parameters())
    assert not ids(generator.parameters) & ids(discriminator.parameters)


@pytest.mark.parametrize("weight", [0.0, 1.0, 5.0])
def test_generator_loss_is_the_tcvae_loss_plus_w_times_minus_log_dis_of_the_reconstruction(weight):
    model = adversarial(adversarial_weight=weight)
    batch = toy_batch()
    torch.manual_seed(3)
    terms = model.generator_objective(batch)
    # the same draw of z again, computed from the pieces
    torch.manual_seed(3)
    posterior = model.encode(batch.images)
    z = posterior.sample()
    x_hat = torch.sigmoid(model.decode(z))
    minus_log_dis = -torch.log(torch.sigmoid(model.discriminator(x_hat))).mean()
    l_rec = (x_hat - batch.images).square().flatten(1).sum(1).mean()
    assert torch.allclose(terms["reconstruction"], l_rec, rtol=1e-5)
    assert torch.allclose(terms["adversarial"], minus_log_dis, rtol=1e-5)
    l_prior = terms["index_code_mi"] + 6.0 * terms["total_correlation"] + terms["dimension_wise_kl"]
    assert torch.allclose(terms["loss"], l_rec + l_prior + weight * minus_log_dis, rtol=1e-5)


def test_discriminator_loss_is_the_binary_cross_entropy_of_real_against_reconstructed():
    model = adversarial()
    batch = toy_batch()
    torch.manual_seed(5)
    terms = model.discriminator_objective(batch)
    torch.manual_seed(5)
    with torch.no_grad():
        x_hat = torch.sigmoid(model.decode(model.encode(batch.images).sample()))
        real, fake = model.discriminator(batch.images), model.discriminator(x_hat)
        expected = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(terms["loss"], expected, rtol=1e-5)
    assert torch.allclose(terms["real"] + terms["fake"], terms["loss"])
    # no gradient reaches the generator through the discriminator's loss
    terms["loss"].backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())


def test_discriminator_steps_lower_its_loss_and_raise_the_generators_adversarial_term():
    model = adversarial()
    _, discriminator = model.training_steps()
    optimizer = torch.optim.Adam(discriminator.parameters, lr=1e-3)
    batch = toy_batch(16)
    torch.manual_seed(0)
    before = model.discriminator_objective(batch)["loss"].item()
    adversarial_before = model.generator_objective(batch)["adversarial"].item()
    for _ in range(20):
        optimizer.zero_grad()
        discriminator.loss(batch)["loss"].backward()
        optimizer.step()
    torch.manual_seed(0)
    after = model.discriminator_objective(batch)
    assert after["loss"].item() < 0.75 * before
    assert after["accuracy"].item() >= 0.9
    # a better discriminator calls the reconstructions fake: -log Dis(x_hat) grows
    assert model.generator_objective(batch)["adversarial"].item() > adversarial_before + 0.5


def test_a_generator_step_fools_a_fixed_discriminator_more():
    """The adversarial term alone (reconstruction and prior aside) moves x_hat towards 'real'."""
    model = adversarial()
    batch = toy_batch(16)
    generator, _ = model.training_steps()
    optimizer = torch.optim.Adam(generator.parameters, lr=1e-3)

    def adversarial_term() -> torch.Tensor:
        torch.manual_seed(1)
        return model.generator_objective(batch)["adversarial"]

    before = adversarial_term().item()
    for _ in range(10):
        optimizer.zero_grad()
        adversarial_term().backward()
        optimizer.step()
    assert adversarial_term().item() < before - 0.01


def test_fit_alternates_the_two_steps_and_lowers_the_generator_loss(tmp_path):
    g = torch.Generator().manual_seed(0)
    # 64 smooth colour blobs: learnable in a few dozen steps
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 28), torch.linspace(-1, 1, 28), indexing="ij")
    centres = torch.rand(64, 2, generator=g) - 0.5
    blobs = torch.exp(-((xx - centres[:, :1, None]) ** 2 + (yy - centres[:, 1:, None]) ** 2) / 0.1)
    pixels = (blobs[:, None].expand(64, 3, 28, 28) * 255).round().to(torch.uint8)
    dataset = ImageSet(pixels)
    model = adversarial(dataset_size=64)
    config = TrainConfig(steps=40, batch_size=16, lr=1e-3, log_every=10, checkpoint_every=40, device="cpu")
    fit(model, dataset, config, tmp_path, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for key in ("generator/loss", "generator/reconstruction", "generator/adversarial",
                "generator/total_correlation", "discriminator/loss", "discriminator/real"):
        assert key in lines[0], key
    assert lines[-1]["generator/reconstruction"] < 0.5 * lines[0]["generator/reconstruction"]
