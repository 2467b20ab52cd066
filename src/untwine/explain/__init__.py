"""Explanations as functions of trained parts: traversals (and, later, walks and rationales)."""

from untwine.explain.traverse import image_grid, kl_per_dimension, traversal_figure, traverse

__all__ = ["image_grid", "kl_per_dimension", "traversal_figure", "traverse"]
