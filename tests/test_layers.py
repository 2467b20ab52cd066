"""The package's layers (pyproject's [tool.importlinter]): no module imports from a layer above its
own, at module level or inside a function, and the metrics import no model code."""

from __future__ import annotations

from pathlib import Path

import pytest

importlinter = pytest.importorskip("importlinter.cli")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_no_module_imports_from_a_layer_above_its_own():
    assert importlinter.lint_imports(config_filename=str(PYPROJECT), no_cache=True) == 0
