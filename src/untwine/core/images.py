"""Image grids and PNG files: what a training run's figure, a traversal and the explorer all draw."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from untwine.core.io import atomic_write


def image_grid(
    images: torch.Tensor, row_labels: Sequence[str] = (), scale: int = 1, pad: int = 2
) -> Image.Image:
    """Tile [rows, cols, C, H, W] images in [0, 1] into one picture, with a label left of each row."""
    rows, cols, channels, height, width = images.shape
    array = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    array = array.permute(0, 3, 1, 4, 2).numpy()  # rows, H, cols, W, C
    canvas = np.full((rows, height + pad, cols, width + pad, channels), 255, np.uint8)
    canvas[:, :height, :, :width] = array
    tiled = canvas.reshape(rows * (height + pad), cols * (width + pad), channels)
    picture = Image.fromarray(tiled.squeeze(-1) if channels == 1 else tiled).convert("RGB")
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    if not row_labels:
        return picture
    margin = 90
    labelled = Image.new("RGB", (picture.width + margin, picture.height), "white")
    labelled.paste(picture, (margin, 0))
    draw = ImageDraw.Draw(labelled)
    row_height = picture.height / rows
    for row, label in enumerate(row_labels):
        draw.text((4, row * row_height + row_height / 2 - 6), label, fill="black")
    return labelled


def save_image(picture: Image.Image, path: Path) -> Path:
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))
    return path
