"""Encode a dataset once with a trained model and score the codes with the metric suite, and draw
the MI matrix. The "disentanglement" protocol (untwine/protocols.py) writes both into a run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from untwine.metrics._arrays import MetricError
from untwine.metrics._mutual_info import binned_mutual_info
from untwine.metrics.betavae import betavae_score
from untwine.metrics.dci import dci
from untwine.metrics.explicitness import explicitness
from untwine.metrics.factorvae import factorvae_score
from untwine.metrics.mic import mic
from untwine.metrics.mig import mig
from untwine.metrics.modularity import modularity
from untwine.metrics.sap import sap

DEFAULT_METRICS = ("mig", "dci", "sap", "modularity", "explicitness")
KNOWN = (*DEFAULT_METRICS, "mic", "factorvae", "betavae")
BINS = 20


@dataclass
class EvaluationResult:
    scores: dict[str, float]  # flat: "mig", "dci.disentanglement", ...
    parameters: dict[str, Any]  # how the scores were computed (samples, seed, bins, learner, ...)
    mutual_info: np.ndarray  # [D, K] I(z_d; v_k) in nats on the training split
    entropy: np.ndarray  # [K] H(v_k) in nats
    factor_names: list[str]
    seconds: dict[str, float] = field(default_factory=dict)  # per metric
    results: dict[str, Any] = field(default_factory=dict)  # the metric dataclasses themselves


def _device_of(model: torch.nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def encode(
    model: torch.nn.Module,
    dataset,
    indices: np.ndarray | torch.Tensor | Sequence[int],
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Posterior means [len(indices), D] (float64) of the dataset's rows, in batches, no gradients.

    The model is put in eval mode for the pass and returned to its previous mode afterwards.
    """
    device = torch.device(device) if device is not None else _device_of(model)
    index = torch.as_tensor(np.asarray(indices), dtype=torch.long)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for chunk in index.split(batch_size):
                out.append(model.encode(dataset.load(chunk, device).images).mean.double().cpu())
    finally:
        model.train(was_training)
    if not out:
        return np.zeros((0, getattr(model, "latent_dim", 0)))
    return torch.cat(out).numpy()


