"""Where do explanations point, measured against the pixels that cause the class (issue 17).

For each trained run named (a generator with an encoder on a synthetic set whose cause is known pixel
by pixel: ``blobs`` or ``nodules``), a latent MLP is fit on the training split's codes and the first
``--images`` test images of the positive class that the end-to-end classifier (encoder -> MLP, on
pixels) calls positive are explained by every method side by side:

    rationale         LatentRationale, the default ("margin") optimization
    rationale_paper   the printed Algorithm 2 (Adam lr 0.1 on probabilities, squared error, stop at the
                      first crossing)
    saliency, integrated_gradients, occlusion, lime   Captum on the end-to-end classifier

Per method, mean and 95% bootstrap interval over images of: attribution mass inside the causal mask,
the pointing game, the AUROC of |map| against the mask (an all-zero map counts as mass 0, a miss and
AUROC 0.5: it shows nothing), and the deletion and insertion areas on the end-to-end classifier.
For the rationales also minimality (mean |change|, share of pixels changed by more than 0.05) and
realism (RMSE to the nearest training image of the target class, beside the same for the image's
own reconstruction), and how each row ended.

``--contaminated SEEDS`` adds paper 003's check: per seed a clean MLP (training codes) and a
contaminated one (trained on the test codes until 99% right there), rationales of the same images,
and a one-sided paired t-test over seeds (and a Wilcoxon signed-rank test over all image pairs) of
"the contaminated classifier's rationales are less localized (mask mass) / less plausible (farther
from the data)".

    python benchmarks/rationale_quality.py --run blobs=runs/rationale_quality/blobs_vae \\
        --run nodules=runs/rationale_quality/nodules_vae --out experiments/rationale_quality/results
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from untwine.data.blobs import blob_masks
from untwine.data.nodules import nodule_masks
from untwine.explain.baselines import EXTRA_METHODS, METHODS, attributions, comparison_figure
from untwine.explain.classifiers import EndToEnd, latent_classifier, train_classifier
from untwine.explain.faithfulness import deletion_insertion
from untwine.explain.rationale import LatentRationale, RationaleResult, pair_of
from untwine.explain.sanity import contaminated_classifier
from untwine.explain.session import encode_all
from untwine.metrics.mask_auroc import mask_auroc
from untwine.metrics.mask_mass import mask_mass
from untwine.metrics.pointing_game import pointing_game
from untwine.run import load_run

MASKS = {"blobs": blob_masks, "nodules": nodule_masks}
PAPER = dict(method="paper", gamma=10.0, lr=0.1)


def interval(values: np.ndarray, seed: int = 0, draws: int = 2000) -> dict[str, float]:
    """Mean and 95% percentile-bootstrap interval of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(len(values), size=(draws, len(values)))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high)}


