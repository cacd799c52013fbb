"""Factorization machines trained by stochastic proximal point steps."""

from ._classes import ProxFMClassifier

__all__ = ["ProxFMClassifier"]