def _draw_rows(total: int, n: int, n_test: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    # Disjoint train and test rows when the dataset is large enough; otherwise i.i.d. draws, as
    # disentanglement_lib samples factors (so a row can appear in both splits).
    if n + n_test <= total:
        return rng.choice(total, size=n + n_test, replace=False), "without replacement"
    return rng.integers(total, size=n + n_test), "with replacement (dataset smaller than n + n_test)"


def evaluate(
    model: torch.nn.Module,
    dataset,
    metrics: Sequence[str] = DEFAULT_METRICS,
    n: int = 10_000,
    seed: int = 0,
    mic_subset: Sequence[int] | None = None,
    dci_learner: str = "hist",
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> EvaluationResult:
    """Score ``model`` on ``dataset`` (an ImageSet with factors): n training rows and n // 2 test
    rows (disentanglement_lib's 10,000 / 5,000), encoded once. Factors that take one value in the
    drawn rows cannot be scored and are dropped (listed under parameters["dropped_factors"]).
    "mic" needs ``mic_subset`` (code dimensions, e.g. a Grouped-VAE group); "factorvae" and
    "betavae" sample their own batches through the model with disentanglement_lib's defaults.
    """
    unknown = [m for m in metrics if m not in KNOWN]
    if unknown:
        raise MetricError(f"unknown metrics {unknown}; choose from {list(KNOWN)}")
    if "mic" in metrics and mic_subset is None:
        raise MetricError("metric 'mic' needs mic_subset, the code dimensions of the group")
    if getattr(dataset, "factors", None) is None:
        raise MetricError("the dataset has no factors; the metrics compare codes with factors")
    rng = np.random.default_rng(seed)
    n_test = n // 2
    rows, sampling = _draw_rows(len(dataset), n, n_test, rng)
    names = list(dataset.factor_names) or [f"factor {k}" for k in range(dataset.factors.shape[1])]
    factors = np.asarray(dataset.factors)[rows]
    varying = np.array([len(np.unique(factors[:n, k])) > 1 for k in range(factors.shape[1])])
    if not varying.any():
        raise MetricError(f"no factor of the dataset varies in the {n} drawn rows; nothing to score")
    factors = factors[:, varying]
    unique, inverse = np.unique(rows, return_inverse=True)
    started = time.perf_counter()
    codes = encode(model, dataset, unique, batch_size, device)[inverse]
    seconds = {"encode": time.perf_counter() - started}
    z_train, f_train, z_test, f_test = codes[:n], factors[:n], codes[n:], factors[n:]
    split = (z_train, f_train, z_test, f_test)

    def run_model(indices: np.ndarray) -> np.ndarray:
        return encode(model, dataset, indices, batch_size, device)

    calls = {
        "mig": lambda: mig(z_train, f_train, BINS),
        "dci": lambda: dci(*split, learner=dci_learner, seed=seed),
        "sap": lambda: sap(*split),
        "modularity": lambda: modularity(z_train, f_train, BINS),
        "explicitness": lambda: explicitness(*split),
        "mic": lambda: mic(z_train, f_train, mic_subset or (), BINS),
        "factorvae": lambda: factorvae_score(dataset, run_model, seed=seed),
        "betavae": lambda: betavae_score(dataset, run_model, seed=seed),
    }
    results = {}
    for name in metrics:
        started = time.perf_counter()
        results[name] = calls[name]()
        seconds[name] = time.perf_counter() - started
    mi, entropy = binned_mutual_info(z_train, f_train, BINS)
    used = [nm for nm, keep in zip(names, varying, strict=True) if keep]
    parameters = {
        "n_train": n,
        "n_test": n_test,
        "seed": seed,
        "sampling": sampling,
        "bins": BINS,
        "code_dimensions": int(codes.shape[1]),
        "factors": used,
        "dropped_factors": [nm for nm, keep in zip(names, varying, strict=True) if not keep],
    }
    if "dci" in metrics:
        parameters["dci.learner"] = dci_learner
    if "sap" in metrics:
        parameters["sap.variant"] = "discrete, LinearSVC(C=0.01, class_weight='balanced')"
    if "mic" in metrics:
        parameters["mic.subset"] = list(results["mic"].subset)
    return EvaluationResult(_flatten(results, used), parameters, mi, entropy, used, seconds, results)


def _flatten(results: dict[str, Any], factor_names: list[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for name, r in results.items():
        if name == "dci":
            for key in (
                "disentanglement",
                "completeness",
                "informativeness_train",
                "informativeness_test",
            ):
                scores[f"dci.{key}"] = getattr(r, key)
        elif name == "explicitness":
            scores["explicitness.train"], scores["explicitness.test"] = r.train, r.test
        elif name in ("factorvae", "betavae"):
            scores[f"{name}.train_accuracy"] = r.train_accuracy
            scores[f"{name}.eval_accuracy"] = r.eval_accuracy
        elif name == "mic":
            for factor, value in zip(factor_names, r.per_factor, strict=True):
                scores[f"mic.{factor}"] = float(value)
        else:
            scores[name] = r.score
    return scores


def mi_heatmap(mi: np.ndarray, entropy: np.ndarray, factor_names: Sequence[str], path: Path) -> None:
    """Factors x code dimensions, colour I(z_d; v_k) / H(v_k) in [0, 1], each cell annotated."""
    from matplotlib.figure import Figure  # a Figure draws with Agg and leaves pyplot's state alone

    normalized = (mi / entropy).T  # [K, D]
    k, d = normalized.shape
    fig = Figure(figsize=(1.5 + 0.6 * d, 1.2 + 0.45 * k))
    ax = fig.subplots()
    image = ax.imshow(normalized, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i in range(k):
        for j in range(d):
            value = normalized[i, j]
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if value > 0.6 else "white",
            )
    ax.set_xticks(range(d), [str(j) for j in range(d)])
    ax.set_yticks(range(k), list(factor_names))
    ax.set_xlabel("latent dimension")
    ax.set_title("I(z_d; factor) / H(factor), 20-bin histograms")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
