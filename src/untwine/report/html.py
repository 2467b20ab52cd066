"""``untwine report RUN [RUN ...]``: one self-contained HTML page a person reads.

The page holds, for the runs given: a table of their scores side by side (every score in eval.json)
and of how training went, the training curves of every logged term (one panel per term, one line per
run), and per run its config, its figures (traversal grids, the MI matrix, anything else in
figures/) and, when the run has a latent classifier, rationales. Every picture is a PNG data URI and
the style sheet is inline: the file opens offline, on any machine, and references nothing else.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from untwine.core.version import __version__
from untwine.explain.rationale import rationale_figure
from untwine.explain.run_classifier import (
    RationaleFn,
    compute_rationale,
    find_classifier,
    load_classifier,
)
from untwine.protocols import read_evaluation
from untwine.report.figures import data_uri, training_curves
from untwine.run import CONFIG_FILE, SUMMARY_FILE, load_run
from untwine.table import RunScores, summarize
from untwine.train.logging import read_metrics

REPORT_FILE = "report.html"
RATIONALE_IMAGES = 4

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;
padding:1rem 1.5rem;color:#1d1d1f;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.2rem;border-bottom:1px solid #ddd;
padding-bottom:.2rem;margin-top:2rem} h3{font-size:1rem;margin-bottom:.3rem}
.meta{color:#666;font-size:.85rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left} thead th{background:#f4f4f6}
pre{background:#f7f7f9;border:1px solid #e4e4e8;padding:.6rem;font-size:.8rem;overflow-x:auto;
max-height:24rem}
figure{margin:.6rem 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;image-rendering:pixelated;border:1px solid #eee}
figcaption{font-size:.8rem;color:#555}
details summary{cursor:pointer;font-weight:600}
.note{background:#fff8e1;border-left:3px solid #f0b400;padding:.4rem .7rem;font-size:.85rem}
"""


@dataclass
class RunPage:
    """What the page shows of one run directory."""

    dir: Path
    label: str
    config_text: str
    summary: dict[str, Any]
    records: list[dict[str, float]]
    evaluation: dict[str, Any]
    figures: list[Path]
    rationale: dict[str, Any] = field(default_factory=dict)  # classes, figure (data URI), steps, reached


def _label(run_dir: Path, config_text: str) -> str:
    import yaml

    name = (yaml.safe_load(config_text) or {}).get("name") if config_text else None
    return name if isinstance(name, str) and name else run_dir.name


def _figure_order(path: Path) -> tuple[int, str]:
    # traversals first, then the MI matrix, then everything else by name
    order = {"traversal": 0, "mi_matrix": 1}
    return next((v for k, v in order.items() if path.stem.startswith(k)), 2), path.name


def read_run(run_dir: Path | str, rationale: RationaleFn | None = None) -> RunPage:
    """Everything the page needs from one run directory; a folder that is not a run is an error."""
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory ({CONFIG_FILE} missing)")
    config_text = config_path.read_text()
    summary_path = run_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    figures = sorted((run_dir / "figures").glob("*.png"), key=_figure_order)
    page = RunPage(run_dir, _label(run_dir, config_text), config_text, summary, read_metrics(run_dir),
                   read_evaluation(run_dir), figures)
    if find_classifier(run_dir) is not None:
        page.rationale = _rationales(run_dir, rationale)
    return page


def _rationales(run_dir: Path, rationale: RationaleFn | None) -> dict[str, Any]:
    """Rationales of the first held-out images, away from the class the classifier predicts."""
    run = load_run(run_dir)
    classifier = load_classifier(run_dir, run.model.latent_dim)
    assert classifier is not None
    train_set, test_set = run.splits()
    source = test_set if len(test_set) else train_set
    images = source.load(np.arange(min(RATIONALE_IMAGES, len(source)))).images
    result = compute_rationale(run.model, classifier, images, target=None, rationale=rationale)
    steps = np.atleast_1d(np.asarray(result.steps)).tolist()
    reached = np.atleast_1d(np.asarray(result.reached)).astype(bool).tolist()
    figure = rationale_figure(result, class_names=classifier.classes)
    status = [str(s) for s in np.atleast_1d(np.asarray(result.status))]
    return {"classes": classifier.classes, "figure": data_uri(figure), "steps": steps, "reached": reached,
            "status": status}


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def scores_table(pages: Sequence[RunPage]) -> str:
    """Every score of every run's eval.json, runs as rows (untwine table's columns and cells)."""
    runs = [RunScores(p.dir, p.label, {(protocol, score): float(value)
                                       for protocol, section in p.evaluation.items()
                                       for score, value in section.get("scores", {}).items()})
            for p in pages]
    if not any(run.scores for run in runs):
        return '<p class="note">No scores yet: run <code>untwine evaluate RUN</code> to add them.</p>'
    table = summarize(runs)
    rows = [[g, *(table.cell(g, c) for c in table.columns)] for g in table.groups]
    return _table(["run", *table.columns], rows)


