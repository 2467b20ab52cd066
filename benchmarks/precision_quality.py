"""Does bf16 train as well as fp32? Loss curves and final scores of the runs of
``experiments/sweeps/precision.yaml`` (the demo's beta-TCVAE, fp32 and bf16, six seeds each),
side by side.

    untwine sweep experiments/sweeps/precision.yaml
    python benchmarks/precision_quality.py runs/sweeps/precision [--out precision_loss.png]

Prints per run the precision its summary.json records, its speed, the mean loss over the last 10
logged windows and the scores in eval.json (MIG, DCI disentanglement, SAP, Modularity,
Explicitness); then per precision the mean and the seed spread (sample standard deviation and
range), and for each score whether the two precisions' means differ by less than the larger seed
spread, with the two-sided Mann-Whitney p-value of the two groups of seeds. The figure draws every
run's loss curve, fp32 and bf16 in two colours.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scipy.stats import mannwhitneyu

from untwine.selection import flat_scores
from untwine.train.logging import read_metrics

SCORES = ("mig", "dci.disentanglement", "sap", "modularity", "explicitness.test")


def read_run(run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    lines = read_metrics(run)
    scores = flat_scores(run)  # "disentanglement.mig", ...
    losses = [line["loss"] for line in lines if "loss" in line]
    return {
        "run": f"{run.parent.name}/{run.name}",
        "precision": summary.get("precision", "?"),
        "images_per_second": summary["images_per_second"],
        "steps": [line["step"] for line in lines if "loss" in line],
        "losses": losses,
        "final_loss": statistics.fmean(losses[-10:]),
        **{name: scores.get(f"disentanglement.{name}", float("nan")) for name in SCORES},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep", type=Path)
    p.add_argument("--out", type=Path, default=None,
                   help="loss-curve figure (default: SWEEP/loss_curves.png)")
    args = p.parse_args()
    runs = [read_run(path.parent) for path in sorted(args.sweep.glob("*/seed*/eval.json"))]
    if not runs:
        raise SystemExit(f"{args.sweep}: no finished run (eval.json) under it")
    columns = ("final_loss", *SCORES)
    print("| run | precision | img/s | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for r in runs:
        print(f"| {r['run']} | {r['precision']} | {r['images_per_second']:.0f} | "
              + " | ".join(f"{r[c]:.4f}" for c in columns) + " |")
    groups = {name: [r for r in runs if r["precision"] == name] for name in ("fp32", "bf16")}
    print("\n| column | fp32 mean ± sd [min-max] | bf16 mean ± sd [min-max] | bf16 - fp32 | "
          "within the larger seed spread | p (Mann-Whitney, two-sided) |")
    print("|---|---|---|---|---|---|")
    for column in ("images_per_second", *columns):
        cells, spreads, means = [], [], []
        for name in ("fp32", "bf16"):
            values = [r[column] for r in groups[name]]
            if len(values) < 2:
                cells.append(f"{len(values)} run(s)")
                continue
            mean, sd = statistics.fmean(values), statistics.stdev(values)
            means.append(mean)
            spreads.append(max(values) - min(values))
            cells.append(f"{mean:.4f} ± {sd:.4f} [{min(values):.4f}-{max(values):.4f}]")
        if len(means) == 2:
            diff = means[1] - means[0]
            verdict = "n/a (speed)" if column == "images_per_second" else (
                "yes" if abs(diff) <= max(spreads) else "NO")
            p = mannwhitneyu([r[column] for r in groups["fp32"]], [r[column] for r in groups["bf16"]]).pvalue
            print(f"| {column} | {cells[0]} | {cells[1]} | {diff:+.4f} | {verdict} | {p:.3f} |")
        else:
            print(f"| {column} | {cells[0]} | {cells[1]} | | | |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    colours = {"fp32": "tab:blue", "bf16": "tab:orange"}
    for r in runs:
        ax.plot(r["steps"], r["losses"], color=colours.get(r["precision"], "grey"), alpha=0.8,
                label=r["precision"])
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys())
    ax.set_xlabel("step")
    ax.set_ylabel("loss (window mean)")
    ax.set_yscale("log")
    ax.set_title("beta-TCVAE on shapes: fp32 and bf16, six seeds each")
    out = args.out or args.sweep / "loss_curves.png"
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"\nloss curves: {out}")


if __name__ == "__main__":
    main()
