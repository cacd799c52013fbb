r"""Multiplicative updates for Frobenius NMF.

For :math:`\min \frac12\|X - WH\|_F^2 + \alpha_W g_W(W) + \alpha_H g_H(H)`
the update of :math:`W` is the entrywise
:func:`~skfactor.decomposition._mm_steps.penalized_step` with numerator
:math:`b = XH^\top` and denominator :math:`d = \tilde W HH^\top` (Lee and
Seung's majorizer, plus the penalty): :math:`f = \tilde f b / (d + \alpha)`
for :math:`\ell_1`, :math:`f = \tilde f b / (d + 2\alpha\tilde f)` for
ridge. The products are BLAS matrix products; sparse :math:`X` enters only
through :math:`XH^\top` and :math:`X^\top W`.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import safe_sparse_dot

from ._mm_steps import balance, penalized_step
from ._objective import EPSILON, objective


def frobenius_update_W(X, W, H, alpha, penalty):
    """One multiplicative (MM) update of ``W`` for Frobenius, ``H`` fixed."""
    numerator = np.asarray(safe_sparse_dot(X, H.T))
    denominator = W @ (H @ H.T)
    return np.maximum(
        penalized_step(W, numerator, denominator, alpha, penalty, 2), EPSILON
    )


class FrobeniusUpdates:
    """Iterations of the Frobenius updates, one per :meth:`iterate` call."""

    def __init__(self, X, W, H, model, *, fit_H, balance_every, n_inner):
        self.X, self.W, self.H = X, W, H
        self.XT = X.T.tocsr() if sp.issparse(X) else X.T
        self.model = model  # (alpha_W, alpha_H, penalty_W, penalty_H)
        self.fit_H = fit_H
        self.balance_every = balance_every
        self.n_inner = n_inner

    def start(self):
        return objective(self.X, self.W, self.H, 2, *self.model)

    def iterate(self, n_steps):
        """One iteration (whatever ``n_steps``); its objective."""
        alpha_W, alpha_H, penalty_W, penalty_H = self.model
        for _ in range(self.n_inner):
            self.W = frobenius_update_W(self.X, self.W, self.H, alpha_W, penalty_W)
        if self.fit_H:
            for _ in range(self.n_inner):
                self.H = frobenius_update_W(
                    self.XT, self.H.T, self.W.T, alpha_H, penalty_H
                ).T
            if self.balance_every:
                self.W, self.H = balance(self.W, self.H, *self.model)
        return [objective(self.X, self.W, self.H, 2, *self.model)]

    def keep(self, step):
        pass

    def factors(self):
        return self.W, self.H
