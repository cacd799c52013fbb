"""Factor models with multilevel low-rank (MLR) covariance."""

__all__ = []
