"""Disentanglement metrics: pure functions on numpy arrays (codes [N, D], integer factors [N, K]),
each returning a dataclass with the score and the matrices behind it. Same definitions and numbers
as disentanglement_lib (Locatello et al. 2019); see each module for its paper and quirks.

``untwine.metrics.evaluate`` (torch) encodes a dataset with a model and runs the suite; it is not
imported here so that the metrics stay importable without torch."""

from untwine.metrics._arrays import MetricError
from untwine.metrics.betavae import BetaVAEResult, betavae_score
from untwine.metrics.dci import DCIResult, dci
from untwine.metrics.explicitness import ExplicitnessResult, explicitness
from untwine.metrics.factorvae import FactorVAEResult, factorvae_score
from untwine.metrics.mic import MICResult, mic
from untwine.metrics.mig import MIGResult, mig
from untwine.metrics.modularity import ModularityResult, modularity
from untwine.metrics.sap import SAPResult, sap
from untwine.metrics.udr import UDRResult, udr
from untwine.metrics.unsupervised import UnsupervisedResult, unsupervised_scores

__all__ = [
    "BetaVAEResult",
    "DCIResult",
    "ExplicitnessResult",
    "FactorVAEResult",
    "MICResult",
    "MIGResult",
    "MetricError",
    "ModularityResult",
    "SAPResult",
    "UDRResult",
    "UnsupervisedResult",
    "betavae_score",
    "dci",
    "explicitness",
    "factorvae_score",
    "mic",
    "mig",
    "modularity",
    "sap",
    "udr",
    "unsupervised_scores",
]
