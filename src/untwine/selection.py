"""``untwine rank SWEEP``: choose among the runs of a sweep without ground-truth factors.

Medical images rarely come with their generative factors, so MIG or DCI cannot pick a model there.
UDR (Duan et al. 2020; metrics/udr.py) needs only the runs themselves: the runs of one configuration
that differ only by seed (the rows ``untwine table`` folds, ``NAME/seedS``) are encoded on the same
``n`` images, each run's UDR is its median similarity to the others, and the runs are ranked by it.
Each run's UDR is written into its eval.json (section ``udr``), so ``untwine table`` and
``untwine report`` show it beside the supervised scores.

Where the runs also have supervised scores (the shapes grid), ``rank`` reports how well the
label-free ranking agrees with them, as Duan et al. do: the Spearman rank correlation between UDR and
each score over all runs and per model, as a table (``udr_correlation.csv``) and a figure
(``udr_correlation.png``) in the sweep's folder.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from untwine.core.io import atomic_write, atomic_write_text
from untwine.metrics.udr import Correlation, udr
from untwine.protocols import read_evaluation, write_evaluation
from untwine.protocols.result import ProtocolResult
from untwine.run import CONFIG_FILE, SUMMARY_FILE, load_run

SEED = re.compile(r"/seed-?\d+$")  # untwine run names a config's seeds NAME/seedS (as untwine table)
SECTION = "udr"


@dataclass
class RankedRun:
    run_dir: Path
    name: str
    group: str  # the name without its seed: the runs UDR compares
    model: str  # the model's registry name
    udr: float
    peers: int  # other seeds it was compared with
    active_dimensions: int
    scores: dict[str, float] = field(default_factory=dict)  # every other score of its eval.json


@dataclass
class Agreement:
    """Spearman rank correlation between UDR and one supervised score over a set of runs."""

    score: str
    model: str  # "all" or one model's name
    rho: float
    p_value: float
    runs: int


@dataclass
class Ranking:
    runs: list[RankedRun]  # best UDR first
    skipped: list[str]  # groups with a single run: nothing to compare with
    agreements: list[Agreement]
    parameters: dict[str, Any]


def finished_runs(paths: Sequence[Path | str]) -> list[Path]:
    """Every finished run directory at or under ``paths``."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such run directory or folder")
        candidates = [path] if (path / CONFIG_FILE).exists() else sorted(
            p.parent for p in path.rglob(CONFIG_FILE))
        found += [p for p in candidates if (p / SUMMARY_FILE).exists()]
    if not found:
        raise FileNotFoundError(f"no finished runs under {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def encode_with_kl(model: torch.nn.Module, dataset, rows: np.ndarray,
                   batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(posterior means [len(rows), D], mean KL(q(z_d|x) || N(0, 1)) per dimension [D])."""
    means, kls = [], []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for chunk in torch.as_tensor(rows, dtype=torch.long).split(batch_size):
            posterior = model.encode(dataset.load(chunk, device).images)
            mean, logvar = posterior.mean.double(), posterior.logvar.double()
            means.append(mean.cpu())
            kls.append((0.5 * (mean.square() + logvar.exp() - logvar - 1)).cpu())
    return torch.cat(means).numpy(), torch.cat(kls).mean(0).numpy()


def flat_scores(run_dir: Path) -> dict[str, float]:
    """Every score of eval.json but UDR, as ``protocol.score``."""
    return {f"{protocol}.{score}": float(value)
            for protocol, section in read_evaluation(run_dir).items() if protocol != SECTION
            for score, value in section.get("scores", {}).items()}


def resolve_score(name: str, available: Sequence[str]) -> str:
    """``mig`` or ``disentanglement.mig`` to the ``protocol.score`` key the runs have."""
    if name in available:
        return name
    matches = sorted({key for key in available if key.split(".", 1)[1] == name})
    if len(matches) != 1:
        known = sorted({key.split(".", 1)[1] for key in available})
        raise ValueError(f"score {name!r}: {'ambiguous, ' + str(matches) if matches else 'unknown'}; "
                         f"the runs have {known}")
    return matches[0]


def agreements(runs: Sequence[RankedRun], against: Sequence[str]) -> list[Agreement]:
    """Spearman's rho between UDR and each score, over all runs and per model."""
    from scipy.stats import spearmanr

    result = []
    available = sorted({key for run in runs for key in run.scores})
    for name in against:
        key = resolve_score(name, available)
        for model in ["all", *sorted({run.model for run in runs})]:
            pairs = [(run.udr, run.scores[key]) for run in runs
                     if key in run.scores and (model == "all" or run.model == model)
                     and np.isfinite(run.scores[key])]
            if len(pairs) < 3:
                continue
            x, y = np.array(pairs).T
            rho, p = spearmanr(x, y) if x.std() > 0 and y.std() > 0 else (np.nan, np.nan)
            result.append(Agreement(key, model, float(rho), float(p), len(pairs)))
    return result


def rank(
    paths: Sequence[Path | str],
    n: int = 1000,
    correlation: Correlation = "spearman",
    filter_low_kl: bool = True,
    kl_threshold: float = 0.01,
    seed: int = 0,
    against: Sequence[str] = (),
    write: bool = True,
    progress: bool = True,
) -> Ranking:
    """UDR of every finished run under ``paths`` among its seeds, written into each eval.json (with
    ``write``), the runs ranked by it, and its rank correlation with the scores ``against``."""
    from tqdm.auto import tqdm

    groups: dict[str, list[Path]] = {}
    for run_dir in finished_runs(paths):
        name = yaml.safe_load((run_dir / CONFIG_FILE).read_text())["name"]
        groups.setdefault(SEED.sub("", name), []).append(run_dir)
    skipped = [g for g, members in groups.items() if len(members) < 2]
    datasets: dict[str, Any] = {}
    ranked: list[RankedRun] = []
    parameters = {"n": n, "correlation": correlation, "filter_low_kl": filter_low_kl,
                  "kl_threshold": kl_threshold, "seed": seed, "codes": "posterior means",
                  "definition": "disentanglement_lib compute_udr_sklearn (metrics/udr.py)"}
    compared = {g: members for g, members in groups.items() if len(members) >= 2}
    with tqdm(total=sum(map(len, compared.values())), unit="run", desc="udr",
              disable=not progress) as bar:
        for group, members in compared.items():
            loaded = [load_run(run_dir) for run_dir in members]
            data_key = loaded[0].config.data.model_dump_json()
            if any(run.config.data.model_dump_json() != data_key for run in loaded):
                raise ValueError(f"runs of {group} were trained on different data; UDR compares "
                                 "codes of the same images")
            if data_key not in datasets:
                datasets[data_key] = loaded[0].dataset()
            dataset = datasets[data_key]
            rows = np.sort(np.random.default_rng(seed).choice(len(dataset), min(n, len(dataset)),
                                                              replace=False))
            encoded = []
            for run in loaded:
                encoded.append(encode_with_kl(run.model, dataset, rows))
                bar.update(1)
            result = udr([c for c, _ in encoded], [k for _, k in encoded], correlation,
                         filter_low_kl, kl_threshold, seed)
            for index, run in enumerate(loaded):
                score = float(result.model_scores[index])
                if write:
                    _write_udr(run.dir, score, index, members, result, parameters)
                ranked.append(RankedRun(run.dir, run.config.name, group, run.config.model.name,
                                        score, len(members) - 1, int(result.active[index].sum()),
                                        flat_scores(run.dir)))
    ranked.sort(key=lambda r: -r.udr)
    return Ranking(ranked, skipped, agreements(ranked, against), parameters)


def _write_udr(run_dir: Path, score: float, index: int, members: list[Path], result,
               parameters: dict[str, Any]) -> None:
    details = {
        "peers": [str(p) for i, p in enumerate(members) if i != index],
        "similarity_to_peers": [float(result.pairwise[i, index]) for i in range(len(members)) if i != index],
        "active_dimensions": np.flatnonzero(result.active[index]).tolist(),
    }
    write_evaluation(run_dir, SECTION, ProtocolResult({"udr": score}, dict(parameters), details),
                     {"peers": len(members) - 1, **parameters})


def format_ranking(ranking: Ranking, columns: Sequence[str] = ()) -> str:
    """The runs best UDR first, with the scores ``columns`` beside it."""
    available = sorted({key for run in ranking.runs for key in run.scores})
    keys = [resolve_score(c, available) for c in columns]
    header = ["rank", "run", "udr", *keys]
    rows = [[str(i + 1), run.name, f"{run.udr:.3f}",
             *(f"{run.scores[k]:.3f}" if k in run.scores else "-" for k in keys)]
            for i, run in enumerate(ranking.runs)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, ["-" * w for w in widths], *rows])


