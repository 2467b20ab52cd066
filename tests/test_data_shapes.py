"""The procedural shapes renderer and the loader of DeepMind's dSprites file."""

import numpy as np
import pytest
import torch

from untwine.data import DataError, dsprites, shapes
from untwine.data.cache import cache_dir
from untwine.data.shapes import MARGIN, SIDE, _inside, grid_factors

GRID = dict(scale=3, orientation=8, pos_x=4, pos_y=4)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_CACHE", str(tmp_path / "cache"))


@pytest.fixture()
def grid():
    return shapes(**GRID)


def _pick(ds, shape, scale, orientation, x, y) -> np.ndarray:
    row = np.flatnonzero((ds.factors == [shape, scale, orientation, x, y]).all(axis=1))[0]
    return ds.images([row])[0, 0].numpy() > 0


def _stats(mask: np.ndarray) -> tuple[float, float, float]:
    """Area, and centroid (x, y) of the pixel centres."""
    rows, cols = np.nonzero(mask)
    return len(rows), cols.mean() + 0.5, rows.mean() + 0.5


def test_grid_layout(grid):
    assert len(grid) == 3 * 3 * 8 * 4 * 4 and grid.is_binary and grid.size == 64
    assert grid.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert grid.factor_sizes == (3, 3, 8, 4, 4)
    assert np.array_equal(grid.factors[:5, 4], [0, 1, 2, 3, 0])  # posY runs fastest
    assert np.allclose(grid.factor_values[1], [0.5, 0.75, 1.0])
    assert grid.class_names == ("square", "ellipse", "heart")
    assert np.array_equal(grid.labels, grid.factors[:, 0])


def test_area_grows_with_scale(grid):
    for shape in range(3):
        areas = [_stats(_pick(grid, shape, c, 1, 2, 1))[0] for c in range(3)]
        assert areas[0] < areas[1] < areas[2]
        # area goes as scale squared: (1 / 0.5)^2 = 4, within rasterization error
        assert 3.4 < areas[2] / areas[0] < 4.6
    side = SIDE * 64
    assert abs(_stats(_pick(grid, 0, 2, 0, 0, 0))[0] - side * side) < 4 * side


def test_centroid_follows_position(grid):
    for x in range(4):
        for y in range(4):
            _, cx, cy = _stats(_pick(grid, 0, 1, 0, x, y))  # a square: centroid = centre
            expected = 64 * (MARGIN + (1 - 2 * MARGIN) * np.array([x, y]) / 3)
            assert np.allclose([cx, cy], expected, atol=0.3)


def _central_moments(mask):
    rows, cols = np.nonzero(mask)
    dx, dy = cols - cols.mean(), rows - rows.mean()
    return (dx * dx).mean(), (dy * dy).mean(), (dy**3).mean()


def test_orientation_turns_non_symmetric_shapes(grid):
    # an ellipse, long along x at angle 0, is long along y a quarter turn later (orientation 2 of 8)
    xx0, yy0, _ = _central_moments(_pick(grid, 1, 2, 0, 1, 1))
    xx2, yy2, _ = _central_moments(_pick(grid, 1, 2, 2, 1, 1))
    assert xx0 > 2 * yy0 and yy2 > 2 * xx2
    # a heart points down at 0 and up after half a turn: the vertical skew flips sign
    *_, skew0 = _central_moments(_pick(grid, 2, 2, 0, 1, 1))
    *_, skew4 = _central_moments(_pick(grid, 2, 2, 4, 1, 1))
    assert skew0 > 1 and skew4 < -1


def test_the_three_shapes_differ(grid):
    masks = [_pick(grid, s, 2, 1, 2, 2) for s in range(3)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert (masks[a] != masks[b]).sum() > 20


def test_rendering_matches_a_direct_per_pixel_test():
    # An odd grid puts centres at many sub-pixel offsets; every image is checked pixel by pixel.
    ds = shapes(shape=3, scale=2, orientation=3, pos_x=5, pos_y=3, size=40)
    scales, angles = np.linspace(0.5, 1, 2), np.linspace(0, 2 * np.pi, 3, endpoint=False)
    centre = np.arange(40) + 0.5
    for row in range(len(ds)):
        s, c, o, x, y = ds.factors[row]
        cx = 40 * (MARGIN + (1 - 2 * MARGIN) * x / 4)
        cy = 40 * (MARGIN + (1 - 2 * MARGIN) * y / 2)
        dx, dy = centre[None, :] - cx, centre[:, None] - cy
        length = SIDE * 40 * scales[c]
        cos, sin = np.cos(angles[o]), np.sin(angles[o])
        expected = _inside(s, (cos * dx - sin * dy) / length, (-sin * dx - cos * dy) / length)
        assert np.array_equal(ds.images([row])[0, 0].numpy() > 0, expected), row


def test_renders_once_then_reads_the_cache(grid):
    files = list(cache_dir().glob("shapes-*.npz"))
    assert len(files) == 1
    again = shapes(**GRID)
    assert torch.equal(again.images(), grid.images())
    assert not list(cache_dir().glob(".*tmp"))  # no temporary file left behind


def _write_dsprites_like(path, count=24, seed=0):
    """A small file in the format of DeepMind's dSprites npz, with its pickled metadata."""
    rng = np.random.default_rng(seed)
    classes = grid_factors((3, 6, 40, 32, 32))[rng.choice(737280, count, replace=False)]
    classes = np.concatenate([np.zeros((count, 1), np.int64), classes], axis=1)
    steps = np.array([1, 1, 1 / 5 * 0.5, 2 * np.pi / 39, 1 / 31, 1 / 31])
    values = classes * steps + np.array([1, 1, 0.5, 0, 0, 0])
    imgs = rng.integers(0, 2, (count, 64, 64), dtype=np.uint8)
    metadata = np.array({"description": "pickled, as in the original"}, dtype=object)
    np.savez_compressed(
        path, imgs=imgs, latents_classes=classes, latents_values=values, metadata=metadata
    )
    return imgs, classes, values


def test_dsprites_loader_reads_the_original_format_without_unpickling(tmp_path):
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    imgs, classes, values = _write_dsprites_like(path)
    ds = dsprites(path)
    assert ds.is_binary and len(ds) == 24 and ds.size == 64
    assert torch.equal(ds.images(), torch.from_numpy(imgs[:, None]) * 255)
    assert ds.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert ds.factor_sizes == (3, 6, 40, 32, 32)
    assert np.array_equal(ds.factors, classes[:, 1:])
    scale_class = classes[0, 2]
    assert ds.factor_values[1][scale_class] == pytest.approx(values[0, 2])


def test_dsprites_errors_name_the_key(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, imgs=np.zeros((2, 64, 64), np.uint8), latents_classes=np.zeros((2, 6)))
    with pytest.raises(DataError, match="has no key 'latents_values'"):
        dsprites(path)
    np.savez(
        path,
        imgs=np.zeros((2, 64, 64), np.uint8),
        latents_classes=np.zeros((3, 6), int),
        latents_values=np.zeros((3, 6)),
    )
    with pytest.raises(DataError, match=r"imgs is uint8 \(2, 64, 64\): expected uint8 \[3"):
        dsprites(path)
    with pytest.raises(DataError, match="no such file"):
        dsprites(tmp_path / "missing.npz")
