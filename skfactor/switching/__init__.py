"""Discrete latent factor models fitted by block coordinate descent."""

__all__ = []
