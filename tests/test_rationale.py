"""Rationales (Algorithms 1 and 2), latent classifiers, the sanity numbers and the blob set."""

import numpy as np
import pytest
import torch

from untwine.config import validate_config
from untwine.data import blobs
from untwine.data.blobs import blob_region
from untwine.explain.classifiers import ResidualMLP, latent_classifier, roc, train_classifier
from untwine.explain.rationale import LatentRationale, rationale
from untwine.explain.sanity import map_correlation, region_mass
from untwine.models.inversion import InversionConfig
from untwine.models.vae import VAE, VAEConfig
from untwine.run import build_model, train


def identity_pair():
    """Images [B, 1, 2, 2] are their own 4-d codes."""
    return (lambda x: x.flatten(1)), (lambda z: z.view(-1, 1, 2, 2))


def toy(w, b=0.0):
    layer = torch.nn.Linear(4, len(w))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(w, dtype=torch.float32))
        layer.bias.fill_(b)
    return layer


def test_the_margin_method_keeps_the_smallest_change_that_moves_the_decision():
    # linear logit w.z + b with identity encoder/decoder: the smallest squared change that brings
    # P below 0.5 is the projection of z_0 onto the plane w.z + b = 0, along w
    encode, decode = identity_pair()
    w = torch.tensor([2.0, -1.0, 0.5, 1.0])
    classifier = toy([w.tolist()])
    x = torch.tensor([[0.9, 0.1, 0.8, 0.7], [0.6, 0.2, 0.3, 0.9]]).view(2, 1, 2, 2)
    z0 = x.flatten(1)
    margin = 1.0
    result = rationale(encode, decode, classifier, x, gamma=1.0, lr=0.05, max_steps=2000, margin=margin,
                       similarity="l2")
    assert result.reached.all() and list(result.status) == ["reached", "reached"]
    assert (result.initial[:, 0] > 0.5).all() and (result.final[:, 0] < 0.5).all()
    moved = z0 - torch.as_tensor(result.codes)
    cosine = torch.nn.functional.cosine_similarity(moved, w.expand_as(moved), dim=1)
    assert (cosine > 0.99).all(), cosine  # along w: the image term has removed every other direction
    to_boundary = (z0 @ w) / w.dot(w) * w.norm()  # distance to the decision plane
    to_margin = (z0 @ w + margin) / w.dot(w) * w.norm()  # distance to the plane the hinge asks for
    assert (moved.norm(dim=1) >= to_boundary - 1e-4).all() and (moved.norm(dim=1) <= to_margin * 1.02).all()
    assert (result.crossed_at <= result.steps).all() and (result.steps < 2000).all()  # stopped on its own
    assert np.allclose(result.difference, result.reconstruction - result.counterfactual)
    # the paper's loop (Adam lr 0.1 on the probability) stops at the first crossing, a few steps in
    paper = rationale(encode, decode, classifier, x, method="paper", gamma=1.0, lr=0.1, max_steps=2000)
    assert paper.reached.all() and (paper.steps < 15).all()


def test_the_image_term_binds_a_larger_gamma_gives_a_smaller_change():
    encode, decode = identity_pair()
    classifier = toy([[2.0, -1.0, 0.5, 1.0]])
    x = torch.tensor([[0.9, 0.1, 0.8, 0.7]]).view(1, 1, 2, 2)
    free = rationale(encode, decode, classifier, x, gamma=0.0, lr=0.05, max_steps=300, patience=300)
    bound = rationale(encode, decode, classifier, x, gamma=1.0, lr=0.05, max_steps=300, patience=300)
    assert free.reached[0] and bound.reached[0]
    assert bound.change[0] < 0.8 * free.change[0]


def test_judged_on_the_decoded_image_a_rationale_cannot_hide_in_a_direction_the_decoder_ignores():
    # the decoder drops the last coordinate, which the classifier leans on most
    encode = lambda x: x.flatten(1)  # noqa: E731
    decode = lambda z: torch.cat([z[:, :3], torch.zeros_like(z[:, 3:])], 1).view(-1, 1, 2, 2)  # noqa: E731
    classifier = toy([[1.0, 0.0, 0.0, 5.0]], b=-0.5)
    x = torch.tensor([[0.9, 0.5, 0.5, 0.0]]).view(1, 1, 2, 2)
    on_z = rationale(encode, decode, classifier, x, reencode=False, gamma=1.0, lr=0.05, max_steps=500)
    on_image = rationale(encode, decode, classifier, x, reencode=True, gamma=1.0, lr=0.05, max_steps=500)
    assert on_z.reached[0] and np.abs(on_z.difference).max() < 1e-3  # "reached" with an unchanged image
    assert on_image.reached[0] and on_image.difference[0, 0, 0, 0] > 0.35  # the first pixel had to drop


