"""The "grouped" protocol (paper 002's Table 1 and Figure 1 for one run) against an independent
computation: scikit-learn's mutual_info_score on 20-bin histograms, and the Bernoulli likelihood
written out with torch.distributions."""

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score
from torch.distributions import Bernoulli, Independent

from untwine.config import validate_config
from untwine.data import shapes
from untwine.metrics import MetricError
from untwine.models import build_model, model_config
from untwine.protocols import PROTOCOLS, ProtocolResult, run_protocol
from untwine.protocols.grouped import grouped


@pytest.fixture(scope="module")
def data():
    return shapes(shape=3, scale=2, orientation=2, pos_x=4, pos_y=4, size=16, cache=False)


def model(name: str = "grouped", **fields):
    torch.manual_seed(0)
    return build_model(model_config({"name": name, "architecture": "mlp", "channels": 1, "size": 16,
                                     **fields})).eval()


def sklearn_mi(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """disentanglement_lib's recipe: np.histogram edges, np.digitize, sklearn's mutual_info_score."""
    binned = [np.digitize(c, np.histogram(c, bins)[1][:-1]) for c in codes.T]
    mi = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned])
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    return mi, entropy


def test_scores_match_an_independent_computation(data, tmp_path):
    vae = model(groups=[2, 2])
    result = grouped(vae, data, seed=3, figures=tmp_path, n=10_000, batch_size=1000)
    assert isinstance(result, ProtocolResult)
    assert result.parameters["n"] == len(data)  # fewer rows than n: all of them
    assert result.parameters["first_group"] == [0, 1]

    x = data.load(torch.arange(len(data))).images
    with torch.no_grad():
        posterior = vae.encode(x)
        noise = torch.randn(posterior.mean.shape, generator=torch.Generator().manual_seed(3))
        z = posterior.mean + torch.exp(0.5 * posterior.logvar) * noise
        first_only = z.clone()
        first_only[:, 2:] = 0
        nll = [-Independent(Bernoulli(logits=vae.decode(v)), 3).log_prob(x).mean().item()
               for v in (z, first_only)]
    assert result.scores["reconstruction"] == pytest.approx(nll[0], rel=1e-5)
    assert result.scores["reconstruction_first_group"] == pytest.approx(nll[1], rel=1e-5)

    codes = posterior.mean.double().numpy()
    mi, entropy = sklearn_mi(codes, data.factors)
    top = np.sort(mi, axis=0)[::-1]
    assert result.scores["mig"] == pytest.approx(np.mean((top[0] - top[1]) / entropy), abs=1e-9)
    inside = np.array([1.0, 1.0, -1.0, -1.0])  # eq. (13): + inside the first group, - outside
    expected_mic = inside @ mi / entropy
    for name in ("posX", "posY", "shape"):
        k = list(data.factor_names).index(name)
        assert result.scores[f"mic.{name}"] == pytest.approx(expected_mic[k], abs=1e-9)
    assert (tmp_path / "grouped_mi_matrix.png").exists()


def test_a_model_without_groups_needs_first_group(data, tmp_path):
    vae = model("betavae", latent_dim=4)
    with pytest.raises(MetricError, match="first_group"):
        grouped(vae, data, seed=0, figures=tmp_path)
    result = grouped(vae, data, seed=0, figures=tmp_path, first_group=1)
    assert result.parameters["first_group"] == [0]
    with pytest.raises(MetricError, match="first_group must be in 1..3"):
        grouped(vae, data, seed=0, figures=tmp_path, first_group=4)


def test_unknown_mic_factor_is_named(data, tmp_path):
    with pytest.raises(MetricError, match=r"\['colour'\] are not factors"):
        grouped(model(), data, seed=0, figures=tmp_path, mic_factors=["posX", "colour"])


def test_registered_and_options_validated(data, tmp_path):
    assert PROTOCOLS["grouped"] is grouped
    result = run_protocol("grouped", model(), data, seed=1, figures=tmp_path, options={"n": 50})
    assert result.parameters["n"] == 50
    with pytest.raises(ValueError, match="bins"):
        run_protocol("grouped", model(), data, seed=1, figures=tmp_path, options={"bins": "many"})


def test_the_experiment_configs_validate():
    from pathlib import Path

    import yaml

    folder = Path(__file__).parents[1] / "experiments" / "grouped"
    configs = {f.stem: validate_config(yaml.safe_load(f.read_text()), str(f)) for f in folder.glob("*.yaml")}
    assert sorted(configs) == ["betavae_beta1", "betavae_beta10", "betavae_beta5", "grouped"]
    for config in configs.values():
        assert config.model.latent_dim == 6 and config.model.architecture == "mlp"
        assert (config.train.lr, config.train.batch_size) == (1e-4, 64)
        assert config.seeds == list(range(10))
        [spec] = config.evaluate
        assert (spec.protocol, spec.split, spec.options.get("n", 10_000)) == ("grouped", "test", 10_000)
    assert configs["grouped"].model.groups == [3, 3] and configs["grouped"].model.beta == 1
    assert [configs[f"betavae_beta{b}"].model.beta for b in (1, 5, 10)] == [1, 5, 10]
