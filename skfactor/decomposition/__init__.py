"""Regularized and constrained matrix factorizations."""

__all__ = []
