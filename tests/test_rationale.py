"""Rationales (Algorithms 1 and 2), latent classifiers, the sanity numbers and the blob set."""

import numpy as np
import pytest
import torch

from untwine.data import blobs
from untwine.data.blobs import blob_region
from untwine.explain.classifiers import ResidualMLP, latent_classifier, roc, train_classifier
from untwine.explain.rationale import rationale
from untwine.explain.sanity import map_correlation, region_mass


def identity_pair():
    """Images [B, 1, 2, 2] are their own 4-d codes."""
    return (lambda x: x.flatten(1)), (lambda z: z.view(-1, 1, 2, 2))


def toy(w, b=0.0):
    layer = torch.nn.Linear(4, len(w))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(w, dtype=torch.float32))
        layer.bias.fill_(b)
    return layer


def test_algorithm_1_moves_a_linear_classifier_across_the_cutoff_and_stops_there():
    encode, decode = identity_pair()
    classifier = toy([[2.0, -1.0, 0.5, 1.0]])
    x = torch.tensor([[0.9, 0.1, 0.8, 0.7], [0.6, 0.2, 0.3, 0.9]]).view(2, 1, 2, 2)
    result = rationale(encode, decode, classifier, x, gamma=1.0, lr=0.05, max_steps=500, cutoff=0.5)
    assert result.reached.all()
    assert (result.initial[:, 0] > 0.5).all() and (result.final[:, 0] < 0.5).all()
    for i, steps in enumerate(result.steps):
        assert result.trajectory[steps - 1, i] >= 0.5 > result.trajectory[steps, i]  # the first crossing
        assert np.isnan(result.trajectory[steps + 1 :, i]).all()  # and no step after it
    assert np.allclose(result.difference, result.reconstruction - result.counterfactual)


def test_algorithm_2_moves_from_the_predicted_class_not_the_least_likely_one():
    encode, decode = identity_pair()
    classifier = toy([[3.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3.0]])
    x = torch.tensor([[1.0, 0.0, 0.0, 0.2]]).view(1, 1, 2, 2)
    result = rationale(encode, decode, classifier, x, target=2, gamma=0.1, max_steps=1000, cutoff=0.3)
    assert result.source[0] == 0 and result.target[0] == 2  # argmax, the printed argmin would say 1
    assert result.reached[0] and result.final[0, 0] < 0.3 and result.final_class[0] == 2


def test_a_row_that_cannot_cross_uses_every_step_and_rows_do_not_disturb_each_other():
    encode, decode = identity_pair()
    classifier = toy([[2.0, -1.0, 0.5, 1.0]])
    easy = torch.tensor([0.3, 0.1, 0.1, 0.1]).view(1, 1, 2, 2)
    hard = torch.tensor([9.0, 0.0, 0.0, 9.0]).view(1, 1, 2, 2)
    both = rationale(encode, decode, classifier, torch.cat([easy, hard]), gamma=1.0, lr=0.05, max_steps=40)
    alone = rationale(encode, decode, classifier, easy, gamma=1.0, lr=0.05, max_steps=40)
    assert both.reached.tolist() == [True, False] and both.steps[1] == 40
    assert both.steps[0] == alone.steps[0] and np.allclose(both.codes[0], alone.codes[0], atol=1e-6)


def test_bad_arguments_are_refused_before_work():
    encode, decode = identity_pair()
    with pytest.raises(ValueError, match="gamma"):
        rationale(encode, decode, toy([[1.0, 0, 0, 0]]), torch.ones(1, 1, 2, 2), gamma=-1)
    with pytest.raises(ValueError, match="target"):
        rationale(encode, decode, toy([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]), torch.ones(1, 1, 2, 2), target=5)


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
