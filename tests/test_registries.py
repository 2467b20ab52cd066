"""A newcomer's three extensions, made here the way CONTRIBUTING.md says: a data source, a model and
a metric, each one function or class plus one registry line, then used end to end (config
validation, training, the command line's help and ``untwine evaluate``) without touching untwine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from untwine.cli import main
from untwine.config import ConfigError, validate_config
from untwine.data import SOURCES, ImageSet
from untwine.data.batch import Batch
from untwine.metrics import METRICS, Codes
from untwine.models import MODELS, Model, ModelConfig, Posterior, TrainingStep
from untwine.protocols.disentanglement import encode
from untwine.run import load_run, train


def stripes(n: int = 96, size: int = 16, seed: int = 0) -> ImageSet:
    """Images with one bright vertical stripe; factors: its column (8 values) and brightness (2)."""
    rng = np.random.default_rng(seed)
    column, bright = rng.integers(8, size=n), rng.integers(2, size=n)
    pixels = np.zeros((n, 1, size, size), np.uint8)
    for i in range(n):
        pixels[i, 0, :, column[i] * size // 8] = 128 + 127 * bright[i]
    return ImageSet(torch.from_numpy(pixels), factors=np.stack([column, bright], 1),
                    factor_names=("column", "brightness"), factor_sizes=(8, 2), name="stripes")


class LinearConfig(ModelConfig):
    name: str = "linear_ae"


class LinearAutoencoder(Model):
    """A linear autoencoder with a deterministic code (logvar 0), squared error."""

    Config = LinearConfig

    def __init__(self, config: LinearConfig) -> None:
        super().__init__()
        self.config, self.latent_dim = config, config.latent_dim
        pixels = config.channels * config.size * config.size
        self.encoder, self.decoder = nn.Linear(pixels, config.latent_dim), nn.Linear(config.latent_dim, pixels)

    def encode(self, x: torch.Tensor) -> Posterior:
        mean = self.encoder(x.flatten(1))
        return Posterior(mean, torch.zeros_like(mean))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        c, s = self.config.channels, self.config.size
        return self.decoder(z).view(-1, c, s, s)

    def objective(self, batch: Batch) -> dict[str, torch.Tensor]:
        error = (self.decode(self.encode(batch.images).mean) - batch.images).square().mean()
        return {"loss": error}

    def training_steps(self) -> list[TrainingStep]:
        return [TrainingStep("ae", list(self.parameters()), self.objective)]


@dataclass
class FirstCodeMean:
    score: float


def first_code_mean(codes: Codes, dimension: int = 0) -> FirstCodeMean:
    """The mean of one code dimension over every drawn row (train and test)."""
    return FirstCodeMean(float(np.concatenate([codes.train, codes.test])[:, dimension].mean()))


@pytest.fixture
def registered():
    with (SOURCES.temporarily("stripes", stripes),
          MODELS.temporarily("linear_ae", LinearAutoencoder, options=LinearConfig, traits=("encodes",)),
          METRICS.temporarily("first_code_mean", first_code_mean, needs=("factors",))):
        yield


def _config(tmp_path, **change) -> dict:
    return {"name": "toy", "output": str(tmp_path), "data": {"source": "stripes", "options": {"n": 96}},
            "model": {"name": "linear_ae", "latent_dim": 3},
            "train": {"steps": 40, "batch_size": 16, "lr": 1e-2, "device": "cpu", "log_every": 10},
            **change}


def test_a_source_model_and_metric_registered_from_outside_work_end_to_end(tmp_path, registered, capsys):
    config = validate_config(_config(tmp_path))
    run, result = train(config, progress=False)
    first, last = (lines := (run.dir / "metrics.jsonl").read_text().splitlines())[0], lines[-1]
    assert yaml.safe_load(last)["loss"] < yaml.safe_load(first)["loss"]  # it trained
    assert load_run(run.dir).model.latent_dim == 3  # and the run directory opens again

    # n + n // 2 = 96 rows: every image once, so the metric's mean is the whole dataset's
    assert main(["evaluate", str(run.dir), "--metrics", "mig,first_code_mean", "--n", "64",
                 "--set", "metric_options={first_code_mean: {dimension: 2}}"]) == 0
    scores = yaml.safe_load((run.dir / "eval.json").read_text())["disentanglement"]
    expected = encode(load_run(run.dir).model, stripes(96), np.arange(96))[:, 2].mean()
    assert scores["scores"]["first_code_mean"] == pytest.approx(expected, abs=1e-6)
    assert scores["parameters"]["first_code_mean.dimension"] == 2
    capsys.readouterr()

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    assert all(name in help_text for name in ("stripes", "linear_ae", "first_code_mean"))

    with pytest.raises(ConfigError, match="data.options.colour: Extra inputs"):
        validate_config(_config(tmp_path, data={"source": "stripes", "options": {"colour": 1}}))
    assert main(["evaluate", str(run.dir), "--metrics", "mig,bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'bogus'" in err and "first_code_mean" in err


def test_entries_are_gone_after_the_block_and_unknown_names_list_the_known_ones(tmp_path):
    with SOURCES.temporarily("stripes", stripes):
        assert "stripes" in SOURCES
    assert "stripes" not in SOURCES
    with pytest.raises(ConfigError, match="data.source: unknown source 'stripes'; expected one of"):
        validate_config(_config(tmp_path, model={"name": "vae"}))


def test_a_model_that_needs_pairs_is_refused_at_config_time_without_them(tmp_path):
    values = _config(tmp_path, data={"source": "shapes"}, model={"name": "adagvae"})
    with pytest.raises(ConfigError, match="data.pairs: model 'adagvae' trains on pairs"):
        validate_config(values)
    validate_config({**values, "data": {"source": "shapes", "pairs": {"by": "factors"}}})


def test_a_protocol_that_encodes_is_refused_for_a_model_without_an_encoder(tmp_path):
    from untwine.experiment import validate_experiment

    values = _config(tmp_path, data={"source": "blobs"}, model={"name": "wgan"},
                     evaluate=[{"protocol": "disentanglement"}])
    with pytest.raises(ConfigError, match="evaluate.0.protocol: 'disentanglement' encodes images, and "
                                          "model 'wgan' has no encoder"):
        validate_experiment(values)
