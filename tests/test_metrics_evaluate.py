"""evaluate(): one encoding pass, the suite on it, eval.json and the MI heatmap, on a small
shapes grid with an encoder that reads position and size off the pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from untwine.data import shapes
from untwine.metrics import MetricError
from untwine.models.base import Posterior
from untwine.protocols import ProtocolResult, format_scores, run_protocol, write_evaluation
from untwine.protocols.disentanglement import encode, evaluate


class PixelReader(nn.Module):
    """Codes: centroid x, centroid y, ink mass, and one dimension that never moves."""

    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.unused = nn.Linear(1, 1)  # so the model has parameters and a device

    def encode(self, x: torch.Tensor) -> Posterior:
        ink = x.sum(dim=(1, 2, 3))
        ys, xs = torch.meshgrid(torch.arange(x.shape[2]), torch.arange(x.shape[3]), indexing="ij")
        cx = (x[:, 0] * xs).sum(dim=(1, 2)) / ink
        cy = (x[:, 0] * ys).sum(dim=(1, 2)) / ink
        mean = torch.stack([cx, cy, ink, torch.zeros_like(ink)], dim=1)
        return Posterior(mean, torch.zeros_like(mean))


@pytest.fixture(scope="module")
def grid():
    # One shape only: that factor never varies and must be dropped, not crash the suite.
    return shapes(shape=1, scale=3, orientation=2, pos_x=6, pos_y=6, size=32, cache=False)


def test_encode_batches_the_posterior_means_and_restores_the_mode(grid):
    model = PixelReader().train()
    rows = np.array([5, 0, 17, 3, 3, 100, 42, 7, 8])
    codes = encode(model, grid, rows, batch_size=4)
    expected = model.encode(grid.load(torch.as_tensor(rows)).images).mean.double().numpy()
    np.testing.assert_allclose(codes, expected, rtol=1e-6)
    assert codes.dtype == np.float64 and model.training


def test_evaluate_scores_writes_eval_json_and_the_heatmap(grid, tmp_path):
    result = evaluate(PixelReader(), grid, n=120, seed=0)
    assert result.parameters["dropped_factors"] == ["shape"]
    assert result.factor_names == ["scale", "orientation", "posX", "posY"]
    assert result.parameters["sampling"] == "without replacement"
    expected = {"mig", "sap", "modularity", "explicitness.train", "explicitness.test"}
    expected |= {f"dci.{k}" for k in ("disentanglement", "completeness")}
    expected |= {"dci.informativeness_train", "dci.informativeness_test"}
    assert set(result.scores) == expected
    assert all(np.isfinite(v) and 0 <= v <= 1 for v in result.scores.values())
    # Each position is read by its own dimension; the still dimension knows nothing.
    normalized = result.mutual_info / result.entropy
    assert normalized[0, 2] > 0.9 and normalized[1, 3] > 0.9
    np.testing.assert_allclose(result.mutual_info[3], 0.0, atol=1e-12)


def test_the_disentanglement_protocol_writes_its_section_of_eval_json(grid, tmp_path):
    result = run_protocol("disentanglement", PixelReader(), grid, seed=0, figures=tmp_path / "figures",
                          options={"n": 120})
    write_evaluation(tmp_path, "disentanglement", result, {"split": "all", "seed": 0, "options": {}})
    write_evaluation(tmp_path, "other", ProtocolResult({"x": 1.0}, {}), {})
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert set(saved) == {"disentanglement", "other"}  # a second protocol keeps the first's section
    section = saved["disentanglement"]
    assert section["scores"] == pytest.approx(evaluate(PixelReader(), grid, n=120, seed=0).scores)
    assert section["parameters"]["n_test"] == 60 and section["parameters"]["dci.learner"] == "gbt"
    assert np.array(section["mutual_info"]["matrix"]).shape == (4, 4)
    png = (tmp_path / "figures" / "mi_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    table = format_scores(result.scores)
    assert "dci.disentanglement" in table and f"{result.scores['mig']:.4f}" in table
    with pytest.raises(ValidationError, match="metrics"):
        run_protocol("disentanglement", PixelReader(), grid, figures=tmp_path, options={"metrics": ["irs"]})


def test_evaluate_refuses_what_it_cannot_do(grid):
    with pytest.raises(MetricError, match="unknown metrics"):
        evaluate(PixelReader(), grid, metrics=("mig", "irs"))
    with pytest.raises(MetricError, match="needs mic_subset"):
        evaluate(PixelReader(), grid, metrics=("mic",))
