"""Discrete latent factor models fitted by block coordinate descent.

:class:`SwitchingRegression` and :class:`SwitchingClassifier` fit :math:`K`
regimes (linear regressions or classifiers) and a latent regime per sample
by alternating a P-step (regime parameters, :mod:`._pstep`) and an F-step
(latent factors, :mod:`._fstep`) on the relaxed problem of Zhu et al. (2025)
(:mod:`._bcd`), or, for ``latent="markov"``, by EM on a hidden Markov chain of
regimes (:mod:`._em`, :mod:`._hmm`). :func:`cvxpy_loss` declares the
parameter shapes of a user-defined cvxpy loss.
"""

from ._classification import SwitchingClassifier
from ._losses import cvxpy_loss as cvxpy_loss  # public, not exported at the top
from ._regression import SwitchingRegression

__all__ = ["SwitchingClassifier", "SwitchingRegression"]
