"""Explaining a trained run: encode its images, fit a latent classifier on its training split's labels
(kept in the run directory), and write the rationale, the baselines beside it and their numbers for
one image.
This is what ``untwine explain RUN --image PATH_OR_INDEX [--target CLASS]`` runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image, UnidentifiedImageError

from untwine.explain.baselines import attributions, comparison_figure
from untwine.explain.classifiers import EndToEnd, Kind, train_classifier
from untwine.explain.rationale import pair_of, rationale, rationale_figure
from untwine.explain.run_classifier import (
    CLASSIFIER_CONFIG,
    CLASSIFIER_WEIGHTS,
    ClassifierConfig,
    build_classifier,
    find_classifier,
    load_classifier,
    load_classifier_config,
)
from untwine.train.checkpoint import atomic_write_text, save_weights


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


def load_image(spec: str, dataset) -> tuple[torch.Tensor, str]:
    """An image [1, C, S, S] in [0, 1]: an index into ``dataset`` or a picture file resized to S."""
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if not 0 <= index < len(dataset):
            raise IndexError(f"--image {index} is outside the test split (0..{len(dataset) - 1})")
        return dataset.load([index]).images, f"test{index}"
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--image {spec}: neither an index nor an image file")
    mode = "L" if dataset.channels == 1 else "RGB"
    try:
        picture = Image.open(path).convert(mode).resize((dataset.size, dataset.size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError) as err:  # a text file, a truncated PNG, ...
        raise ValueError(f"--image {spec}: not an image file Pillow can read ({err})") from err
    array = np.asarray(picture, dtype=np.float32).reshape(dataset.size, dataset.size, -1) / 255
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous(), path.stem


def explain(run, image: str, target: int | None = None, out: Path | None = None, **options) -> dict:
    """Rationale and baselines for one image of a run; writes two PNGs and a JSON, returns the JSON."""
    out = Path(out) if out is not None else run.dir / "explain"
    _, test_set = run.splits()
    x, name = load_image(image, test_set)
    classifier = classifier_for(run)
    encode, decode = pair_of(run.model)
    result = rationale(encode, decode, classifier, x, target=target, **options)
    source = int(result.source[0])
    maps = attributions(EndToEnd(encode, classifier), x, [source])
    names = test_set.class_names
    out.mkdir(parents=True, exist_ok=True)
    figure_path, baseline_path = out / f"rationale_{name}.png", out / f"baselines_{name}.png"
    rationale_figure(result, class_names=names).savefig(figure_path, dpi=120)
    comparison_figure(result, maps).savefig(baseline_path, dpi=120)
    numbers = {
        "image": image, "source_class": source, "target_class": int(result.target[0]),
        "initial_probabilities": result.initial[0].tolist(), "final_probabilities": result.final[0].tolist(),
        "final_class": int(result.final_class[0]), "reached_cutoff": bool(result.reached[0]),
        "steps": int(result.steps[0]), "seconds": round(result.seconds, 3),
        "difference_abs_mean": float(np.abs(result.difference).mean()),
        "figures": [str(figure_path), str(baseline_path)], "options": options,
    }
    atomic_write_text(out / f"explain_{name}.json", json.dumps(numbers, indent=2))
    return numbers
