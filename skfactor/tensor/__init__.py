"""Regularized tensor decompositions."""

from ._cpd import RidgeCPD
from ._ntd import SparseNTD

__all__ = ["RidgeCPD", "SparseNTD"]
