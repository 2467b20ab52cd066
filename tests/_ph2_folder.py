"""The shipped PH2 images exported as a user would have them: PNG files in a folder and a CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

PH2 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ph2" / "ph2_128.npz"
DIAGNOSES = ("common nevus", "atypical nevus", "melanoma")


def export_ph2(out: Path, count: int | None = None) -> tuple[Path, Path]:
    """(folder, csv): ``images/IMDxxx.png`` for the first ``count`` PH2 images (all 200 by default)
    and ``ph2.csv`` with columns image, diagnosis (names), asymmetry. Written once per folder."""
    folder, table = out / "images", out / "ph2.csv"
    if table.exists():
        return folder, table
    folder.mkdir(parents=True, exist_ok=True)
    with np.load(PH2) as archive:
        images, ids = archive["images"], archive["ids"]
        diagnosis, asymmetry = archive["diagnosis"], archive["asymmetry"]
    rows = range(len(images) if count is None else count)
    for i in rows:
        Image.fromarray(images[i]).save(folder / f"{ids[i]}.png")
    with open(table, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["image", "diagnosis", "asymmetry"])
        writer.writerows([f"{ids[i]}.png", DIAGNOSES[diagnosis[i]], int(asymmetry[i])] for i in rows)
    return folder, table
