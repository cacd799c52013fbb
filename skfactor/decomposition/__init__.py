"""Regularized and constrained matrix factorizations."""

from ._nmf import BalancedSparseNMF

__all__ = ["BalancedSparseNMF"]
