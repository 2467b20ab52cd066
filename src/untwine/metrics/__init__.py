"""Disentanglement metrics: pure functions on numpy arrays (codes [N, D], integer factors [N, K]),
each returning a dataclass with the score and the matrices behind it. Same definitions and numbers
as disentanglement_lib (Locatello et al. 2019); see each module for its paper and quirks."""

from untwine.metrics._arrays import MetricError
from untwine.metrics.explicitness import ExplicitnessResult, explicitness
from untwine.metrics.mic import MICResult, mic
from untwine.metrics.mig import MIGResult, mig
from untwine.metrics.modularity import ModularityResult, modularity
from untwine.metrics.sap import SAPResult, sap

__all__ = [
    "ExplicitnessResult",
    "MICResult",
    "MIGResult",
    "MetricError",
    "ModularityResult",
    "SAPResult",
    "explicitness",
    "mic",
    "mig",
    "modularity",
    "sap",
]
