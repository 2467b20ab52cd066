"""The disentanglement protocol: encode a dataset once with a trained model, score the codes with the
metrics of ``untwine.metrics.METRICS`` (disentanglement_lib's suite by default), and draw the MI
matrix; ``untwine evaluate RUN`` writes both into the run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from untwine.metrics import DEFAULT_METRICS, METRICS, Codes
from untwine.metrics._arrays import MetricError
from untwine.metrics._mutual_info import binned_mutual_info
from untwine.protocols.result import ProtocolResult

BINS = 20
MetricName = METRICS.name_type()  # checked when the options are validated: any registered metric


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
    dci_learner: str = "gbt",
    batch_size: int = 256,
    device: torch.device | str | None = None,
    metric_options: dict[str, dict[str, Any]] | None = None,
    threads: int | None = None,
) -> EvaluationResult:
    """Score ``model`` on ``dataset`` (an ImageSet with factors): n training rows and n // 2 test
    rows (disentanglement_lib's 10,000 / 5,000), encoded once. Factors that take one value in the
    drawn rows cannot be scored and are dropped (listed under parameters["dropped_factors"]).
    "mic" needs ``mic_subset`` (code dimensions, e.g. a Grouped-VAE group); "factorvae" and
    "betavae" sample their own batches through the model with disentanglement_lib's defaults.
    ``metric_options`` gives any registered metric its options by name (``{"dci": {"learner":
    "sklearn"}}``); ``dci_learner`` and ``mic_subset`` are shortcuts for the two the papers vary.
    ``threads`` limits BLAS/OpenMP threads in the metrics that use them (None: the process's).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise MetricError(f"unknown metrics {unknown}; choose from {METRICS.names()}")
    if "mic" in metrics and mic_subset is None:
        raise MetricError("metric 'mic' needs mic_subset, the code dimensions of the group")
    if n < 2:
        raise MetricError(f"n={n}: the metrics need at least 2 training rows")
    if getattr(dataset, "factors", None) is None:
        raise MetricError("the dataset has no factors; the metrics compare codes with factors")
    options = {name: dict(values) for name, values in (metric_options or {}).items()}
    options.setdefault("dci", {}).setdefault("learner", dci_learner)
    if mic_subset is not None:
        options.setdefault("mic", {}).setdefault("subset", list(mic_subset))
    validated = {name: METRICS.validate(name, options.get(name)) for name in metrics}
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
    used = [nm for nm, keep in zip(names, varying, strict=True) if keep]

    def run_model(indices: np.ndarray) -> np.ndarray:
        return encode(model, dataset, indices, batch_size, device)

    inputs = Codes(codes[:n], factors[:n], codes[n:], factors[n:], used, seed=seed, bins=BINS,
                   dataset=dataset, encode=run_model, threads=threads)
    results, scores = {}, {}
    parameters: dict[str, Any] = {}
    for name in metrics:
        entry = METRICS.entry(name)
        chosen = validated[name]
        started = time.perf_counter()
        results[name] = entry.fn(inputs, **{k: getattr(chosen, k) for k in type(chosen).model_fields})
        seconds[name] = time.perf_counter() - started
        for suffix, value in entry.extra.get("scores", _score)(results[name], used).items():
            scores[f"{name}{suffix}"] = float(value)
        for key, value in chosen.model_dump(mode="json").items():
            parameters[f"{name}.{key}"] = value
        for key, value in entry.extra.get("parameters", {}).items():
            parameters[f"{name}.{key}"] = value
    mi, entropy = binned_mutual_info(inputs.train, inputs.train_factors, BINS)
    parameters = {
        "n_train": n,
        "n_test": n_test,
        "seed": seed,
        "sampling": sampling,
        "bins": BINS,
        "code_dimensions": int(codes.shape[1]),
        "factors": used,
        "dropped_factors": [nm for nm, keep in zip(names, varying, strict=True) if not keep],
        **parameters,
    }
    return EvaluationResult(scores, parameters, mi, entropy, used, seconds, results)


def _score(result: Any, factor_names: Sequence[str]) -> dict[str, float]:
    return {"": float(result.score)}


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


def disentanglement(
    model: torch.nn.Module,
    dataset,
    *,
    seed: int,
    figures: Path,
    metrics: tuple[MetricName, ...] = DEFAULT_METRICS,
    n: Annotated[int, Field(ge=2)] = 10_000,
    dci_learner: Literal["gbt", "sklearn"] = "gbt",
    mic_subset: list[int] | None = None,
    metric_options: dict[str, dict[str, Any]] | None = None,
    threads: Annotated[int, Field(ge=1)] | None = None,
) -> ProtocolResult:
    """The disentanglement_lib suite against the dataset's factors (MIG, DCI, SAP, modularity,
    explicitness by default; any registered metric by name), and the MI matrix heatmap as
    figures/mi_matrix.png."""
    result = evaluate(model, dataset, metrics=metrics, n=n, seed=seed, mic_subset=mic_subset,
                      dci_learner=dci_learner, metric_options=metric_options, threads=threads)
    figures.mkdir(parents=True, exist_ok=True)
    mi_heatmap(result.mutual_info, result.entropy, result.factor_names, figures / "mi_matrix.png")
    details = {
        "seconds": result.seconds,
        "mutual_info": {
            "unit": "nats",
            "layout": "[code dimension][factor]",
            "factors": result.factor_names,
            "matrix": result.mutual_info.tolist(),
            "factor_entropy": result.entropy.tolist(),
        },
    }
    return ProtocolResult(result.scores, result.parameters, details)