def format_agreements(agreements: Sequence[Agreement], style: str = "text") -> str:
    """Spearman rho of UDR with each score, a row per model ("all" first)."""
    scores = list(dict.fromkeys(a.score for a in agreements))
    models = list(dict.fromkeys(a.model for a in agreements))
    cell = {(a.model, a.score): a for a in agreements}
    header = ["model", "runs", *(f"rho(udr, {s})" for s in scores)]
    rows = []
    for model in models:
        found = [cell[(model, s)] for s in scores if (model, s) in cell]
        rows.append([model, str(max(a.runs for a in found)),
                     *(f"{cell[(model, s)].rho:+.2f}" if (model, s) in cell else "-" for s in scores)])
    if style == "markdown":
        return "\n".join("| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, ["-" * w for w in widths], *rows])


def write_outputs(ranking: Ranking, folder: Path, against: Sequence[str]) -> list[Path]:
    """udr_ranking.csv, udr_correlation.csv and udr_correlation.png in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    keys = sorted({key for run in ranking.runs for key in run.scores})

    def ranking_csv(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["rank", "run", "model", "udr", "peers", "active_dimensions", *keys])
            for i, run in enumerate(ranking.runs):
                writer.writerow([i + 1, run.name, run.model, run.udr, run.peers, run.active_dimensions,
                                 *(run.scores.get(k, "") for k in keys)])

    atomic_write(folder / "udr_ranking.csv", ranking_csv)
    written.append(folder / "udr_ranking.csv")
    if ranking.agreements:
        lines = ["score,model,spearman_rho,p_value,runs"] + [
            f"{a.score},{a.model},{a.rho:.6g},{a.p_value:.6g},{a.runs}" for a in ranking.agreements]
        atomic_write_text(folder / "udr_correlation.csv", "\n".join(lines) + "\n")
        written.append(folder / "udr_correlation.csv")
        written.append(correlation_figure(ranking, against, folder / "udr_correlation.png"))
    return written


def correlation_figure(ranking: Ranking, against: Sequence[str], path: Path) -> Path:
    """One panel per score: each run's UDR against it, coloured by model, Spearman rho in the title."""
    from matplotlib.figure import Figure

    available = sorted({key for run in ranking.runs for key in run.scores})
    keys = [resolve_score(name, available) for name in against]
    models = sorted({run.model for run in ranking.runs})
    overall = {a.score: a for a in ranking.agreements if a.model == "all"}
    fig = Figure(figsize=(4.2 * len(keys) + 1.6, 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    colours = dict(zip(models, [f"C{i}" for i in range(len(models))], strict=True))
    for ax, key in zip(axes, keys, strict=True):
        for model in models:
            points = [(r.udr, r.scores[key]) for r in ranking.runs if r.model == model and key in r.scores]
            if points:
                x, y = np.array(points).T
                ax.scatter(x, y, s=18, color=colours[model], label=model, alpha=0.8)
        agreement = overall.get(key)
        rho = f"Spearman rho = {agreement.rho:+.2f} ({agreement.runs} runs)" if agreement else "too few runs"
        ax.set_title(f"{key}\n{rho}", fontsize=9)
        ax.set_xlabel("UDR (no labels)")
        ax.set_ylabel(key.split(".", 1)[1])
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
