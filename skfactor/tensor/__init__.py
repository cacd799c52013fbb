"""Regularized tensor decompositions."""

__all__ = []
