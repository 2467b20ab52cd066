"""The report's pictures: training curves of every logged term, rationale rows, and PNG data URIs.

Every figure is a matplotlib ``Figure`` (Agg, no pyplot state) or a PIL image, returned to the caller
and embedded into the page as a base64 data URI, so the report is one file that opens offline.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

Records = Sequence[Mapping[str, float]]


def png_bytes(picture: Figure | Image.Image, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    if isinstance(picture, Figure):
        picture.savefig(buffer, format="png", dpi=dpi)
    else:
        picture.save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(picture: Figure | Image.Image | bytes | Path) -> str:
    """``data:image/png;base64,...`` of a figure, an image, PNG bytes or a PNG file."""
    if isinstance(picture, Path):
        raw = picture.read_bytes()
    elif isinstance(picture, bytes):
        raw = picture
    else:
        raw = png_bytes(picture)
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def loss_terms(records: Records) -> list[str]:
    """Every logged name but the step, in the order first logged."""
    return list(dict.fromkeys(k for record in records for k in record if k != "step"))


def training_curves(runs: Mapping[str, Records], columns: int = 3) -> Figure | None:
    """One panel per logged term, one line per run (x: training step). None when nothing was logged.

    A term whose values are all positive and span more than two decades is drawn on a log axis, so a
    reconstruction term falling from thousands to tens stays readable beside a KL of a few nats."""
    terms = list(dict.fromkeys(t for records in runs.values() for t in loss_terms(records)))
    if not terms:
        return None
    columns = min(columns, len(terms))
    rows = math.ceil(len(terms) / columns)
    fig = Figure(figsize=(3.6 * columns, 2.5 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for ax, term in zip(axes, terms, strict=False):
        values_seen = []
        for label, records in runs.items():
            points = [(r["step"], r[term]) for r in records if term in r and "step" in r]
            if not points:
                continue
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, label=label, linewidth=1.2)
            values_seen.extend(values)
        finite = np.asarray([v for v in values_seen if np.isfinite(v)])
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
            ax.set_yscale("log")
        ax.set_title(term, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(terms):]:
        ax.set_visible(False)
    if len(runs) > 1:
        axes[0].legend(fontsize=7)
    return fig