def training_table(pages: Sequence[RunPage]) -> str:
    terms = list(dict.fromkeys(k for p in pages for k in p.summary.get("last_terms", {})))
    rows = []
    for p in pages:
        s = p.summary
        last = s.get("last_terms", {})
        seconds = f"{s['seconds']:.0f}" if "seconds" in s else "-"
        rate = f"{s['images_per_second']:.0f}" if "images_per_second" in s else "-"
        rows.append([p.label, str(s.get("steps", "unfinished")), seconds, rate,
                     *(f"{last[t]:.4g}" if t in last else "-" for t in terms)])
    return _table(["run", "steps", "seconds", "images/s", *(f"last {t}" for t in terms)], rows)


def _img(uri: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _run_section(page: RunPage) -> str:
    parts = [f"<h2>{html.escape(page.label)}</h2>",
             f'<p class="meta">{html.escape(str(page.dir.resolve()))}</p>',
             "<details open><summary>config</summary>"
             f"<pre>{html.escape(page.config_text)}</pre></details>"]
    if page.figures:
        parts.append("<h3>figures</h3>")
        parts += [_img(data_uri(path), path.stem.replace("_", " ")) for path in page.figures]
    if page.rationale:
        classes = ", ".join(page.rationale.get("classes", []))
        parts.append(f"<h3>rationales</h3><p class=\"meta\">latent classifier over {html.escape(classes)}; "
                     "each held-out image moved away from its predicted class</p>")
        steps = ", ".join(map(str, page.rationale["steps"]))
        statuses = ", ".join(page.rationale.get("status", []))
        parts.append(_img(page.rationale["figure"], f"steps per image: {steps}; status: {statuses}"))
    return "\n".join(parts)


def render_report(pages: Sequence[RunPage]) -> str:
    """The page as one HTML string."""
    names = ", ".join(p.label for p in pages)
    curves = training_curves({p.label: p.records for p in pages})
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = [
        f"<h1>untwine report: {html.escape(names)}</h1>",
        f'<p class="meta">generated {stamp} by untwine {html.escape(__version__)}</p>',
        "<h2>scores</h2>", scores_table(pages),
        "<h2>training</h2>", training_table(pages),
        _img(data_uri(curves), "every logged term against the training step")
        if curves is not None else '<p class="note">No training metrics logged (metrics.jsonl).</p>',
        *(_run_section(p) for p in pages),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>untwine report: {html.escape(names)}</title><style>{STYLE}</style></head>"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(run_dirs: Sequence[Path | str], out: Path | str | None = None,
                 rationale: RationaleFn | None = None) -> Path:
    """Write the report of ``run_dirs``; ``out`` defaults to RUN/report.html for one run and to
    ./report.html for several. Returns the file's path."""
    from untwine.train.checkpoint import atomic_write_text

    if not run_dirs:
        raise ValueError("give at least one run directory")
    pages = [read_run(d, rationale) for d in run_dirs]
    labels = [p.label for p in pages]
    for page in pages:  # the same name twice (copies of one run in two folders): add the folder
        if labels.count(page.label) > 1:
            page.label = f"{page.label} ({page.dir})"
    if out:
        path = Path(out)
    else:
        path = Path(run_dirs[0]) / REPORT_FILE if len(run_dirs) == 1 else Path(REPORT_FILE)
    atomic_write_text(path, render_report(pages))
    return path
