"""Regularized tensor decompositions."""

from ._cpd import RidgeCPD

__all__ = ["RidgeCPD"]
