"""Paper 003's experiments at a reduced budget (issues 7 and 17): MNIST 9 -> 4 (the default "margin"
rationale and the printed algorithm, each judged by its own latent classifier and by an independent
CNN on pixels), PneumoniaMNIST AUC and pneumonia -> normal, and the blob set's region mass for the
rationale vs the Captum baselines and a contaminated classifier (the ground-truth benchmark with
intervals is benchmarks/rationale_quality.py).

    python experiments/rationales/proof.py RUNS_DIR OUT_DIR [--nines N] [--max-steps S]

RUNS_DIR holds the runs of the YAML files beside this script (mnist_vae, pneumonia_vae, blobs_vae and,
when trained, mnist_inversion). Numbers go to OUT_DIR/proof.json, figures to OUT_DIR/*.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from untwine.data import medmnist, mnist
from untwine.data.blobs import blob_region
from untwine.explain.baselines import attributions, comparison_figure
from untwine.explain.classifiers import (
    EndToEnd,
    latent_classifier,
    probabilities,
    roc,
    roc_figure,
    train_classifier,
)
from untwine.explain.rationale import LatentRationale, pair_of, rationale_figure
from untwine.explain.sanity import compare_maps, contaminated_classifier, region_mass
from untwine.explain.session import encode_all
from untwine.nn.conv64 import ConvEncoder
from untwine.run import load_run

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # the checkout's ../shared/data
MNIST = DATA / "mnist"
PNEUMONIA = DATA / "pneumoniamnist" / "pneumoniamnist.npz"


def independent_judge(steps: int = 800, seed: int = 0) -> tuple[torch.nn.Module, float]:
    """A CNN on MNIST pixels (conv64 encoder -> 10 logits) trained on the official training set: it
    never sees a latent code or a rationale, so it judges a counterfactual's digit independently."""
    torch.manual_seed(seed)
    train, test = mnist(MNIST, "train"), mnist(MNIST, "test")
    cnn = ConvEncoder(1, 28, 10)
    train_classifier(cnn, train.load(range(len(train))).images, torch.as_tensor(train.labels), steps=steps,
                     batch_size=64, seed=seed)
    with torch.no_grad():
        predicted = torch.cat([cnn(test.load(range(s, min(s + 1000, len(test)))).images).argmax(1)
                               for s in range(0, len(test), 1000)]).numpy()
    return cnn.eval(), float((predicted == test.labels).mean())


def mnist_nine_to_four(run_dir: Path, out: Path, nines: int, max_steps: int, judge, judge_accuracy: float,
                       method: str = "margin") -> dict:
    run = load_run(run_dir)
    encode, _ = pair_of(run.model)
    train_set, _ = run.splits()
    classifier = latent_classifier("linear", run.model.latent_dim, 10)  # paper: linear, 10-way softmax
    train_classifier(classifier, encode_all(encode, train_set), torch.as_tensor(train_set.labels), steps=3000)
    test = mnist(MNIST, "test")
    test_codes = encode_all(encode, test)
    accuracy = float((classifier(test_codes).argmax(1).numpy() == test.labels).mean())
    rows = np.flatnonzero(test.labels == 9)
    x = test.load(rows).images
    predicted_nine = classifier(encode(x)).argmax(1).numpy() == 9
    picked = rows[predicted_nine][:nines]
    options = {"method": "paper", "gamma": 10.0, "lr": 0.1} if method == "paper" else {}
    explainer = LatentRationale(classifier, run.model, max_steps=max_steps, **options)
    _, result = explainer.attribute(test.load(picked).images, target=9, towards=4, return_result=True)
    with torch.no_grad():
        judged = judge(torch.as_tensor(result.counterfactual)).argmax(1).numpy()
        judged_reconstruction = judge(torch.as_tensor(result.reconstruction)).argmax(1).numpy()
    own = result.reached & (result.final_class == 4)
    figure = rationale_figure(result, rows=range(8), class_names=[str(d) for d in range(10)])
    figure.savefig(out / f"mnist_9to4_{run_dir.name}_{method}.png", dpi=110)
    return {
        "generator": run_dir.name, "method": method, "latent_classifier_test_accuracy": accuracy,
        "independent_cnn_test_accuracy": judge_accuracy,
        "test_nines": int(len(rows)), "nines_predicted_nine": int(predicted_nine.sum()),
        "explained": int(len(picked)), "max_steps": max_steps,
        "status": {s: int((result.status == s).sum()) for s in ("reached", "already", "max_steps")},
        "converted_own_classifier": float(own.mean()),
        "converted_independent_cnn": float((judged == 4).mean()),
        "independent_cnn_reads_reconstruction_as_9": float((judged_reconstruction == 9).mean()),
        "independent_cnn_counterfactual_classes": np.bincount(judged, minlength=10).tolist(),
        "steps_median": float(np.median(result.steps)),
        "steps_quartiles": [float(q) for q in np.percentile(result.steps, [25, 75])],
        "steps_range": [int(result.steps.min()), int(result.steps.max())],
        "first_crossing_median": float(np.median(result.crossed_at[result.crossed_at >= 0]))
        if (result.crossed_at >= 0).any() else None,
        "mean_abs_change": float(result.change.mean()),
        "seconds_per_rationale_batched": result.seconds / len(picked),
    }


