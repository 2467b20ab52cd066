"""``untwine init FOLDER [--csv FILE]``: look at a folder of images (and its CSV), say what is there,
and write a starter config whose every key carries a comment saying why it was chosen.

The config is checked the way ``untwine train`` checks it (every section validated, the dataset
built once through the ``folder`` source, which also fills the disk cache training then reads), so
what init writes trains as written.
"""

from __future__ import annotations

import csv as csvlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from io import StringIO
from os import PathLike
from pathlib import Path

import yaml

from untwine.config import RunConfig
from untwine.core.io import atomic_write_text
from untwine.data.errors import DataError
from untwine.data.inspect import ImageSurvey, TableSurvey, by_count, survey_images, survey_table
from untwine.experiment import validate_experiment
from untwine.run import build_dataset

SIZES = (64, 32, 28)  # what conv64 takes (nn/conv64.py SUPPORTED_SIZES), largest first
PASSES = 300  # starter budget: about this many passes over the training images, within STEP_RANGE
STEP_RANGE = (2000, 50000)
MIN_IMAGES = 10


@dataclass
class Starter:
    """What ``init`` found and wrote."""

    images: ImageSurvey
    table: TableSurvey | None
    config_path: Path
    csv_written: Path | None
    config: RunConfig
    text: str


def _name(folder: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.resolve().name).strip("-") or "images"


def _write_listing(images: ImageSurvey, path: Path) -> None:
    """A CSV of the readable images (``image``), with ``label`` from class folders when they exist."""
    classes = images.class_folders()
    out = StringIO()
    writer = csvlib.writer(out, lineterminator="\n")
    writer.writerow(["image", "label"] if classes else ["image"])
    for name in images.files:
        writer.writerow([name, classes[name]] if classes else [name])
    atomic_write_text(path, out.getvalue())


def _check_listed(table: TableSurvey, folder: Path) -> None:
    """The folder source stops at the first row naming no readable image; say so now, naming it."""
    if table.listed_corrupt:
        row, name = table.listed_corrupt[0]
        raise DataError(f"{table.csv}, row {row}: image {name!r} cannot be decoded "
                        f"({len(table.listed_corrupt)} listed image(s) unreadable); fix or remove "
                        "the file and its row")
    if table.listed_missing:
        row, value = table.listed_missing[0]
        raise DataError(f"{table.csv}, row {row}: image {value!r} not found in {folder} "
                        f"({len(table.listed_missing)} row(s) name no image file there)")


def _size(images: ImageSurvey) -> tuple[int, str]:
    side = images.smallest_side
    (w, h), count = images.sizes.most_common(1)[0]
    shape = (f"{w}x{h}" if len(images.sizes) == 1 else
             f"{len(images.sizes)} sizes, most often {w}x{h} ({count})")
    for size in SIZES:
        if side >= size:
            aspect = "" if images.square else "; not square: resized without keeping the aspect ratio"
            why = ("conv64's own size (the disentanglement papers' 64x64)" if size == 64 else
                   f"the largest size conv64 takes that is not above the smallest side ({side} px)")
            return size, f"images are {shape}: {why}, Lanczos{aspect}"
    raise DataError(f"{images.folder}: the smallest image side is {side} px; conv64 takes 28, 32 or 64 "
                    "px images: upscale them first")


def yaml_flow(value: str | list[str]) -> str:
    """A YAML flow scalar or list: plain when YAML would read it back as the same string."""
    if isinstance(value, list):
        return "[" + ", ".join(yaml_flow(v) for v in value) + "]"
    plain = re.fullmatch(r"[A-Za-z_/.~][A-Za-z0-9 _./~-]*", value) and value == value.strip()
    return value if plain and yaml.safe_load(value) == value else json.dumps(value)


def _comment(lines: list[tuple[str, str]]) -> str:
    width = max(len(key) for key, _ in lines) + 2
    return "\n".join(f"{key:<{width}}# {why}" if why else key for key, why in lines) + "\n"


