"""Paper 002's Figures 1 and 2 from the eval.json of many runs (the "grouped" protocol's scores).

- Figure 1: the MIC of posX, posY and shape in the first three dimensions (Grouped-VAE's first
  group), one dot per seed, one column per model: Grouped-VAE should hold the positions (what
  reconstructs most of the image) in its first group and shape in its second; a beta-VAE has no
  reason to prefer any dimensions.
- Figure 2: the MIG of every seed (blue) and the mean of each model (red).

Columns are the runs' names without ``/seedS`` (as ``untwine table`` folds them), Grouped-VAE first,
then beta-VAEs by increasing beta, labelled as the paper's Table 1 ("Grouped", "beta=5").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure

from untwine.table import collect

PROTOCOL = "grouped"
MIC_FACTORS = (("posX", "x"), ("posY", "y"), ("shape", "shape"))
MIC_FIGURE = "grouped_figure1_mic.png"
MIG_FIGURE = "grouped_figure2_mig.png"


@dataclass
class Column:
    label: str
    order: tuple[int, float, str]
    scores: list[dict[str, float]]  # one per seed


def _describe(run_dir: Path, group: str) -> tuple[str, tuple[int, float, str]]:
    """(label, sort key) of a run from its config: "Grouped" first, then "beta=B" by B."""
    path = run_dir / "config.yaml"
    config = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    model = config.get("model", {})
    beta = float(model.get("beta", 1.0))
    if model.get("name") == "grouped":
        label = "Grouped" if beta == 1 else f"Grouped, β={beta:g}"
        return label, (0, beta, group)
    if "beta" in model:
        return f"β={beta:g}", (1, beta, group)
    return group, (2, 0.0, group)


def columns(paths: Sequence[Path | str]) -> list[Column]:
    """The runs at or under ``paths`` that hold the grouped protocol's scores, one column per
    config (seeds folded), in the paper's order."""
    found: dict[str, Column] = {}
    for run in collect(paths):
        scores = {score: value for (protocol, score), value in run.scores.items() if protocol == PROTOCOL}
        if not scores:
            continue
        if run.group not in found:
            label, order = _describe(run.run_dir, run.group)
            found[run.group] = Column(label, order, [])
        found[run.group].scores.append(scores)
    if not found:
        raise FileNotFoundError(f"no run under {', '.join(map(str, paths))} has {PROTOCOL!r} scores; "
                                f"score runs with `untwine evaluate RUN --protocol {PROTOCOL}` first")
    return sorted(found.values(), key=lambda c: c.order)


def mic_figure(cols: Sequence[Column]) -> Figure:
    """Figure 1: MIC of x, y and shape in the first group, one dot per seed."""
    fig = Figure(figsize=(2.0 + 1.6 * len(cols), 3.8))
    ax = fig.subplots()
    offsets = np.linspace(-0.25, 0.25, len(MIC_FACTORS))
    colours = ("tab:blue", "tab:orange", "tab:green")
    for (factor, name), offset, colour in zip(MIC_FACTORS, offsets, colours, strict=True):
        for i, col in enumerate(cols):
            values = [s[f"mic.{factor}"] for s in col.scores if f"mic.{factor}" in s]
            ax.scatter(np.full(len(values), i + offset), values, s=22, color=colour, alpha=0.8,
                       label=name if i == 0 else None)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(cols)), [c.label for c in cols])
    ax.set_ylabel("MIC in the first group")
    ax.set_title("MIC of x, y and shape in dimensions 1-3 (one dot per seed)")
    ax.legend(title="factor", fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def mig_figure(cols: Sequence[Column]) -> Figure:
    """Figure 2: MIG per seed (blue) and its mean per model (red)."""
    fig = Figure(figsize=(2.0 + 1.4 * len(cols), 3.8))
    ax = fig.subplots()
    for i, col in enumerate(cols):
        values = [s["mig"] for s in col.scores if "mig" in s]
        ax.scatter(np.full(len(values), i), values, s=22, color="tab:blue", alpha=0.8,
                   label="one seed" if i == 0 else None)
        ax.scatter([i], [np.mean(values)], s=60, color="red", marker="o", zorder=3,
                   label="mean" if i == 0 else None)
    ax.set_xticks(range(len(cols)), [c.label for c in cols])
    ax.set_xlim(-0.6, len(cols) - 0.4)
    ax.set_ylabel("MIG")
    ax.set_title("MIG of every seed and its mean")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def grouped_figures(paths: Sequence[Path | str], out: Path | str) -> list[Path]:
    """Draw Figures 1 and 2 of paper 002 from the runs at or under ``paths`` into ``out``."""
    cols = columns(paths)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for figure, name in ((mic_figure(cols), MIC_FIGURE), (mig_figure(cols), MIG_FIGURE)):
        path = out / name
        figure.savefig(path, dpi=130)
        written.append(path)
    return written