def pneumonia(run_dir: Path, out: Path, max_steps: int, steps: int = 2000) -> dict:
    run = load_run(run_dir)
    encode, decode = pair_of(run.model)
    train, test = medmnist(PNEUMONIA, "train"), medmnist(PNEUMONIA, "test")
    codes, test_codes = encode_all(encode, train), encode_all(encode, test)
    labels = torch.as_tensor(train.labels)
    curves, classifiers = {}, {}
    for kind in ("linear", "mlp", "resmlp"):
        model = train_classifier(latent_classifier(kind, run.model.latent_dim, 2), codes, labels, steps=steps)
        with torch.no_grad():
            curves[f"latent {kind}"] = roc(probabilities(model(test_codes))[:, 1].numpy(), test.labels)
        classifiers[kind] = model
    cnn = ConvEncoder(1, 28, 2)
    pixels = train.load(range(len(train))).images
    train_classifier(cnn, pixels, labels, steps=steps, batch_size=64)
    with torch.no_grad():
        scores = cnn(test.load(range(len(test))).images).softmax(1)[:, 1].numpy()
    curves["end-to-end CNN (pixels)"] = roc(scores, test.labels)
    roc_figure(curves, "PneumoniaMNIST test").savefig(out / "pneumonia_roc.png", dpi=120)
    classifier = classifiers["linear"]
    sick = np.flatnonzero(test.labels == 1)
    x = test.load(sick).images
    flagged = sick[classifier(encode(x)).argmax(1).numpy() == 1][:50]
    _, result = LatentRationale(classifier, run.model, max_steps=max_steps).attribute(
        test.load(flagged).images, target=1, towards=0, return_result=True)
    rationale_figure(result, rows=range(6), class_names=test.class_names).savefig(
        out / "pneumonia_to_normal.png", dpi=110)
    maps = attributions(EndToEnd(encode, classifier), test.load(flagged[:4]).images, [1] * 4)
    comparison_figure(result, {k: v for k, v in maps.items()}, rows=range(4)).savefig(
        out / "pneumonia_baselines.png", dpi=110)
    return {
        "generator": run_dir.name, "train_steps_each_classifier": steps,
        "auc": {name: c.auc for name, c in curves.items()},
        "rationales": int(len(flagged)), "turned_normal_rate": float((result.final_class == 0).mean()),
        "status": {s: int((result.status == s).sum()) for s in ("reached", "already", "max_steps")},
        "steps_median": float(np.median(result.steps)), "mean_abs_change": float(result.change.mean()),
        "seconds_per_rationale_batched": result.seconds / len(flagged),
    }


def blob_regions(run_dir: Path, out: Path, max_steps: int, n: int = 40) -> dict:
    run = load_run(run_dir)
    encode, decode = pair_of(run.model)
    train_set, test_set = run.splits()
    codes, test_codes = encode_all(encode, train_set), encode_all(encode, test_set)
    clean = train_classifier(latent_classifier("mlp", run.model.latent_dim, 2), codes,
                             torch.as_tensor(train_set.labels), steps=2000)
    test_labels = torch.as_tensor(test_set.labels)
    with torch.no_grad():
        clean_accuracy = float((clean(test_codes).argmax(1) == test_labels).float().mean())
    contaminated, contaminated_accuracy = contaminated_classifier(
        latent_classifier("mlp", run.model.latent_dim, 2), test_codes, test_labels)
    present = np.flatnonzero((test_set.labels == 1) & (clean(test_codes).argmax(1).numpy() == 1)
                             & (contaminated(test_codes).argmax(1).numpy() == 1))[:n]
    x = test_set.load(present).images
    region = blob_region(test_set.size)
    _, clean_result = LatentRationale(clean, run.model, max_steps=max_steps).attribute(
        x, target=1, towards=0, return_result=True)
    _, dirty_result = LatentRationale(contaminated, run.model, max_steps=max_steps).attribute(
        x, target=1, towards=0, return_result=True)
    maps = attributions(EndToEnd(encode, clean), x, [1] * len(x))
    comparison_figure(clean_result, maps, rows=range(4)).savefig(out / "blobs_baselines.png", dpi=110)
    rationale_figure(clean_result, rows=range(4), class_names=test_set.class_names).savefig(
        out / "blobs_rationale.png", dpi=110)
    sanity = compare_maps(clean_result.difference, dirty_result.difference, region)
    mass = {"rationale": float(np.nanmean(region_mass(clean_result.difference, region)))}
    mass |= {name: float(np.nanmean(region_mass(m, region))) for name, m in maps.items()}
    return {
        "generator": run_dir.name, "images": int(len(present)), "region_pixel_share": float(region.mean()),
        "clean_classifier_test_accuracy": clean_accuracy,
        "contaminated_classifier_accuracy_on_test": contaminated_accuracy,
        "region_mass_mean": mass, "clean_cutoff_reached_rate": float(clean_result.reached.mean()),
        "contaminated_cutoff_reached_rate": float(dirty_result.reached.mean()),
        "clean_vs_contaminated": sanity.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--nines", type=int, default=200)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--parts", default="mnist,pneumonia,blobs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    results, began = {}, time.perf_counter()
    path = args.out / "proof.json"
    if path.exists():
        results = json.loads(path.read_text())
    for part in args.parts.split(","):
        started = time.perf_counter()
        if part == "mnist":
            judge, judge_accuracy = independent_judge()
            results["mnist_9to4"] = [
                mnist_nine_to_four(args.runs / name, args.out, args.nines, args.max_steps, judge,
                                   judge_accuracy, method)
                for name in ("mnist_vae", "mnist_inversion") if (args.runs / name).exists()
                for method in ("margin", "paper")]
        elif part == "pneumonia":
            results["pneumonia"] = pneumonia(args.runs / "pneumonia_vae", args.out, args.max_steps)
        elif part == "blobs":
            results["blobs"] = blob_regions(args.runs / "blobs_vae", args.out, args.max_steps)
        print(part, f"{time.perf_counter() - started:.0f} s", flush=True)
        path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2), f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
