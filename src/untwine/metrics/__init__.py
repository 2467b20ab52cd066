"""Disentanglement metrics: pure functions on numpy arrays (codes [N, D], integer factors [N, K]),
each returning a dataclass with the score and the matrices behind it. Same definitions and numbers
as disentanglement_lib (Locatello et al. 2019); see each module for its paper and quirks."""

from untwine.metrics._arrays import MetricError
from untwine.metrics.mic import MICResult, mic
from untwine.metrics.mig import MIGResult, mig
from untwine.metrics.modularity import ModularityResult, modularity

__all__ = [
    "MICResult",
    "MIGResult",
    "MetricError",
    "ModularityResult",
    "mic",
    "mig",
    "modularity",
]
