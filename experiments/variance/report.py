"""Relate the structure of variance of each rendered squares dataset to the disentanglement of the
model trained on it: one table row per run.

    python experiments/variance/report.py runs/variance

Dataset measures on every grid point (exact); MIG and DCI on 10,000 + 5,000 draws (seed 0); the
decoder's local principal directions at 200 encoded points. Writes each run's variance.json and
figures/variance.png as ``untwine variance RUN`` does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from untwine.protocols import variance as report
from untwine.protocols.disentanglement import evaluate
from untwine.run import SUMMARY_FILE, load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    lines = [
        "| dataset | gap posX/posY | closest gap | CV intensity | mean CV | MIG | MIG posX, posY, scale, "
        "intensity | DCI dis. | decoder alignment | consistent alignment | axis-change CV (active) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run_dir in sorted(p for p in args.folder.iterdir() if (p / SUMMARY_FILE).exists()):
        run = load_run(run_dir)
        dataset = run.dataset()
        data = report.dataset_variance(dataset, bases=None)
        decoder = report.model_variance(run.model, dataset, points=200, seed=0)
        scores = evaluate(run.model, dataset, metrics=("mig", "dci"), n=10_000, seed=0)
        per_factor = scores.results["mig"].per_factor
        active_axes = decoder.axis_global >= 0.1 * decoder.axis_global.max()
        names = list(data.factor_names)
        lines.append(
            f"| {run_dir.name} | {data.gaps[names.index('posX'), names.index('posY')]:.3f} | "
            f"{data.min_gap:.3f} ({'/'.join(data.closest_pair)}) | "
            f"{data.consistency[names.index('intensity')]:.3f} | {data.consistency.mean():.3f} | "
            f"{scores.scores['mig']:.3f} | {', '.join(f'{v:.2f}' for v in per_factor)} | "
            f"{scores.scores['dci.disentanglement']:.3f} | {decoder.mean_alignment:.3f} | "
            f"{decoder.mean_consistent_alignment:.3f} | "
            f"{np.mean(decoder.axis_consistency[active_axes]):.3f} |"
        )
        payload = {"dataset": report.factor_variance_json(data),
                   "decoder": report.decoder_variance_json(decoder),
                   "parameters": {"bases": None, "points": 200, "seed": 0, "rank_tolerance": 0.1}}
        (run_dir / "variance.json").write_text(json.dumps(payload, indent=2))
        report.variance_figure(run_dir / "figures" / "variance.png", data, decoder, title=run_dir.name)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
