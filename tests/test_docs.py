"""The generated pages of the documentation site (docs/pages.py): a page per command holding its
current --help, tutorial pages made from the scripts, an API page per public module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from untwine.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pages():
    spec = importlib.util.spec_from_file_location("docs_pages", ROOT / "docs" / "pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_page_per_command_with_its_current_help(pages, monkeypatch):
    generated = pages.command_pages()
    commands = pages.subcommands(build_parser())
    assert "init" in commands and "train" in commands
    assert set(generated) == {f"commands/{name}.md" for name in commands} | {"commands/index.md"}
    monkeypatch.setenv("COLUMNS", pages.HELP_WIDTH)
    for name, parser in commands.items():
        page = generated[f"commands/{name}.md"]
        assert page.startswith(f"# untwine {name}\n")
        assert parser.format_help() in page  # the help as the installed parser prints it
        assert f"]({name}.md)" in generated["commands/index.md"]


def test_tutorial_pages_keep_text_and_code_apart(pages, tmp_path):
    script = tmp_path / "009_demo.py"
    script.write_text("# ---\n# jupyter: {}\n# ---\n\n# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n"
                      "# %%\nx = 1  # a comment stays code\n\n# %% [markdown]\n# ![f](figures/a.png)\n")
    assert pages.tutorial_cells(script.read_text()) == [
        ("markdown", "# Title\n\nSome *text*."), ("code", "x = 1  # a comment stays code"),
        ("markdown", "![f](figures/a.png)")]
    page = pages.tutorial_page(script)
    assert page.startswith("# Title\n\n!!! note") and "```python\nx = 1  # a comment stays code\n```" in page
    assert set(pages.tutorial_pages()) == {f"tutorials/{s.stem}.md" for s in pages.tutorial_scripts()}


def test_an_api_page_per_public_module(pages):
    reference = pages.reference_pages()
    assert reference["reference/untwine/metrics/mig.md"] == "# `untwine.metrics.mig`\n\n::: untwine.metrics.mig\n"
    assert "reference/untwine/starter.md" in reference and "reference/untwine/index.md" in reference
    assert not any("/_" in page for page in reference)  # private modules stay out


def test_the_configuration_page_is_the_readmes_sections(pages):
    page = pages.configuration_page()
    readme = (ROOT / "README.md").read_text()
    assert page.startswith("# Configuration\n") and "## The run directory" in page and "## The same from Python" in page
    assert readme[readme.index("```yaml"):readme.index("## A run directory")] in page
