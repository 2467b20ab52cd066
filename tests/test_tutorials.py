"""The tutorials run: each script in tutorials/ executes at a tiny budget, and every figure its
text embeds is one it wrote (and one the documentation site holds)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "tutorials").glob("[0-9]*.py"))
SITE_FIGURES = ROOT / "docs" / "tutorials" / "figures"


def embedded_figures(script: Path) -> list[str]:
    return re.findall(r"^# !\[[^\]]*\]\(figures/([^)]+)\)", script.read_text(), flags=re.MULTILINE)


def test_every_paper_has_a_tutorial():
    assert [s.name[:3] for s in SCRIPTS] == ["000", "001", "002", "003", "004"]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_tutorial_runs_and_writes_the_figures_it_shows(script, tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.chdir(ROOT)  # tutorials name experiments/ and ../shared/data from the repository root
    monkeypatch.setenv("UNTWINE_TUTORIAL_BUDGET", "tiny")
    monkeypatch.setenv("UNTWINE_TUTORIAL_OUT", str(tmp_path))
    monkeypatch.setenv("UNTWINE_CACHE", str(tmp_path / "cache"))
    runpy.run_path(str(script), run_name="__main__")
    figures = embedded_figures(script)
    assert figures, f"{script.name} embeds no figure"
    for name in figures:
        assert (tmp_path / "figures" / name).is_file(), f"{script.name} shows {name} but did not write it"
        assert (SITE_FIGURES / name).is_file(), f"docs/tutorials/figures/{name} is missing: run {script.name}"