def localization(maps: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: mass in the mask, pointing-game hit, AUROC; an all-zero map shows nothing."""
    empty = np.abs(maps).reshape(len(maps), -1).max(1) == 0
    return {"mask_mass": np.nan_to_num(mask_mass(maps, masks), nan=0.0),
            "pointing_game": (pointing_game(maps, masks) & ~empty).astype(float),
            "mask_auroc": np.where(empty, 0.5, mask_auroc(maps, masks))}


@torch.no_grad()
def nearest_distance(images: np.ndarray, references: torch.Tensor) -> np.ndarray:
    """[N] RMSE from each image to its nearest reference image."""
    x = torch.as_tensor(images).flatten(1)
    return (torch.cdist(x, references.flatten(1)).min(1).values / np.sqrt(x.shape[1])).numpy()


def rationale_numbers(result: RationaleResult, references: torch.Tensor) -> dict:
    changed = (np.abs(result.difference) > 0.05).reshape(len(result.difference), -1).mean(1)
    return {
        "status": {s: int((result.status == s).sum()) for s in ("reached", "already", "max_steps")},
        "steps_median": float(np.median(result.steps)),
        "steps_quartiles": [float(q) for q in np.percentile(result.steps, [25, 75])],
        "first_crossing_median": float(np.median(result.crossed_at[result.crossed_at >= 0]))
        if (result.crossed_at >= 0).any() else None,
        "minimality_mean_abs_change": interval(result.change),
        "minimality_share_changed": interval(changed),
        "realism_counterfactual_nn_rmse": interval(nearest_distance(result.counterfactual, references)),
        "realism_reconstruction_nn_rmse": interval(nearest_distance(result.reconstruction, references)),
        "seconds": round(result.seconds, 1),
    }


def set_up(run_dir: Path, count: int, steps: int, seed: int = 0):
    run = load_run(run_dir)
    run.model.eval().requires_grad_(False)
    dataset = run.dataset()
    if dataset.name not in MASKS:
        raise ValueError(f"{run_dir}: data source {dataset.name!r} has no causal masks; "
                         f"expected one of {sorted(MASKS)}")
    train_rows, test_rows = dataset.split_rows(run.config.data.test_fraction, run.config.seed)
    masks = MASKS[dataset.name](**run.config.data.options)[test_rows]
    train_set, test_set = dataset.subset(train_rows), dataset.subset(test_rows)
    encode, _ = pair_of(run.model)
    codes = encode_all(encode, train_set)
    torch.manual_seed(seed)
    classifier = train_classifier(latent_classifier("mlp", run.model.latent_dim, 2), codes,
                                  torch.as_tensor(train_set.labels), steps=steps, seed=seed)
    end_to_end = EndToEnd(encode, classifier)
    with torch.no_grad():
        test_codes = encode_all(encode, test_set)
        predicted = classifier(test_codes).argmax(1).numpy()
    accuracy = float((predicted == test_set.labels).mean())
    rows = np.flatnonzero((test_set.labels == 1) & (predicted == 1))[:count]
    if len(rows) < count:
        print(f"  only {len(rows)} positive test images called positive (asked for {count})")
    return run, train_set, test_set, test_codes, classifier, end_to_end, accuracy, rows, masks[rows]


def localization_part(name: str, run_dir: Path, out: Path, count: int, max_steps: int) -> dict:
    began = time.perf_counter()
    run, train_set, test_set, _, classifier, end_to_end, accuracy, rows, masks = set_up(run_dir, count, 2000)
    x = test_set.load(rows).images
    fill = float(train_set.load(range(min(len(train_set), 1024))).images.mean())
    negatives = train_set.load(np.flatnonzero(train_set.labels == 0)[:2000]).images
    print(f"{name}: {run_dir} latent MLP test accuracy {accuracy:.3f}; {len(rows)} images")
    maps: dict[str, np.ndarray] = {}
    numbers: dict = {"run": str(run_dir), "classifier_test_accuracy": accuracy, "images": int(len(rows)),
                     "mask_share_of_image": float(masks.mean()), "methods": {}, "rationales": {}}
    results = {}
    for method, options in (("rationale", {}), ("rationale_paper", PAPER)):
        explainer = LatentRationale(classifier, run.model, max_steps=max_steps, **options)
        found, result = explainer.attribute(x, target=1, towards=0, return_result=True)
        maps[method] = found.sum(1).numpy()
        results[method] = result
        numbers["rationales"][method] = rationale_numbers(result, negatives)
        print(f"  {method}: {numbers['rationales'][method]['status']}, steps median "
              f"{numbers['rationales'][method]['steps_median']:g} ({result.seconds:.0f} s)")
    t = time.perf_counter()
    maps |= attributions(end_to_end, x, [1] * len(rows), methods=METHODS + EXTRA_METHODS, fill=fill)
    print(f"  baselines {time.perf_counter() - t:.0f} s")
    curves = {}
    for method, found in maps.items():
        per_image = localization(found, masks)
        curves[method] = deletion_insertion(end_to_end, x, found, np.ones(len(rows), int), fill=fill)
        per_image["deletion_area"] = curves[method].deletion_area
        per_image["insertion_area"] = curves[method].insertion_area
        numbers["methods"][method] = {k: interval(v) for k, v in per_image.items()}
    comparison_figure(results["rationale"], {k: v for k, v in maps.items() if k != "rationale"},
                      rows=range(min(6, len(rows)))).savefig(out / f"{name}_maps.png", dpi=100)
    _curve_figure(curves, name).savefig(out / f"{name}_curves.png", dpi=100)
    numbers["seconds"] = round(time.perf_counter() - began, 1)
    print(table(numbers))
    return numbers


def _curve_figure(curves: dict, name: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6))
    axes = figure.subplots(1, 2)
    for method, c in curves.items():
        axes[0].plot(c.fractions, c.deletion.mean(0), label=method.replace("_", " "))
        axes[1].plot(c.fractions, c.insertion.mean(0), label=method.replace("_", " "))
    for ax, what in zip(axes, ("deletion", "insertion"), strict=True):
        ax.set(xlabel=f"share of pixels {'removed' if what == 'deletion' else 'restored'}",
               ylabel="P(positive class)", title=f"{name}: {what}")
    axes[1].legend(fontsize=7)
    figure.tight_layout()
    return figure


def table(numbers: dict) -> str:
    """Markdown: one row per method, mean [95% interval] per measure."""
    keys = ("mask_mass", "pointing_game", "mask_auroc", "deletion_area", "insertion_area")
    lines = ["| method | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    for method, values in numbers["methods"].items():
        cells = [f"{values[k]['mean']:.3f} [{values[k]['low']:.3f}, {values[k]['high']:.3f}]" for k in keys]
        lines.append(f"| {method.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def contamination_part(run_dir: Path, seeds: list[int], count: int, max_steps: int) -> dict:
    """Clean vs contaminated classifier rationales of the same images, one pair per seed."""
    per_seed = []
    mass_of: dict[str, list] = {"clean": [], "contaminated": []}
    realism_of: dict[str, list] = {"clean": [], "contaminated": []}
    for seed in seeds:
        set_up_seed = set_up(run_dir, count, 2000, seed)
        run, train_set, test_set, test_codes, clean, _, accuracy, rows, masks = set_up_seed
        torch.manual_seed(seed)
        dirty, reached = contaminated_classifier(latent_classifier("mlp", run.model.latent_dim, 2),
                                                 test_codes, torch.as_tensor(test_set.labels), seed=seed)
        x = test_set.load(rows).images
        negatives = train_set.load(np.flatnonzero(train_set.labels == 0)[:2000]).images
        row = {"seed": seed, "clean_test_accuracy": accuracy, "contaminated_test_accuracy": reached}
        for label, classifier in (("clean", clean), ("contaminated", dirty)):
            found, result = LatentRationale(classifier, run.model, max_steps=max_steps).attribute(
                x, target=1, towards=0, return_result=True)
            mass = localization(found.sum(1).numpy(), masks)["mask_mass"]
            realism = nearest_distance(result.counterfactual, negatives)
            row[f"{label}_mask_mass"] = float(mass.mean())
            row[f"{label}_nn_rmse"] = float(realism.mean())
            row[f"{label}_reached"] = float(result.reached.mean())
            mass_of[label].append(mass)
            realism_of[label].append(realism)
        per_seed.append(row)
        print(f"  seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "seed"))
    clean_mass, dirty_mass = np.concatenate(mass_of["clean"]), np.concatenate(mass_of["contaminated"])
    clean_real, dirty_real = np.concatenate(realism_of["clean"]), np.concatenate(realism_of["contaminated"])
    seed_mass = [(r["clean_mask_mass"], r["contaminated_mask_mass"]) for r in per_seed]
    seed_real = [(r["contaminated_nn_rmse"], r["clean_nn_rmse"]) for r in per_seed]
    tests = {
        "less_localized_paired_t_over_seeds": _t(seed_mass),
        "less_plausible_paired_t_over_seeds": _t(seed_real),
        "less_localized_wilcoxon_over_images": _wilcoxon(clean_mass, dirty_mass),
        "less_plausible_wilcoxon_over_images": _wilcoxon(dirty_real, clean_real),
    }
    print("  " + "; ".join(f"{k}: stat {v['statistic']:.3f} p {v['p_value']:.4f}" for k, v in tests.items()))
    return {"run": str(run_dir), "seeds": per_seed, "tests": tests}


def _t(pairs: list[tuple[float, float]]) -> dict[str, float]:
    """One-sided paired t-test that the first of each pair is larger."""
    a, b = np.array(pairs).T
    result = stats.ttest_rel(a, b, alternative="greater")
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue),
            "mean_difference": float((a - b).mean())}


def _wilcoxon(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    result = stats.wilcoxon(a, b, alternative="greater")
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue),
            "mean_difference": float((a - b).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR (repeatable)")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--contaminated", help="NAME:SEEDS, e.g. blobs:0,1,2,3,4 (a --run name)")
    parser.add_argument("--contaminated-images", type=int, default=50)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = dict(item.split("=", 1) for item in args.run)
    numbers: dict = {"images": args.images, "max_steps": args.max_steps, "methods": list(METHODS), "sets": {}}
    for name, run_dir in runs.items():
        numbers["sets"][name] = localization_part(name, Path(run_dir), out, args.images, args.max_steps)
        (out / "rationale_quality.json").write_text(json.dumps(numbers, indent=2))
    if args.contaminated:
        name, seeds = args.contaminated.split(":")
        numbers["contaminated"] = contamination_part(Path(runs[name]), [int(s) for s in seeds.split(",")],
                                                     args.contaminated_images, args.max_steps)
    (out / "rationale_quality.json").write_text(json.dumps(numbers, indent=2))
    print(f"numbers: {(out / 'rationale_quality.json').resolve()}")


if __name__ == "__main__":
    main()
