"""Discrete latent factor models fitted by block coordinate descent.

:class:`SwitchingRegression` and :class:`SwitchingClassifier` fit :math:`K`
regimes (linear regressions or classifiers) and a latent regime per sample
by alternating a P-step (regime parameters, :mod:`._pstep`) and an F-step
(latent factors, :mod:`._fstep`) on the relaxed problem of seed 000
(:mod:`._bcd`). :func:`cvxpy_loss` declares the parameter shapes of a
user-defined cvxpy loss.
"""

from ._classification import SwitchingClassifier
from ._losses import cvxpy_loss
from ._regression import SwitchingRegression

__all__ = ["SwitchingClassifier", "SwitchingRegression"]
