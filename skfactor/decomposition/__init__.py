"""Regularized and constrained matrix factorizations."""

from ._nmf import BalancedSparseNMF
from ._proximal_mf import ProximalMF

__all__ = ["BalancedSparseNMF", "ProximalMF"]
