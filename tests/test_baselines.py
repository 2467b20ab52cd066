"""Captum baselines on a pixel classifier whose decision lives in a known region, and `untwine explain`."""

import json
from pathlib import Path

import numpy as np
import torch

from untwine.cli import main
from untwine.config import validate_config
from untwine.data.blobs import blob_region
from untwine.explain.baselines import METHODS, attributions, superpixels
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
    maps = attributions(RegionClassifier(region), x, [1, 1, 1], lime_samples=50)
    assert set(maps) == set(METHODS) and all(m.shape == (3, 28, 28) for m in maps.values())
    for name in ("saliency", "integrated_gradients"):
        assert np.allclose(region_mass(maps[name], region), 1.0), name
    grown = np.zeros_like(region)  # an 8x8 window touches the region from up to 7 pixels away
    ys, xs = np.nonzero(region)
    grown[: ys.max() + 8, : xs.max() + 8] = True
    assert np.allclose(region_mass(maps["occlusion"], grown), 1.0)


def test_superpixels_cover_the_image_with_several_segments():
    from untwine.data import blobs

    image = blobs(n=2, size=28).load([0]).images[0].numpy()
    labels = superpixels(image, segments=20)
    assert labels.shape == (28, 28) and labels.min() == 0 and labels.max() + 1 > 3


def test_untwine_explain_writes_figures_and_numbers(tmp_path, capsys):
    values = {"name": "vae", "output": str(tmp_path), "data": {"source": "blobs", "options": {"n": 200}},
              "model": {"name": "vae", "latent_dim": 4, "likelihood": "gaussian"},
              "train": {"steps": 20, "batch_size": 16, "device": "cpu"}}
    run, _ = train(validate_config(values), progress=False)
    assert main(["explain", str(run.dir), "--image", "0", "--max-steps", "20", "--target", "1"]) == 0
    numbers = json.loads((run.dir / "explain" / "explain_test0.json").read_text())
    assert numbers["target_class"] == 1 and 0 <= numbers["steps"] <= 20
    for figure in numbers["figures"]:
        assert Path(figure).exists()
    assert main(["explain", str(run.dir), "--image", "9999"]) == 2
    assert "outside the test split" in capsys.readouterr().err
    # the classifier it trained is the run's, where the report and the explorer look for it
    classifier = load_classifier(run.dir, latent_dim=4)
    assert classifier is not None and classifier.config.kind == "linear"
    assert len(classifier.classes) == 2
    assert main(["report", str(run.dir)]) == 0
    assert "<h3>rationales</h3>" in (run.dir / "report.html").read_text()
