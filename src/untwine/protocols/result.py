"""What an evaluation protocol returns (``untwine.protocols``): its own module so that protocols
defined beside their metrics can return it without importing the registry that lists them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ProtocolResult:
    scores: dict[str, float]  # flat, named as the paper's table columns
    parameters: dict[str, Any]  # how the scores were computed
    details: dict[str, Any] = field(default_factory=dict)  # JSON-able matrices, per-fold values
