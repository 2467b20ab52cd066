"""The lesions protocol end to end: a run scored through `untwine evaluate --protocol lesions`, its
columns in the paper's order, the walk and traversal figures, and `untwine table` rows per config."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from skimage.draw import ellipse

from untwine.cli import main
from untwine.data import ImageSet
from untwine.explain.walk import walk
from untwine.metrics.mig import mig
from untwine.models import build_model, model_config
from untwine.protocols.lesions import lesions

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lesion_set(n=60, size=28, seed=0) -> ImageSet:
    """Dark ellipses on skin-coloured ground: class = size tercile; factors: a criterion and the mask's
    eccentricity / orientation / size classes."""
    rng = np.random.default_rng(seed)
    pixels = np.empty((n, 3, size, size), np.uint8)
    radius = rng.uniform(3, 11, n)
    labels = np.digitize(radius, np.quantile(radius, [1 / 3, 2 / 3]))
    for i in range(n):
        image = np.full((size, size, 3), (220, 180, 160), np.uint8)
        rr, cc = ellipse(size / 2, size / 2, radius[i], radius[i] * 0.6, shape=(size, size),
                         rotation=rng.uniform(-1.5, 1.5))
        image[rr, cc] = (90, 50, 30)
        pixels[i] = image.transpose(2, 0, 1)
    criterion = rng.integers(0, 2, n)
    factors = np.stack([criterion, rng.integers(0, 3, n), rng.integers(0, 2, n), rng.integers(0, 2, n),
                        (radius > np.median(radius)).astype(int)], axis=1)
    return ImageSet(pixels, factors=factors,
                    factor_names=("streaks", "asymmetry", "eccentricity", "orientation", "size"),
                    factor_sizes=(2, 3, 2, 2, 2), labels=labels, class_names=("small", "medium", "large"))


def model(latent_dim=4):
    torch.manual_seed(0)
    return build_model(model_config({"name": "vae", "channels": 3, "size": 28, "latent_dim": latent_dim,
                                     "likelihood": "gaussian"})).eval()


def test_scores_are_the_papers_columns_first_and_match_the_metrics_on_the_codes(tmp_path):
    data, net = lesion_set(), model()
    result = lesions(net, data, seed=0, figures=tmp_path, held_out=data[:12], realizations=2, folds=5)
    assert list(result.scores)[:5] == ["MIG_p", "MIG_hf", "PSNR", "NMI", "ACC"]
    with torch.no_grad():
        codes = net.encode(data.load(np.arange(len(data))).images).mean.double().numpy()
    onehot = (data.labels[:, None] == np.arange(3)).astype(int)
    assert result.scores["MIG_p"] == pytest.approx(mig(codes, onehot).score)
    assert result.scores["MIG_hf"] == pytest.approx(mig(codes, data.factors[:, 2:]).score)
    assert result.details["MIG_hf"]["factors"] == ["eccentricity", "orientation", "size"]
    assert result.details["criteria"]["factors"] == ["streaks", "asymmetry"]
    assert result.parameters["psnr_on"] == "held_out" and result.parameters["psnr_images"] == 12
    # 12 held-out images hold fewer than folds=5 of some class: scored on the evaluated split, said so
    assert result.parameters["scored_on"] == "evaluated split"
    assert "fewer than folds=5" in result.parameters["scored_on_reason"]
    assert result.parameters["components"] == 3  # PH2-like: as many GMM components as classes
    x = data[:12].load(np.arange(12)).images
    mse = ((net.reconstruct(x) - x) ** 2).flatten(1).mean(1).numpy()
    assert result.scores["PSNR"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-5)
    assert len(result.details["ACC"]["per_fold"]) == 5 and len(result.details["NMI"]["per_realization"]) == 2
    assert (tmp_path / "lesion_walk.png").stat().st_size > 1000
    assert (tmp_path / "lesion_traversals.png").stat().st_size > 1000
    json.dumps(result.details)  # eval.json can hold it


def test_scores_are_computed_on_the_held_out_images_by_default(tmp_path):
    data, net = lesion_set(n=90), model()
    train, held_out = data[:45], data[45:]
    result = lesions(net, train, seed=0, figures=tmp_path, held_out=held_out, realizations=2, folds=5,
                     components=4, draw_figures=False)
    assert result.parameters["scored_on"] == "held_out" and result.parameters["n"] == 45
    assert result.parameters["components"] == 4
    with torch.no_grad():
        codes = net.encode(held_out.load(np.arange(45)).images).mean.double().numpy()
    onehot = (held_out.labels[:, None] == np.arange(3)).astype(int)
    assert result.scores["MIG_p"] == pytest.approx(mig(codes, onehot).score)
    on_train = lesions(net, train, seed=0, figures=tmp_path, held_out=held_out, realizations=2, folds=5,
                       score_on="evaluated", draw_figures=False)
    assert on_train.parameters["scored_on"] == "evaluated split" and on_train.parameters["n"] == 45
    assert on_train.scores["MIG_p"] != result.scores["MIG_p"]


def test_a_dataset_without_labels_or_masks_skips_those_columns(tmp_path):
    data = lesion_set()
    bare = ImageSet(data.images())
    result = lesions(model(), bare, seed=0, figures=tmp_path, draw_figures=False)
    assert list(result.scores) == ["PSNR"]
    assert len(result.parameters["skipped"]) == 4


def test_walk_moves_one_dimension_per_row_and_ends_at_the_target_code():
    net, data = model(latent_dim=3), lesion_set()
    x_from, x_to = data.load([0]).images[0], data.load([1]).images[0]
    rows = walk(net, x_from, x_to, dims=[2, 0, 1], steps=5)
    assert rows.shape == (3, 5, 3, 28, 28)
    with torch.no_grad():
        start, target = net.encode(x_from[None]).mean, net.encode(x_to[None]).mean
        first, last = torch.sigmoid(net.decode(start)), torch.sigmoid(net.decode(target))
    assert torch.allclose(rows[0, 0], first[0], atol=1e-5)
    assert torch.allclose(rows[-1, -1], last[0], atol=1e-5)  # every dimension walked: the target
    for r in range(1, 3):  # each row starts where the previous one stopped
        assert torch.allclose(rows[r, 0], rows[r - 1, -1], atol=1e-5)
    with pytest.raises(ValueError, match="dims"):
        walk(net, x_from, x_to, dims=[7])


def test_untwine_run_and_table_give_the_papers_layout(tmp_path, capsys, monkeypatch):
    data = lesion_set(n=80)
    npz = tmp_path / "ph2_like.npz"
    masks = np.zeros((80, 28, 28), np.uint8)
    masks[::2, 4:24, 12:16] = 1  # tall and thin
    masks[1::2, 10:18, 6:22] = 1  # wide: every geometry factor differs between the two
    criteria = {k: data.factors[:, 0].astype(np.int8) for k in
                ("asymmetry", "pigment_network", "dots_globules", "streaks", "regression_areas",
                 "blue_whitish_veil")}
    np.savez(npz, images=data.images().numpy().transpose(0, 2, 3, 1), masks=masks,
             diagnosis=data.labels.astype(np.int8), colors=np.tile(data.factors[:, :1], 6).astype(np.uint8),
             **criteria)
    for name, model_name in (("VAE", "vae"), ("Ours-Adv", "adversarial")):
        config = {"name": name, "seeds": [0, 1] if name == "VAE" else [0], "output": str(tmp_path / "runs"),
                  "data": {"source": "ph2", "options": {"path": str(npz), "size": 28}, "test_fraction": 0.1},
                  "model": {"name": model_name, "latent_dim": 3, "architecture": "mlp", "likelihood": "gaussian"},
                  "train": {"steps": 4, "batch_size": 16, "device": "cpu", "augment": ["hflip", "rot90"]},
                  "evaluate": [{"protocol": "lesions", "options": {"realizations": 2, "folds": 5,
                                                                   "draw_figures": False}}]}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(tmp_path / "VAE.yaml")]) == 0
    assert main(["run", str(tmp_path / "Ours-Adv.yaml")]) == 0
    section = json.loads(Path(tmp_path / "runs" / "VAE" / "seed1" / "eval.json").read_text())["lesions"]
    assert section["parameters"]["psnr_on"] == "held_out"
    assert section["parameters"]["training_augmentation"] == ["hflip", "rot90"]
    capsys.readouterr()
    assert main(["table", str(tmp_path / "runs"), "--columns", "MIG_p,MIG_hf,PSNR,NMI,ACC",
                 "--rows", "VAE,Ours-Adv", "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "| run | seeds | MIG_p | MIG_hf | PSNR | NMI | ACC |"
    assert lines[2].startswith("| VAE | 2 |") and lines[3].startswith("| Ours-Adv | 1 |")
    assert "±" in lines[2]
    assert main(["evaluate", str(tmp_path / "runs" / "VAE" / "seed0"), "--protocol", "lesions",
                 "--option", "realizations=1", "--option", "folds=5"]) == 0
