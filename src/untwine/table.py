"""``untwine table``: the scores of many runs as a paper's table, mean and spread over seeds.

A row is a run's name with its ``/seedS`` part removed (``untwine run`` names the runs of a config
with ``seeds`` that way), so the seeds of one config fold into one row. A column is a score of
eval.json, named ``score`` or, where two protocols share a score's name, ``protocol.score``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from untwine.protocols import EVAL_FILE, read_evaluation

_SEED = re.compile(r"/seed-?\d+$")


@dataclass
class RunScores:
    run_dir: Path
    group: str  # the config's name without the seed
    scores: dict[tuple[str, str], float]  # (protocol, score) -> value


@dataclass
class Table:
    columns: list[str]
    groups: list[str]
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # group -> column -> seeds

    def mean(self, group: str, column: str) -> float:
        return float(np.mean(self.values[group][column])) if self.values[group][column] else np.nan

    def std(self, group: str, column: str) -> float:
        """Sample standard deviation over seeds (ddof=1); 0 for a single seed."""
        seeds = self.values[group][column]
        return float(np.std(seeds, ddof=1)) if len(seeds) > 1 else 0.0

    def cell(self, group: str, column: str) -> str:
        seeds = self.values[group][column]
        if not seeds:
            return "-"
        if len(seeds) == 1:
            return f"{seeds[0]:.3f}"
        return f"{self.mean(group, column):.3f} ± {self.std(group, column):.3f}"

    def seeds(self, group: str) -> int:
        return max((len(v) for v in self.values[group].values()), default=0)

    def format(self, style: str = "text") -> str:
        header = ["run", "seeds", *self.columns]
        body = [[g, str(self.seeds(g)), *(self.cell(g, c) for c in self.columns)] for g in self.groups]
        if style == "csv":
            lines = [",".join(header)]
            for g in self.groups:
                cells = [f"{self.mean(g, c):.6g},{self.std(g, c):.6g}" for c in self.columns]
                lines.append(",".join([g, str(self.seeds(g)), *cells]))
            lines[0] = ",".join(["run", "seeds", *(f"{c}_mean,{c}_std" for c in self.columns)])
            return "\n".join(lines)
        if style == "markdown":
            rows = [header, ["---"] * len(header), *body]
            return "\n".join("| " + " | ".join(r) + " |" for r in rows)
        if style != "text":
            raise ValueError(f"table format {style!r}: expected text, markdown or csv")
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in [header, [("-" * w) for w in widths], *body]]
        return "\n".join(lines)


def _run_name(run_dir: Path) -> str:
    import yaml

    config = run_dir / "config.yaml"
    if config.exists():
        name = (yaml.safe_load(config.read_text()) or {}).get("name")
        if isinstance(name, str):
            return name
    return run_dir.name


def collect(paths: Sequence[Path | str]) -> list[RunScores]:
    """Every run directory with an eval.json at or under ``paths``, in path order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such run directory or folder")
        found += [path] if (path / EVAL_FILE).exists() else sorted(p.parent for p in path.rglob(EVAL_FILE))
    runs = []
    for run_dir in dict.fromkeys(found):
        scores = {(protocol, score): float(value)
                  for protocol, section in read_evaluation(run_dir).items()
                  for score, value in section.get("scores", {}).items()}
        runs.append(RunScores(run_dir, _SEED.sub("", _run_name(run_dir)), scores))
    if not runs:
        raise FileNotFoundError(f"no {EVAL_FILE} under {', '.join(map(str, paths))}; "
                                f"score runs with `untwine evaluate RUN` first")
    return runs


def _column_names(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    counts: dict[str, int] = {}
    for _, score in keys:
        counts[score] = counts.get(score, 0) + 1
    return {(p, s): s if counts[s] == 1 else f"{p}.{s}" for p, s in keys}


def summarize(
    runs: Sequence[RunScores],
    columns: Sequence[str] | None = None,
    rows: Sequence[str] | None = None,
) -> Table:
    """Fold seeds into rows. ``columns`` and ``rows`` choose and order them (default: all, in the
    order first seen); an unknown name is an error that lists the known ones."""
    keys = list(dict.fromkeys(k for run in runs for k in run.scores))
    names = _column_names(keys)
    by_name = {name: key for key, name in names.items()}
    for key in names:
        by_name.setdefault(f"{key[0]}.{key[1]}", key)
    chosen = list(columns) if columns else list(names.values())
    unknown = [c for c in chosen if c not in by_name]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; the runs have {sorted(names.values())}")
    groups = list(dict.fromkeys(run.group for run in runs))
    if rows:
        missing = [r for r in rows if r not in groups]
        if missing:
            raise ValueError(f"unknown rows {missing}; the runs are {groups}")
        groups = list(rows)
    table = Table(chosen, groups, {g: {c: [] for c in chosen} for g in groups})
    for run in runs:
        if run.group not in table.values:
            continue
        for column in chosen:
            value = run.scores.get(by_name[column])
            if value is not None:
                table.values[run.group][column].append(value)
    return table
