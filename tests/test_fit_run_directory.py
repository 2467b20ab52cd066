"""A run is a directory from any door: ``fit()`` called from Python writes one that ``load_run`` and the
commands open, whether the images came from a registered source or from memory; your own encoder and
decoder train in every autoencoder objective and are asked for back; and ``fit()`` changes nothing
process-wide unless asked."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

import untwine
from untwine.app import create_app
from untwine.cli import main
from untwine.config import TrainConfig
from untwine.data import ImageSet, PairSet, shapes
from untwine.models import MODELS, model_config
from untwine.report import write_report
from untwine.train import fit

SHAPES = {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4, "size": 32}
TINY = TrainConfig(steps=8, batch_size=8, lr=1e-3, device="cpu", log_every=4, checkpoint_every=8)


def test_a_python_api_run_opens_in_load_run_and_every_command(tmp_path, capsys):
    data = shapes(**SHAPES)
    train, test = data.split(0.25, seed=3)  # a split seed other than fit's: recorded as such
    model = MODELS["betatcvae"](model_config({"name": "betatcvae", "latent_dim": 4, "channels": 1,
                                              "size": 32, "dataset_size": len(train)}))
    run_dir = tmp_path / "api"
    fit(model, train, TINY, run_dir, seed=0, progress=False)
    assert {"config.yaml", "summary.json", "model.safetensors"} <= {p.name for p in run_dir.iterdir()}

    run = untwine.load_run(run_dir)
    assert run.finished and run.config.data.source == "shapes" and run.config.data.split_seed == 3
    opened_train, opened_test = run.splits()
    assert torch.equal(opened_train.images(), train.images()) and torch.equal(opened_test.images(), test.images())
    for name, value in model.state_dict().items():
        assert torch.equal(value, run.model.state_dict()[name])

    assert main(["evaluate", str(run_dir), "--metrics", "mig,sap", "--n", "100"]) == 0
    assert "mig" in json.loads((run_dir / "eval.json").read_text())["disentanglement"]["scores"]
    assert main(["explain", str(run_dir), "--image", "0", "--max-steps", "5"]) == 0
    assert write_report([run_dir]).stat().st_size > 0
    assert TestClient(create_app([run_dir])).get("/api/runs").status_code == 200
    capsys.readouterr()


def test_images_no_source_made_are_kept_in_the_run_directory(tmp_path):
    pixels = torch.randint(0, 256, (24, 1, 16, 16), dtype=torch.uint8)
    data = ImageSet(pixels, labels=np.arange(24) % 2, class_names=("a", "b"), name="mine")
    model = MODELS["vae"](model_config({"name": "vae", "latent_dim": 2, "architecture": "mlp",
                                        "likelihood": "gaussian", "channels": 1, "size": 16}))
    fit(model, data, TINY, tmp_path / "mine", progress=False)
    run = untwine.load_run(tmp_path / "mine")
    assert run.config.data.source == "saved"
    assert torch.equal(run.dataset().images(), pixels) and run.dataset().class_names == ("a", "b")


class Encoder(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 64), nn.ReLU(), nn.Linear(64, 2 * latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 64), nn.ReLU(), nn.Linear(64, 32 * 32))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, 32, 32)


@pytest.mark.parametrize("name", ["vae", "betavae", "betatcvae", "adversarial", "grouped", "adagvae"])
def test_your_own_encoder_and_decoder_train_in_every_autoencoder_objective(tmp_path, name):
    torch.manual_seed(0)
    data = shapes(**SHAPES)
    values = {"name": name, "latent_dim": 4, "channels": 1, "size": 32}
    if "dataset_size" in MODELS[name].Config.model_fields:
        values["dataset_size"] = len(data)
    if name == "grouped":
        values["groups"] = [2, 2]
    config = model_config(values)
    encoder, decoder = Encoder(4), Decoder(4)
    model = MODELS[name](config, encoder=encoder, decoder=decoder)
    assert model.encoder is encoder and model.decoder is decoder
    train = PairSet(data, "factors") if name == "adagvae" else data
    steps = TrainConfig(steps=30, batch_size=16, lr=3e-3, device="cpu", log_every=10, checkpoint_every=30)
    fit(model, train, steps, tmp_path / name, progress=False)
    losses = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    key = "loss" if "loss" in losses[0] else next(k for k in losses[0] if k.endswith("/loss"))
    assert losses[-1][key] < losses[0][key], (losses[0][key], losses[-1][key])

    with pytest.raises(ValueError, match=r"own encoder and decoder; pass the same module\(s\) back"):
        untwine.load_run(tmp_path / name)
    run = untwine.load_run(tmp_path / name, encoder=Encoder(4), decoder=Decoder(4))
    x = data.load(range(4)).images
    assert torch.allclose(run.model.encode(x).mean, model.eval().encode(x).mean)


def test_a_network_of_the_wrong_shape_is_refused_at_once_with_the_shapes():
    config = model_config({"name": "vae", "latent_dim": 4, "channels": 1, "size": 32})
    with pytest.raises(ValueError, match=r"encoder: maps a batch of shape \[2, 1, 32, 32\] to \[2, 4\]; "
                                         r"expected \[2, 8\]"):
        MODELS["vae"](config, encoder=nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 4)))
    with pytest.raises(ValueError, match=r"decoder: calling it on a batch of shape \[2, 4\] failed"):
        MODELS["vae"](config, decoder=nn.Linear(5, 3))


def test_fit_sets_the_allocator_only_when_asked(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sys.modules["untwine.train.fit"], "keep_freed_memory", lambda: calls.append(1) or True)
    data = shapes(**SHAPES)
    model = MODELS["vae"](model_config({"name": "vae", "latent_dim": 2, "channels": 1, "size": 32}))
    fit(model, data, TINY.model_copy(update={"steps": 1}), tmp_path / "a", progress=False)
    assert calls == []
    fit(model, data, TINY.model_copy(update={"steps": 1, "allocator": "keep_freed"}), tmp_path / "b",
        progress=False)
    assert calls == [1]
