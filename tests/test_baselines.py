"""Captum baselines on a pixel classifier whose decision lives in a known region, and `untwine explain`."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from untwine.cli import main
from untwine.config import validate_config
from untwine.data.blobs import blob_region
from untwine.explain.baselines import METHODS, attributions, box_smooth, superpixel_means, superpixels
from untwine.explain.run_classifier import load_classifier
from untwine.explain.sanity import region_mass
from untwine.run import train


class RegionClassifier(torch.nn.Module):
    """P(present) = sigmoid(10 * (mean brightness in the region - 0.15)): only the region matters."""

    def __init__(self, region: np.ndarray) -> None:
        super().__init__()
        self.mask = torch.as_tensor(region, dtype=torch.float32)

    def forward(self, x):
        logit = 10 * ((x[:, 0] * self.mask).sum((1, 2)) / self.mask.sum() - 0.15)
        p = torch.sigmoid(logit)[:, None]
        return torch.cat([1 - p, p], 1)


def test_gradient_and_occlusion_maps_of_a_region_classifier_lie_in_the_region():
    region = blob_region(28)
    torch.manual_seed(0)
    x = torch.rand(3, 1, 28, 28)
    maps = attributions(RegionClassifier(region), x, [1, 1, 1], lime_samples=50, smooth=1)
    assert set(maps) == set(METHODS) and all(m.shape == (3, 28, 28) for m in maps.values())
    smoothed = attributions(RegionClassifier(region), x, [1, 1, 1], methods=["saliency"])["saliency"]
    ys, xs = np.nonzero(region)
    one_more = np.zeros_like(region)  # the 2x2 box reaches one pixel past the region's bottom right
    one_more[: ys.max() + 2, : xs.max() + 2] = True
    assert np.allclose(region_mass(smoothed, one_more), 1.0) and region_mass(smoothed, region).min() < 1
    for name in ("saliency", "integrated_gradients"):
        assert np.allclose(region_mass(maps[name], region), 1.0), name
    grown = np.zeros_like(region)  # an 8x8 window touches the region from up to 7 pixels away
    grown[: ys.max() + 8, : xs.max() + 8] = True
    assert np.allclose(region_mass(maps["occlusion"], grown), 1.0)


def test_superpixels_cover_the_image_with_several_segments():
    from untwine.data import blobs

    image = blobs(n=2, size=28).load([0]).images[0].numpy()
    labels = superpixels(image, segments=20)
    assert labels.shape == (28, 28) and labels.min() == 0 and labels.max() + 1 > 3


def test_occlusion_fills_grey_and_lime_replaces_a_superpixel_by_its_own_mean():
    labels = torch.tensor([[0, 0, 1, 1]] * 4)
    image = torch.arange(16.0).view(1, 4, 4) / 16
    means = superpixel_means(image, labels)
    assert torch.allclose(means[0, :, :2], image[0, :, :2].mean().expand(4, 2))
    assert torch.allclose(means[0, :, 2:], image[0, :, 2:].mean().expand(4, 2))

    class Brightness(torch.nn.Module):  # P(1) rises with the mean brightness: grey occlusion of a grey
        def forward(self, x):  # image changes nothing, a black box would
            p = torch.sigmoid(20 * (x.mean((1, 2, 3)) - 0.5))[:, None]
            return torch.cat([1 - p, p], 1)

    grey = torch.full((1, 1, 28, 28), 0.5)
    maps = attributions(Brightness(), grey, [1], methods=["occlusion"])
    assert np.abs(maps["occlusion"]).max() < 1e-6
    black = attributions(Brightness(), grey, [1], methods=["occlusion"], fill=0.0)
    assert black["occlusion"].min() > 0


def test_box_smoothing_removes_a_stride_two_checkerboard():
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2
    maps = box_smooth(checker.float().view(1, 1, 8, 8), 2)[..., :-1, :-1]  # the edge repeats itself
    assert maps.shape == (1, 1, 7, 7) and torch.allclose(maps, torch.full_like(maps, 0.5))


def test_untwine_explain_writes_arrays_numbers_and_figures(tmp_path, capsys):
    values = {"name": "vae", "output": str(tmp_path), "data": {"source": "blobs", "options": {"n": 200}},
              "model": {"name": "vae", "latent_dim": 4, "likelihood": "gaussian"},
              "train": {"steps": 20, "batch_size": 16, "device": "cpu"}}
    run, _ = train(validate_config(values), progress=False)
    out = tmp_path / "why"
    assert main(["explain", str(run.dir), "--images", "0:4", "--max-steps", "20", "--target", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    numbers = json.loads((out / "rationales.json").read_text())
    records = numbers["rationales"]
    assert [r["index"] for r in records] == list(range(4))
    arrays = np.load(out / "rationales.npz")
    for key in ("inputs", "reconstructions", "counterfactuals", "attributions"):
        assert arrays[key].shape == (4, 1, 28, 28) and arrays[key].dtype == np.float32, key
    assert np.allclose(arrays["attributions"], arrays["reconstructions"] - arrays["counterfactuals"], atol=1e-6)
    for r, counterfactual, reconstruction in zip(records, arrays["counterfactuals"], arrays["reconstructions"],
                                                 strict=True):
        assert r["target_class"] == 1 and r["status"] in ("reached", "already", "max_steps")
        assert r["reached"] == (r["status"] == "reached") and 0 <= r["steps"] <= 20
        assert r["mean_absolute_change"] == pytest.approx(np.abs(reconstruction - counterfactual).mean(), abs=1e-6)
        if r["status"] == "already":  # a row already on the target's side says so and shows no change
            assert r["steps"] == 0 and r["mean_absolute_change"] == 0 and "already there" in r["summary"]
        assert len(r["probabilities_before"]) == len(r["probabilities_after"]) == 2
    assert f"{len(records)} images:" in printed and "already there before any step" in printed
    for figure in numbers["figures"]:
        assert Path(figure).exists()
    assert main(["explain", str(run.dir), "--images", "0:10", "--class", "1", "--target", "0", "--max-steps", "5",
                 "--out", str(out)]) == 0
    chosen = json.loads((out / "rationales.json").read_text())["rationales"]
    assert chosen and all(r["label"] == 1 and r["source_class"] == 1 for r in chosen)
    assert main(["explain", str(run.dir), "--images", "9999"]) == 2
    assert "outside the test split" in capsys.readouterr().err
    assert main(["explain", str(run.dir), "--images", "nothing.png"]) == 2
    # the classifier it trained is the run's, where the report and the explorer look for it
    classifier = load_classifier(run.dir, latent_dim=4)
    assert classifier is not None and classifier.config.kind == "linear"
    assert len(classifier.classes) == 2