def starter_text(images: ImageSurvey, table: TableSurvey | None, csv_path: Path, name: str,
                 output: str, image_column: str, label_column: str | list[str] | None,
                 config_name: str = "THIS.yaml") -> str:
    """The commented YAML (every key with why it was chosen)."""
    size, size_why = _size(images)
    n = len(images.files) if table is None else len(table.rows)
    if n < MIN_IMAGES:
        where = images.folder if table is None else table.csv
        raise DataError(f"{where}: {n} image(s); a training and a held-out split need at least {MIN_IMAGES}")
    test_fraction = 0.1 if n >= 50 else 0.2
    held_out = max(1, round(test_fraction * n))
    n_train = n - held_out
    batch = min(64, n_train)
    steps = min(max(math.ceil(PASSES * n_train / batch / 500) * 500, STEP_RANGE[0]), STEP_RANGE[1])
    channels = images.channels
    modes = ", ".join(f"{mode} {k}" for mode, k in images.modes.most_common())
    group = table.group.column if table is not None else None
    time = table.time.column if table is not None else None
    split_why = ("whole subjects go to one side (group_column)" if group else
                 "each class in the same proportion" if label_column else "drawn at random")
    lines: list[tuple[str, str]] = [
        (f"name: {yaml_flow(name)}", "the run directory is OUTPUT/NAME; named after the image folder"),
        ("seed: 0", "seeds: [0, 1, 2] trains one run per seed (untwine run): scores vary with the seed"),
        (f"output: {yaml_flow(output)}", "folder that holds the run directories"),
        ("data:", ""),
        ("  source: folder", "images listed in a CSV (untwine/data/folder.py)"),
        ("  options:", ""),
        (f"    root: {yaml_flow(str(images.folder.resolve()))}",
         "the folder init read (absolute: works from anywhere)"),
        (f"    csv: {yaml_flow(str(csv_path.resolve()))}",
         "the CSV you gave" if table is not None else "written by init: every readable image"),
        (f"    image_column: {yaml_flow(image_column)}",
         table.image.reason if table is not None else "file names relative to root"),
    ]
    if label_column is not None:
        why = (table.label.reason if table is not None else "the name of the folder each image is in")
        lines.append((f"    label_column: {yaml_flow(label_column)}",
                      why + "; scored by the lesions protocol"))
    else:
        lines.append(("    # label_column: null", "no class column found: training needs none; "
                      "add one to get ACC and NMI"))
    if group:
        lines.append((f"    group_column: {yaml_flow(group)}",
                      table.group.reason + "; the test split keeps subjects whole"))
    if time:
        lines.append((f"    time_column: {yaml_flow(time)}", table.time.reason))
    lines += [
        (f"    size: {size}", size_why),
        (f"    channels: {channels}", f"colour modes: {modes}" + (" (all grayscale)" if channels == 1 else
                                                                  "; gray and alpha become RGB")),
        (f"  test_fraction: {test_fraction}", f"{held_out} of {n} images held out for PSNR; {split_why}"),
    ]
    if group:
        lines.append(("  # pairs: {by: groups}", "with model adagvae: weak supervision from two visits "
                      "of one subject (tutorial 001)"))
    likelihood, likelihood_why = (("bernoulli", "every pixel is 0 or 255: binary images") if images.binary
                                  else ("gaussian", "natural images: pixel-wise squared error (paper 000)"))
    lines += [
        ("model:", ""),
        ("  name: betatcvae", "beta-TCVAE (Chen et al. 2018): paper 000's baseline for dermoscopy, "
         "penalizes only the total correlation"),
        ("  latent_dim: 10", "few dimensions are quick to read in a traversal; paper 000 used 32"),
        ("  architecture: conv64", "4 conv / 4 deconv layers (Burgess/Locatello); resnet is paper 000's"),
        (f"  likelihood: {likelihood}", likelihood_why),
        ("  beta: 6", "weight of the total correlation, as paper 000 and Chen et al. chose"),
        ("train:", ""),
        (f"  steps: {steps}", f"about {steps * batch // max(n_train, 1)} passes over {n_train} training "
         "images: a first look, not a paper's budget (100,000)"),
        (f"  batch_size: {batch}", "64, the papers' batch, or every training image if fewer"),
        ("  lr: 0.0001", "Adam's learning rate in the disentanglement papers"),
        ("  device: auto", "a GPU when there is one, else the CPU"),
        ("  augment: []", "add [hflip, vflip, rot90] when a flipped or turned image is as plausible "
         "(dermoscopy, histology; not chest X-rays)"),
        ("evaluate:", "what `untwine run` scores after training"),
        ("  - protocol: lesions", "works on any labelled image set: PSNR, and with labels MIG_p, "
         "NMI and ACC (metrics reference)"),
        ("    split: all", "encode every image, as the papers do"),
    ]
    header = (f"# Starter config written by `untwine init {images.folder}`. Every key says why it was\n"
              f"# chosen; change any of them. Train: untwine train {config_name}   "
              f"train and score: untwine run {config_name}\n")
    return header + _comment(lines)


