"""Factorization machines trained by stochastic proximal point steps."""

__all__ = []
