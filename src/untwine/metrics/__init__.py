"""Disentanglement metrics: pure functions on numpy arrays (codes [N, D], integer factors [N, K]),
each returning a dataclass with the score and the matrices behind it. Same definitions and numbers
as disentanglement_lib (Locatello et al. 2019); see each module for its paper and quirks.

``METRICS`` is the registry the disentanglement protocol (untwine.protocols.disentanglement) and
``untwine evaluate --metrics`` read: each entry is ``fn(codes: Codes, **options) -> result`` (see
metrics/suite.py), the options its signature declares, and ``scores(result, factor_names)`` naming
the numbers it adds to eval.json. Add a metric with one file and one line below.
Nothing here imports torch or anything of untwine above the data.
"""

from untwine.core.registry import Registry
from untwine.metrics import suite
from untwine.metrics._arrays import MetricError
from untwine.metrics.betavae import BetaVAEResult, betavae_score
from untwine.metrics.dci import DCIResult, dci
from untwine.metrics.explicitness import ExplicitnessResult, explicitness
from untwine.metrics.factorvae import FactorVAEResult, factorvae_score
from untwine.metrics.mic import MICResult, mic
from untwine.metrics.mig import MIGResult, mig
from untwine.metrics.modularity import ModularityResult, modularity
from untwine.metrics.sap import SAPResult, sap
from untwine.metrics.suite import Codes

METRICS: Registry = Registry("metric", supplied=suite.SUPPLIED)
METRICS.add("mig", suite.mig_metric, needs=("factors",), scores=suite.score)
METRICS.add("dci", suite.dci_metric, needs=("factors",), scores=suite.dci_scores)
METRICS.add("sap", suite.sap_metric, needs=("factors",), scores=suite.score,
            parameters={"variant": "discrete, LinearSVC(C=0.01, class_weight='balanced')"})
METRICS.add("modularity", suite.modularity_metric, needs=("factors",), scores=suite.score)
METRICS.add("explicitness", suite.explicitness_metric, needs=("factors",), scores=suite.explicitness_scores)
METRICS.add("mic", suite.mic_metric, needs=("factors",), scores=suite.mic_scores)
METRICS.add("factorvae", suite.factorvae_metric, needs=("factors", "sampling"), scores=suite.sampled_scores)
METRICS.add("betavae", suite.betavae_metric, needs=("factors", "sampling"), scores=suite.sampled_scores)

DEFAULT_METRICS = ("mig", "dci", "sap", "modularity", "explicitness")

__all__ = [
    "BetaVAEResult",
    "Codes",
    "DCIResult",
    "DEFAULT_METRICS",
    "ExplicitnessResult",
    "FactorVAEResult",
    "METRICS",
    "MICResult",
    "MIGResult",
    "MetricError",
    "ModularityResult",
    "SAPResult",
    "betavae_score",
    "dci",
    "explicitness",
    "factorvae_score",
    "mic",
    "mig",
    "modularity",
    "sap",
]
