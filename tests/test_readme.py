"""Every Python block of README.md runs as written, in order, in one namespace, in a scratch folder.

A block may be preceded by ``<!-- test budget: "A" -> "B", ... -->``: the test replaces A with B in
the block before running it (a training budget a test can afford), and fails if A is no longer in the
block, so a budget cannot silently stop applying."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- test budget: (?P<budget>.*?) -->\n)?```python\n(?P<code>.*?)```", re.S)
REPLACEMENT = re.compile(r'"(.*?)" -> "(.*?)"(?:,|$)')


def blocks() -> list[tuple[str, list[tuple[str, str]]]]:
    found = []
    for match in BLOCK.finditer(README.read_text()):
        budget = REPLACEMENT.findall(match.group("budget") or "")
        found.append((match.group("code"), budget))
    return found


def test_the_readme_has_python_blocks_and_their_budgets_apply():
    found = blocks()
    assert len(found) >= 2
    for code, budget in found:
        for old, _ in budget:
            assert old in code, f"README budget {old!r} no longer matches its block"


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for i, (code, budget) in enumerate(blocks()):
        for old, new in budget:
            code = code.replace(old, new)
        try:
            exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as err:  # name the block, keep the traceback
            pytest.fail(f"README.md python block {i + 1} failed: {type(err).__name__}: {err}")
    assert (tmp_path / "runs" / "api" / "eval.json").exists()
    assert namespace["run"].model.config.supplied_networks == ["encoder", "decoder"]
