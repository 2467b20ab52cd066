"""How variance is structured in a dataset (per factor: global amount, consistency, gaps) and in a
decoder (local principal directions from its Jacobian): ``measures`` on arrays, ``report`` on an
ImageSet and a model (tables, JSON, figure). See ``measures`` for the definitions."""

from untwine.metrics.variance.measures import (
    DecoderVarianceResult,
    FactorVarianceResult,
    decoder_jacobians,
    factor_variance,
    jacobian_variance,
)

__all__ = [
    "DecoderVarianceResult",
    "FactorVarianceResult",
    "decoder_jacobians",
    "factor_variance",
    "jacobian_variance",
]
