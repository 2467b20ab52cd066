"""Training: ``fit()``, checkpoints, logging, and whole runs from a config."""

from untwine.train.fit import FitResult, NonFiniteLossError, fit

__all__ = ["FitResult", "NonFiniteLossError", "fit"]
