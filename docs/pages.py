"""The generated pages of the documentation site, as plain functions (docs/gen_pages.py writes them
during `mkdocs build`; tests/test_docs.py checks them without mkdocs).

- a page per command, from the command line's own argparse parser (so it cannot drift from --help);
- a page per tutorial, from its jupytext percent-format script (markdown cells become text, code
  cells code blocks);
- an API reference page per public module, rendered by mkdocstrings from the docstrings.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_WIDTH = "100"  # argparse wraps help to $COLUMNS: fixed, so a page does not depend on the terminal


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands by name, in the order ``--help`` lists them."""
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help(parser: argparse.ArgumentParser) -> str:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        return parser.format_help()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def command_pages() -> dict[str, str]:
    """``commands/NAME.md`` -> its markdown, plus ``commands/index.md``: every command's ``--help``."""
    from untwine.cli import build_parser

    parser = build_parser()
    helps = {action.dest: action.help for action in parser._subparsers._group_actions[0]._choices_actions}
    pages = {}
    rows = ["| command | what it does |", "| --- | --- |"]
    for name, sub in subcommands(parser).items():
        rows.append(f"| [`untwine {name}`]({name}.md) | {helps.get(name, '')} |")
        pages[f"commands/{name}.md"] = (
            f"# untwine {name}\n\n{helps.get(name, '')}\n\n"
            "This page is `untwine " + name + " --help`, generated from the command line's parser when "
            "the site is built.\n\n```text\n" + _help(sub) + "```\n")
    pages["commands/index.md"] = (
        "# Commands\n\nEvery command of `untwine`, with its `--help` (generated from the parser when the "
        "site is built, so these pages are the help the installed version prints).\n\n```text\n"
        + _help(parser) + "```\n\n" + "\n".join(rows) + "\n")
    return pages


MARKDOWN_CELL = re.compile(r"^# %% \[markdown\]")


def tutorial_cells(script: str) -> list[tuple[str, str]]:
    """[(kind, text)] of a percent-format script: kind 'markdown' (comment marks stripped) or 'code'.
    The lines before the first ``# %%`` (the jupytext header) are dropped."""
    cells: list[tuple[str, list[str]]] = []
    for line in script.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if MARKDOWN_CELL.match(line) else "code", []))
        elif cells:
            kind, lines = cells[-1]
            lines.append(re.sub(r"^# ?", "", line) if kind == "markdown" else line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells if "\n".join(lines).strip()]


def tutorial_page(path: Path) -> str:
    parts = []
    for kind, text in tutorial_cells(path.read_text()):
        parts.append(text if kind == "markdown" else f"```python\n{text}\n```")
    note = (f"!!! note \"This page is `tutorials/{path.name}`\"\n"
            f"    Run it with `python tutorials/{path.name}` from the repository root. "
            "The test suite runs it at a tiny budget "
            "(`UNTWINE_TUTORIAL_BUDGET=tiny`); the figures here come from its default budget.\n")
    title, _, rest = "\n\n".join(parts).partition("\n")
    return f"{title}\n\n{note}\n{rest.lstrip()}\n"


def tutorial_scripts() -> list[Path]:
    return sorted((ROOT / "tutorials").glob("[0-9]*.py"))


def tutorial_pages() -> dict[str, str]:
    return {f"tutorials/{path.stem}.md": tutorial_page(path) for path in tutorial_scripts()}


def configuration_page() -> str:
    """README.md's sections on configs, run directories and the Python API (whose code blocks
    tests/test_readme.py runs), as one page: written once, in the README."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("A config (YAML; every key is checked")
    headings = ("## A run directory", "## The Python API", "## Metrics")
    run_dir, python, metrics = (readme.index(heading) for heading in headings)
    intro = ("# Configuration\n\nA run is one YAML config. Every key is checked (a typo is an error that "
             "names it); `untwine train --help` and `untwine registries` list every name a config may use "
             "([train](commands/train.md), [registries](commands/registries.md)), and `untwine init` writes "
             "a starter config for a folder of images ([your own images](your-data.md)). This page is "
             "README.md's sections on configs, run directories and the Python API.\n\n")
    return (intro + readme[start:run_dir]
            + readme[run_dir:python].replace("## A run directory", "## The run directory")
            + readme[python:metrics].replace("## The Python API", "## The same from Python"))


def reference_pages() -> dict[str, str]:
    """``reference/untwine/x/y.md`` -> ``::: untwine.x.y`` for every public module (no ``_`` name)."""
    src = ROOT / "src"
    pages = {}
    for path in sorted((src / "untwine").rglob("*.py")):
        module = path.relative_to(src).with_suffix("").parts
        if any(part.startswith("_") for part in module if part != "__init__"):
            continue
        if module[-1] == "__init__":
            module = module[:-1]
            page = Path("reference", *module, "index.md")
        else:
            page = Path("reference", *module).with_suffix(".md")
        name = ".".join(module)
        pages[page.as_posix()] = f"# `{name}`\n\n::: {name}\n"
    return pages