def init_folder(folder: str | PathLike, csv: str | PathLike | None = None, out: str | PathLike | None = None,
                *, output: str = "runs", image_column: str | None = None, label_column: str | None = None,
                group_column: str | None = None, time_column: str | None = None, force: bool = False,
                progress: bool = False) -> Starter:
    """Survey ``folder`` (and ``csv``), write the starter config to ``out`` (default ./NAME.yaml;
    without a CSV also NAME-images.csv beside it), check it as ``untwine train`` would, and return
    what was found and written. A DataError (one line, naming the file, row or column) when the
    folder or CSV cannot make a training set; refuses to overwrite ``out`` unless ``force``."""
    images = survey_images(folder, progress=progress)
    name = _name(images.folder)
    config_path = Path(out) if out is not None else Path(f"{name}.yaml")
    if config_path.exists() and not force:
        raise DataError(f"{config_path} exists; choose another with --out or pass --force to replace it")
    table = None
    csv_written = None
    if csv is not None:
        table = survey_table(csv, images, image_column=image_column, label_column=label_column,
                             group_column=group_column, time_column=time_column)
        _check_listed(table, images.folder)
        csv_path, column, labels = table.csv, table.image.column, table.label.column
    else:
        if any(c is not None for c in (image_column, label_column, group_column, time_column)):
            raise DataError("--image-column, --label-column, --group-column and --time-column name "
                            "columns of a CSV: give it with --csv")
        csv_path = config_path.with_name(f"{config_path.stem}-images.csv")
        column, labels = "image", ("label" if images.class_folders() else None)
    text = starter_text(images, table, csv_path, name, output, column, labels, config_path.name)
    config = validate_experiment(yaml.safe_load(text), origin=str(config_path))
    if table is None:
        _write_listing(images, csv_path)
        csv_written = csv_path
    build_dataset(config.data)  # decodes every listed image as training will (and caches them)
    atomic_write_text(config_path, text)
    return Starter(images, table, config_path, csv_written, config, text)


def _share(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return ", ".join(f"{name} {k} ({k / total:.0%})" for name, k in counts.items())


def describe(starter: Starter) -> str:
    """What a new user reads after ``untwine init``."""
    images, table = starter.images, starter.table
    sizes = ", ".join(f"{w}x{h} ({k})" for (w, h), k in images.sizes.most_common(5))
    if len(images.sizes) > 5:
        sizes += f", ... {len(images.sizes)} sizes in all"
    modes = ", ".join(f"{mode} ({k})" for mode, k in images.modes.most_common())
    lines = [f"images in {images.folder}: {len(images.files)} readable, {len(images.corrupt)} unreadable",
             f"  sizes     {sizes}", f"  modes     {modes} -> {images.channels} channel(s)"]
    for name, why in images.corrupt[:5]:
        lines.append(f"  unreadable {name}: {why}")
    if len(images.corrupt) > 5:
        lines.append(f"  ... and {len(images.corrupt) - 5} more unreadable")
    if table is not None:
        lines.append(f"csv {table.csv}: {len(table.rows)} rows, columns {', '.join(table.columns)}")
        for role, guess in (("image", table.image), ("label", table.label), ("group", table.group),
                            ("time", table.time)):
            column = ",".join(guess.column) if isinstance(guess.column, list) else (guess.column or "-")
            lines.append(f"  {role:<6} column  {column:<14} {guess.reason}")
        unlisted = len(images.files) - (len(table.rows) - len(table.listed_missing))
        if unlisted > 0:
            lines.append(f"  {unlisted} readable image(s) in the folder are not in the CSV (left out)")
        if table.group.column is not None:
            sizes = ", ".join(f"{k} with {n} image(s)" for n, k in sorted(table.group_sizes().items()))
            lines.append(f"  subjects  {sizes}")
        counts = table.class_counts()
    else:
        classes = images.class_folders()
        counts = {} if classes is None else by_count(Counter(classes.values()))
        lines.append("no CSV given: " + ("labels from the class folders" if counts else
                                         "no labels (images are not in class folders)"))
    if counts:
        largest, smallest = max(counts.values()), min(counts.values())
        lines.append(f"  classes   {len(counts)}: {_share(counts)}")
        lines.append(f"  balance   largest/smallest {largest / smallest:.1f}; always guessing the largest "
                     f"class scores ACC {largest / sum(counts.values()):.2f}")
    if starter.csv_written is not None:
        lines.append(f"image list: {starter.csv_written.resolve()}")
    lines += [f"config: {starter.config_path.resolve()}",
              f"next:   untwine train {starter.config_path}   "
              f"(or untwine run {starter.config_path} to train and score)"]
    return "\n".join(lines)
