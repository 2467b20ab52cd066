"""The package's layers (pyproject's [tool.importlinter]): no module imports from a layer above its
own, at module level or inside a function, and the metrics import no model code."""

from __future__ import annotations

from pathlib import Path

try:
    import importlinter.cli as importlinter
except ImportError as err:  # a hard failure, not a skip: a skipped contract lets upward imports in
    raise ImportError("tests/test_layers.py needs import-linter: pip install -e '.[test]'") from err

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_no_module_imports_from_a_layer_above_its_own():
    assert importlinter.lint_imports(config_filename=str(PYPROJECT), no_cache=True) == 0
