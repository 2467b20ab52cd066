"""Structure of variance: dataset measures against grids whose per-factor variances are known in
closed form, decoder measures against linear and elementwise decoders whose Jacobians are known, the
rendered squares that differ in one property, and ``untwine variance``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from untwine.cli import main
from untwine.config import validate_config
from untwine.data import squares
from untwine.data.errors import DataError
from untwine.data.shapes import grid_factors
from untwine.metrics import MetricError
from untwine.metrics.variance import decoder_jacobians, factor_variance, jacobian_variance
from untwine.models import build_model, model_config
from untwine.protocols import evaluate_run, read_evaluation
from untwine.protocols.variance import dataset_variance, model_variance
from untwine.run import train


def _uniform_variance(m: int) -> float:
    """Population variance of the m values i / (m - 1), i = 0..m-1: (m + 1) / (12 (m - 1))."""
    return (m + 1) / (12 * (m - 1))


def _blocks(sizes=(3, 5), pixels=(4, 2)) -> tuple[np.ndarray, np.ndarray]:
    """Each factor sets the intensity i / (m - 1) of its own block of pixels."""
    factors = grid_factors(sizes)
    images = np.zeros((len(factors), sum(pixels)))
    start = 0
    for k, (m, n) in enumerate(zip(sizes, pixels, strict=True)):
        images[:, start : start + n] = factors[:, k : k + 1] / (m - 1)
        start += n
    return images, factors


@pytest.mark.parametrize("bases", [None, 40])
def test_independent_blocks_induce_their_closed_form_variance_everywhere(bases):
    images, factors = _blocks()
    result = factor_variance(images.__getitem__, factors, (3, 5), ("a", "b"), bases=bases, seed=1)
    expected = np.array([4 * _uniform_variance(3), 2 * _uniform_variance(5)])
    np.testing.assert_allclose(result.global_variance, expected)
    np.testing.assert_allclose(result.consistency, 0, atol=1e-12)
    np.testing.assert_allclose(result.share, expected / expected.sum())
    gap = (expected[0] - expected[1]) / expected[0]
    assert result.min_gap == pytest.approx(gap) and result.closest_pair == ("a", "b")
    assert result.bases == (15 if bases is None else 40)


def test_a_change_on_as_many_pixels_as_the_object_is_large_is_inconsistent():
    # factor "size" lights n(s) = 2, 4, 6 pixels; factor "colour" sets their intensity c / 3
    sizes = (3, 4)
    factors = grid_factors(sizes)
    lit = 2 * (factors[:, 0] + 1)
    images = (np.arange(6)[None, :] < lit[:, None]) * (factors[:, 1:2] / 3)
    rows = np.random.default_rng(0).permutation(len(factors))  # any row order
    result = factor_variance(images[rows].__getitem__, factors[rows], sizes, ("size", "colour"), bases=None)
    counts = np.array([2, 4, 6])
    assert result.global_variance[1] == pytest.approx(counts.mean() * _uniform_variance(4))
    assert result.consistency[1] == pytest.approx(counts.std() / counts.mean())
    colour_at_base = result.per_base[1]
    np.testing.assert_allclose(np.sort(np.unique(colour_at_base)), counts * _uniform_variance(4))


def test_an_incomplete_grid_or_bad_arguments_are_clear_errors():
    images, factors = _blocks()
    with pytest.raises(MetricError, match="misses 1 of its 15"):
        factor_variance(images[1:].__getitem__, factors[1:], (3, 5))
    with pytest.raises(MetricError, match="bases=1"):
        factor_variance(images.__getitem__, factors, (3, 5), bases=1)
    with pytest.raises(MetricError, match="outside"):
        factor_variance(images.__getitem__, factors, (3, 4))


def _rotation(d: int, angle: float, i: int, j: int) -> np.ndarray:
    r = np.eye(d)
    r[[i, i, j, j], [i, j, i, j]] = np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)
    return r


@pytest.mark.parametrize("angle, expected", [(0.0, 1.0), (np.pi / 4, 0.5), (np.pi / 6, 0.75)])
def test_a_linear_decoder_has_its_svd_and_known_alignment_everywhere(angle, expected):
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(12, 3)))  # orthonormal image directions
    s = np.array([3.0, 2.0, 1.0])
    v = _rotation(3, angle, 0, 1)[:, [1, 0, 2]]  # principal direction 0 is (a rotation of) axis 1
    a = u @ np.diag(s) @ v.T
    decode = lambda z: z @ torch.as_tensor(a.T, dtype=torch.float64)  # noqa: E731
    z = torch.as_tensor(rng.normal(size=(7, 3)))
    jacobians = decoder_jacobians(decode, z)
    np.testing.assert_allclose(jacobians, np.broadcast_to(a, (7, 12, 3)), atol=1e-12)
    result = jacobian_variance(jacobians, rank_tolerance=0.1)
    np.testing.assert_allclose(result.singular_values, np.broadcast_to(s, (7, 3)))
    assert result.active == 3
    # direction 0 and 1 share the rotated plane: max_j V_ji^2 = max(cos^2, sin^2); direction 2 is axis 2
    np.testing.assert_allclose(result.alignment, [expected, expected, 1.0])
    np.testing.assert_allclose(result.consistent_alignment, result.alignment)
    np.testing.assert_allclose(result.axis_global, (a**2).sum(axis=0))
    np.testing.assert_allclose(result.axis_consistency, 0, atol=1e-12)
    if angle == 0:
        assert result.axis.tolist() == [1, 0, 2]


def test_the_jacobian_of_an_elementwise_nonlinearity_is_its_closed_form():
    rng = np.random.default_rng(1)
    a = torch.as_tensor(rng.normal(size=(5, 2)))
    z = torch.as_tensor(rng.normal(size=(4, 2)))
    jacobians = decoder_jacobians(lambda latent: torch.sigmoid(latent @ a.T), z, chunk=3)
    y = torch.sigmoid(z @ a.T)
    expected = (y * (1 - y))[:, :, None] * a[None]
    np.testing.assert_allclose(jacobians, expected.numpy(), atol=1e-12)


def test_directions_that_change_axis_between_points_are_aligned_but_not_consistent():
    aligned = np.diag([3.0, 1.0])
    swapped = aligned[:, ::-1]  # the strongest direction is axis 1 here
    result = jacobian_variance(np.stack([aligned, aligned, aligned, swapped]))
    np.testing.assert_allclose(result.alignment, [1.0, 1.0])
    assert result.axis.tolist() == [0, 1]
    np.testing.assert_allclose(result.consistent_alignment, [0.75, 0.75])
    change = np.array([[9, 1], [9, 1], [9, 1], [1, 9]], dtype=float)
    np.testing.assert_allclose(result.axis_global, change.mean(0))
    np.testing.assert_allclose(result.axis_consistency, change.std(0) / change.mean(0))
    dead = jacobian_variance(np.stack([np.diag([3.0, 0.0])] * 2), rank_tolerance=0.1)
    assert dead.active == 1  # a latent axis the decoder ignores has no direction


def test_rendered_squares_differ_in_the_one_property_they_were_built_to():
    grid = dict(pos_x=6, pos_y=6, scale=3, intensity=4)
    equal = dataset_variance(squares(**grid), bases=None)
    unequal = dataset_variance(squares(**grid, y_span=0.5), bases=None)
    inconsistent = dataset_variance(squares(**grid, intensity_on="object"), bases=None)
    x, y, scale, intensity = range(4)
    assert equal.gaps[x, y] == pytest.approx(0) and unequal.gaps[x, y] > 0.3
    assert equal.consistency[intensity] == pytest.approx(0, abs=1e-9)
    assert inconsistent.consistency[intensity] > 0.3
    # what the construction holds fixed: the intensity's global amount, the geometry's variance
    assert inconsistent.global_variance[intensity] == pytest.approx(equal.global_variance[intensity], rel=0.1)
    np.testing.assert_allclose(unequal.global_variance[[x, scale, intensity]],
                               equal.global_variance[[x, scale, intensity]])
    with pytest.raises(DataError, match="pos_y=8 positions over 0.1"):
        squares(pos_y=8, y_span=0.1)


def test_model_measures_and_the_cli_on_a_dataset_and_a_run(tmp_path, capsys):
    dataset = squares(pos_x=4, pos_y=4, scale=2, intensity=2)
    torch.manual_seed(0)
    model = build_model(model_config({"name": "vae", "channels": 1, "size": 32, "latent_dim": 3}))
    result = model_variance(model, dataset, points=10)
    assert result.directions.shape == (10, 3, 3) and result.axis_change.shape == (10, 3)

    out = tmp_path / "sq"
    assert main(["variance", "squares", "--option", "intensity_on=object", "--option", "pos_x=4",
                 "--option", "pos_y=4", "--bases", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "intensity" in printed and "consistency" in printed
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["dataset"]["factors"] == ["posX", "posY", "scale", "intensity"]
    assert out.with_suffix(".png").stat().st_size > 0
    assert main(["variance", "squares", "--option", "shade=2"]) == 2  # the bad option is named
    assert "data.options.shade" in capsys.readouterr().err
    config_file = tmp_path / "data.yaml"
    config_file.write_text("source: squares\noptions: {pos_x: 4, pos_y: 4, scale: 2, intensity: 2}\n")
    assert main(["variance", str(config_file), "--bases", "5", "--out", str(tmp_path / "d")]) == 0
    assert "posX" in capsys.readouterr().out
    assert main(["variance", str(config_file), "--option", "size=64"]) == 2
    assert "--option sets a source's options" in capsys.readouterr().err

    config = validate_config({
        "name": "tiny", "output": str(tmp_path / "runs"),
        "data": {"source": "squares", "options": {"pos_x": 4, "pos_y": 4, "scale": 2, "intensity": 2}},
        "model": {"name": "vae", "latent_dim": 3},
        "train": {"steps": 2, "batch_size": 8, "device": "cpu"},
    })
    run, _ = train(config, progress=False)
    assert main(["variance", str(run.dir), "--points", "6", "--bases", "10"]) == 0
    assert "local principal directions" in capsys.readouterr().out
    saved = json.loads((run.dir / "variance.json").read_text())
    assert saved["decoder"]["points"] == 6 and len(saved["decoder"]["axis_global"]) == 3
    assert (run.dir / "figures" / "variance.png").exists()
    scores = evaluate_run(run, "variance", options={"bases": 10, "points": 5}).scores
    assert scores["min_gap"] == pytest.approx(saved["dataset"]["min_gap"], abs=0.2)
    assert 0 < scores["alignment"] <= 1 and "variance" in read_evaluation(run.dir)