def test_rows_say_how_they_ended_and_do_not_disturb_each_other():
    encode, decode = identity_pair()
    classifier = toy([[2.0, -1.0, 0.5, 1.0]])
    easy = torch.tensor([0.3, 0.1, 0.1, 0.1]).view(1, 1, 2, 2)
    hard = torch.tensor([9.0, 0.0, 0.0, 9.0]).view(1, 1, 2, 2)
    there = torch.tensor([-1.0, 0.5, 0.0, 0.0]).view(1, 1, 2, 2)  # P < 0.5 before any step
    options = dict(gamma=1.0, lr=0.05, max_steps=40)
    rows = rationale(encode, decode, classifier, torch.cat([easy, hard, there]), **options)
    alone = rationale(encode, decode, classifier, easy, **options)
    assert list(rows.status) == ["reached", "max_steps", "already"]
    assert rows.reached.tolist() == [True, False, False]
    assert rows.steps[1] == 40 and rows.steps[2] == 0 and rows.crossed_at[1] == -1
    assert np.abs(rows.difference[2]).max() == 0  # nothing to explain: no change shown
    assert rows.steps[0] == alone.steps[0] and np.allclose(rows.codes[0], alone.codes[0], atol=1e-6)
    assert "already there" in rows.describe(2) and "NOT reached within 40" in rows.describe(1)


def test_algorithm_2_moves_from_the_predicted_class_until_the_target_is_on_top():
    encode, decode = identity_pair()
    classifier = toy([[3.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3.0]])
    x = torch.tensor([[1.0, 0.0, 0.0, 0.2]]).view(1, 1, 2, 2)
    result = rationale(encode, decode, classifier, x, target=2, gamma=0.1, max_steps=1000, cutoff=0.3)
    assert result.source[0] == 0 and result.target[0] == 2  # argmax, the printed argmin would say 1
    assert result.reached[0] and result.final[0, 0] < 0.3 and result.final_class[0] == 2
    # explaining class 1, which is not on top: towards 0, the decision is already there
    explained = rationale(encode, decode, classifier, x, source=1, target=0, max_steps=1000)
    assert explained.source[0] == 1 and explained.status[0] == "already" and explained.steps[0] == 0


def test_bad_arguments_are_refused_before_work():
    encode, decode = identity_pair()
    with pytest.raises(ValueError, match="gamma"):
        rationale(encode, decode, toy([[1.0, 0, 0, 0]]), torch.ones(1, 1, 2, 2), gamma=-1)
    with pytest.raises(ValueError, match="target"):
        rationale(encode, decode, toy([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]), torch.ones(1, 1, 2, 2), target=5)
    with pytest.raises(ValueError, match="method"):
        rationale(encode, decode, toy([[1.0, 0, 0, 0]]), torch.ones(1, 1, 2, 2), method="sgd")


def test_latent_rationale_is_captum_shaped_for_a_vae_and_a_wgan_inversion(tmp_path):
    values = {"name": "gan", "output": str(tmp_path), "data": {"source": "blobs", "options": {"n": 64}},
              "model": {"name": "wgan", "latent_dim": 4, "width": 8},
              "train": {"steps": 1, "batch_size": 16, "device": "cpu"}}
    gan_run, _ = train(validate_config(values), progress=False)
    inversion = build_model(InversionConfig(generator=str(gan_run.dir), channels=1, size=28, latent_dim=4,
                                            width=8))
    vae = VAE(VAEConfig(latent_dim=4, channels=1, size=28, likelihood="gaussian"))
    x = blobs(n=6).load(range(3)).images
    for model in (vae, inversion):
        classifier = latent_classifier("linear", 4, 3)
        explainer = LatentRationale(classifier, model, max_steps=5)
        maps = explainer.attribute(x, target=0, towards=1)
        assert maps.shape == x.shape and maps.dtype == x.dtype
        maps, result = explainer.attribute(x, target=0, towards=1, return_result=True)
        assert (result.source == 0).all() and (result.target == 1).all() and result.counterfactual.shape == x.shape
        assert np.allclose(maps.numpy(), result.reconstruction - result.counterfactual, atol=1e-6)
    with pytest.raises(ValueError, match="no encoder"):
        LatentRationale(latent_classifier("linear", 4, 2), gan_run.model)


def test_the_residual_mlp_has_six_layers_of_100_units_and_classifiers_learn():
    model = ResidualMLP(16, 2)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears[:-1]] == [100] * 6
    torch.manual_seed(0)
    codes = torch.randn(400, 16)
    labels = (codes[:, 0] + codes[:, 1] > 0).long()
    for kind in ("linear", "mlp", "resmlp"):
        model = train_classifier(latent_classifier(kind, 16, 2), codes, labels, steps=300)
        with torch.no_grad():
            assert roc(model(codes).softmax(1)[:, 1].numpy(), labels.numpy()).auc > 0.95, kind


def test_roc_auc_against_a_count_of_ordered_pairs():
    scores, labels = np.array([0.1, 0.4, 0.35, 0.8, 0.2]), np.array([0, 0, 1, 1, 1])
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[labels == 1] for n in scores[labels == 0]]
    assert roc(scores, labels).auc == pytest.approx(np.mean(pairs))


def test_region_mass_and_map_correlation_by_hand():
    region = np.zeros((2, 2), bool)
    region[0, 0] = True
    maps = np.array([[[1.0, -1.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    mass = region_mass(maps, region)
    assert mass[0] == pytest.approx(0.25) and np.isnan(mass[1])
    a, b = np.array([[1.0, 2, 3, 4]]), np.array([[2.0, 4, 6, 8.5]])
    assert map_correlation(a, b)[0] == pytest.approx(np.corrcoef(a[0], b[0])[0, 1])


def test_blob_set_class_is_decided_by_the_region():
    data = blobs(n=200, size=28, seed=3)
    assert set(np.bincount(data.labels)) == {100}
    x = data.images().float().numpy()[:, 0] / 255
    region = blob_region(28)
    inside = x[:, region].max(1)
    assert inside[data.labels == 1].min() > inside[data.labels == 0].max()
