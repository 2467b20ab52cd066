"""Explaining a trained run: encode its images, fit a latent classifier on its training split's labels
(kept in the run directory), and write the rationales of many images (arrays and one JSON record
each), the baselines beside the first few, and the figures.
This is what ``untwine explain RUN --images SPEC [--class C] [--target T] --out DIR`` runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image, UnidentifiedImageError

from untwine.explain.baselines import attributions, comparison_figure
from untwine.explain.classifiers import EndToEnd, Kind, train_classifier
from untwine.explain.rationale import STATUSES, LatentRationale, pair_of, rationale_figure
from untwine.explain.run_classifier import (
    CLASSIFIER_CONFIG,
    CLASSIFIER_WEIGHTS,
    ClassifierConfig,
    build_classifier,
    find_classifier,
    load_classifier,
    load_classifier_config,
)
from untwine.train.checkpoint import atomic_write, atomic_write_text, save_weights


@torch.no_grad()
def encode_all(encode, dataset, batch_size: int = 512) -> torch.Tensor:
    """Codes [N, D] of every image of ``dataset``."""
    return torch.cat([
        encode(dataset.load(range(s, min(s + batch_size, len(dataset)))).images)
        for s in range(0, len(dataset), batch_size)
    ])


def classifier_for(run, kind: Kind = "linear", steps: int = 2000, seed: int = 0) -> torch.nn.Module:
    """The run's latent classifier of ``kind``: trained on its training split's codes and labels and
    kept as RUN/classifier.safetensors + classifier.yaml, where ``untwine report`` and ``untwine serve``
    find it (explain/run_classifier.py). A kept classifier of another kind or latent size is replaced."""
    train_set, _ = run.splits()
    if train_set.labels is None:
        raise ValueError(f"{run.dir}: the run's data has no labels to train a latent classifier on")
    encode, _ = pair_of(run.model)
    count = len(train_set.class_names) or int(train_set.labels.max()) + 1
    classes = list(train_set.class_names) or [str(c) for c in range(count)]
    config = ClassifierConfig(kind=kind, classes=classes, latent_dim=run.model.latent_dim)
    if find_classifier(run.dir) is not None and load_classifier_config(run.dir) == config:
        return load_classifier(run.dir, run.model.latent_dim).module
    model = build_classifier(config)
    codes = encode_all(encode, train_set)
    train_classifier(model, codes, torch.as_tensor(train_set.labels), steps=steps, seed=seed)
    save_weights(model, run.dir / CLASSIFIER_WEIGHTS)
    atomic_write_text(run.dir / CLASSIFIER_CONFIG, yaml.safe_dump(config.model_dump(), sort_keys=False))
    return model.eval()


def _indices(spec: str, size: int) -> np.ndarray | None:
    """Test-split indices named by ``spec`` ("7", "0:200", "0:200:5"), or None if it names none."""
    parts = spec.split(":")
    if not all(p.strip().lstrip("-").isdigit() or p.strip() == "" for p in parts) or len(parts) > 3:
        return None
    if len(parts) == 1:
        index = int(spec)
        if not 0 <= index < size:
            raise IndexError(f"--images {index} is outside the test split (0..{size - 1})")
        return np.array([index])
    bounds = [int(p) if p.strip() else None for p in parts]
    picked = np.arange(size)[slice(*bounds)]
    if len(picked) == 0:
        raise IndexError(f"--images {spec} selects no image of the test split (0..{size - 1})")
    return picked


def _picture(path: Path, dataset) -> torch.Tensor:
    """One picture file resized to the dataset's size: [1, C, S, S] in [0, 1]."""
    mode = "L" if dataset.channels == 1 else "RGB"
    try:
        picture = Image.open(path).convert(mode).resize((dataset.size, dataset.size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError) as err:  # a text file, a truncated PNG, ...
        raise ValueError(f"--images {path}: not an image file Pillow can read ({err})") from err
    array = np.asarray(picture, dtype=np.float32).reshape(dataset.size, dataset.size, -1) / 255
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


@dataclass
class Selection:
    images: torch.Tensor  # [N, C, H, W] in [0, 1]
    names: list[str]  # per image: "test17" or a file's path
    indices: list[int | None]  # per image: the test-split index (None for a picture file)
    labels: np.ndarray | None  # the test split's labels of the images, where known


def load_images(spec: str, dataset, only_class: int | None = None) -> Selection:
    """The images ``spec`` names: a test-split index ("7"), a range ("0:200"), a picture file, or a
    text file of indices (one per line or comma separated). ``only_class`` keeps the test images of
    that label."""
    picked = _indices(spec, len(dataset))
    path = Path(spec)
    if picked is None:
        if not path.is_file():
            raise FileNotFoundError(f"--images {spec}: neither an index, a range like 0:200, nor a file")
        if path.suffix.lower() in (".txt", ".csv"):
            words = path.read_text().replace(",", " ").split()
            if not words or not all(w.isdigit() for w in words):
                raise ValueError(f"--images {spec}: expected test-split indices (whole numbers), "
                                 "one per line")
            picked = np.array([int(w) for w in words])
            if picked.max() >= len(dataset):
                raise IndexError(f"--images {spec}: index {picked.max()} is outside the test split "
                                 f"(0..{len(dataset) - 1})")
        else:
            return Selection(_picture(path, dataset), [str(path)], [None], None)
    labels = None if dataset.labels is None else np.asarray(dataset.labels)[picked]
    if only_class is not None and labels is not None:
        keep = labels == only_class
        if not keep.any():
            raise ValueError(f"--images {spec} holds no test image of class {only_class}")
        picked, labels = picked[keep], labels[keep]
    names = [f"test{i}" for i in picked]
    return Selection(dataset.load(picked).images, names, [int(i) for i in picked], labels)


def explain(run, images: str, source: int | None = None, target: int | None = None, out: Path | None = None,
            baselines: int = 6, **options) -> dict:
    """Rationales (and, for the first ``baselines`` images, the Captum baselines beside them) of the
    images ``images`` names (``load_images``), moved away from class ``source`` (default: each
    image's predicted class; with it only test images of that label are taken) towards ``target``.
    Writes OUT/rationales.npz (inputs, reconstructions, counterfactuals, attributions: float32
    [N, C, H, W], images in [0, 1], attributions the signed rationale g(z_0) - g(z) in the same
    intensity units), OUT/rationales.json (one record per image) and two figures; returns the JSON."""
    out = Path(out) if out is not None else run.dir / "explain"
    _, test_set = run.splits()
    chosen = load_images(images, test_set, source)
    classifier = classifier_for(run)
    explainer = LatentRationale(classifier, run.model, **options)
    maps, result = explainer.attribute(chosen.images, target=source, towards=target, return_result=True)
    names = list(test_set.class_names)
    out.mkdir(parents=True, exist_ok=True)
    figure_path, baseline_path = out / "rationales.png", out / "baselines.png"
    shown = range(min(len(chosen.names), 8))
    rationale_figure(result, rows=shown, class_names=names).savefig(figure_path, dpi=110)
    figures = [str(figure_path)]
    if baselines > 0:
        first = slice(0, min(baselines, len(chosen.names)))
        encode, _ = pair_of(run.model)
        found = attributions(EndToEnd(encode, classifier), chosen.images[first], result.source[first].clip(0),
                             fill=float(test_set.load(range(min(len(test_set), 512))).images.mean()))
        comparison_figure(result, found, rows=range(first.stop)).savefig(baseline_path, dpi=110)
        figures.append(str(baseline_path))
    arrays = {"inputs": result.original, "reconstructions": result.reconstruction,
              "counterfactuals": result.counterfactual, "attributions": maps.numpy()}

    def write_arrays(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.savez would append .npz to the temporary name
            np.savez_compressed(handle, **{k: v.astype(np.float32) for k, v in arrays.items()})

    atomic_write(out / "rationales.npz", write_arrays)
    records = [{
        "image": chosen.names[i], "index": chosen.indices[i],
        "label": None if chosen.labels is None else int(chosen.labels[i]),
        "source_class": int(result.source[i]), "target_class": int(result.target[i]),
        "final_class": int(result.final_class[i]), "status": str(result.status[i]),
        "reached": bool(result.reached[i]), "steps": int(result.steps[i]),
        "crossed_at": int(result.crossed_at[i]),
        "probabilities_before": result.initial[i].round(6).tolist(),
        "probabilities_after": result.final[i].round(6).tolist(),
        "mean_absolute_change": float(result.change[i]), "summary": result.describe(i, names),
    } for i in range(len(chosen.names))]
    counts = {status: int((result.status == status).sum()) for status in STATUSES}
    numbers = {"run": str(run.dir), "images": images, "class_names": names, "counts": counts,
               "steps_median": float(np.median(result.steps)), "seconds": round(result.seconds, 3),
               "options": options, "arrays": str(out / "rationales.npz"), "figures": figures,
               "rationales": records}
    atomic_write_text(out / "rationales.json", json.dumps(numbers, indent=2))
    return numbers
