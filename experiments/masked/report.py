"""The sparsity sweep as paper 001 plots it: MIG, DCI disentanglement and Modularity per L0 strength,
the unmasked baseline as a dashed line; plus the fraction of connections left open.

    python experiments/masked/report.py runs/masked [--out notes/issue-6b-masked.png]

Scores come from each run's eval.json (``untwine run experiments/masked`` evaluates the protocols its
configs list: disentanglement with MIG, DCI and Modularity on 10,000 + 5,000 points of the whole
grid, seed 0; sparsity); a run without them is evaluated here the same way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from untwine.nn.masked import alive_fractions
from untwine.protocols import evaluate_run, read_evaluation
from untwine.run import SUMMARY_FILE, load_run

METRICS = {"mig": "MIG", "dci.disentanglement": "DCI disentanglement", "modularity": "Modularity"}


def scores_of(run_dir: Path) -> dict[str, float]:
    scores = read_evaluation(run_dir).get("disentanglement", {}).get("scores", {})
    if all(k in scores for k in METRICS):
        return scores
    options = {"metrics": ["mig", "dci", "modularity"], "n": 10_000}
    return evaluate_run(load_run(run_dir), "disentanglement", options=options).scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path("notes/issue-6b-masked.png"))
    args = parser.parse_args()
    rows = []
    for run_dir in sorted(p for p in args.folder.iterdir() if (p / SUMMARY_FILE).exists()):
        run = load_run(run_dir)
        mask = run.config.model.mask
        summary = json.loads((run_dir / SUMMARY_FILE).read_text())
        rows.append({
            "run": run_dir.name, "weight": mask.weight if mask else None,
            "alive": alive_fractions(run.model).get("total", 1.0),
            "reconstruction": summary["last_terms"].get("reconstruction", float("nan")),
            **{k: scores_of(run_dir)[k] for k in METRICS},
        })
    baseline = [r for r in rows if r["weight"] is None]
    masked = sorted((r for r in rows if r["weight"] is not None), key=lambda r: r["weight"])
    header = "| L0 weight λ | open connections | reconstruction | MIG | DCI disentanglement | Modularity |"
    lines = [header, "|---|---|---|---|---|---|"]
    for r in baseline + masked:
        weight = "baseline (no mask)" if r["weight"] is None else f"{r['weight']:g}"
        lines.append(f"| {weight} | {r['alive']:.3f} | {r['reconstruction']:.1f} | {r['mig']:.3f} | "
                     f"{r['dci.disentanglement']:.3f} | {r['modularity']:.3f} |")
    print("\n".join(lines))

    fig = Figure(figsize=(12, 3.4))
    axes = fig.subplots(1, 4)
    weights = np.array([r["weight"] for r in masked])
    for ax, (key, title) in zip(axes, METRICS.items(), strict=False):
        ax.plot(weights, [r[key] for r in masked], "o-", label="masked")
        for r in baseline:
            ax.axhline(r[key], color="k", linestyle="--", label="baseline")
        ax.set_xscale("log")
        ax.set_xlabel("L0 weight λ")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    axes[3].plot(weights, [r["alive"] for r in masked], "o-", color="C2")
    axes[3].set_xscale("log")
    axes[3].set_xlabel("L0 weight λ")
    axes[3].set_title("open connections (fraction)")
    fig.suptitle("beta-VAE on rendered shapes 32x32, 1,200 steps, seed 0", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
