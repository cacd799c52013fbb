"""Regularized and constrained matrix factorizations."""

from ._proximal_mf import ProximalMF

__all__ = ["ProximalMF"]
