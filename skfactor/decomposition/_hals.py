r"""Hierarchical alternating least squares (HALS) for penalized Frobenius NMF.

For :math:`\frac12\|X - WH\|_F^2 + \alpha g(W)` with :math:`H` fixed, the
objective restricted to a column :math:`w_k` of :math:`W` is separable in
its entries and quadratic; with :math:`A = XH^\top` and :math:`B = HH^\top`
its exact minimizer over :math:`w \ge \epsilon` is

.. math::

    w_k \leftarrow \max\Big(\epsilon,
        \frac{A_{:k} - W B_{:k} + w_k B_{kk} - \alpha}{B_{kk}}\Big)
    \quad (\ell_1), \qquad
    w_k \leftarrow \max\Big(\epsilon,
        \frac{A_{:k} - W B_{:k} + w_k B_{kk}}{B_{kk} + 2\alpha}\Big)
    \quad (\text{ridge}),

applied to the columns in turn (Cichocki and Phan; the Frobenius
coordinate descent of scikit-learn), so each column update, and each sweep,
decreases the objective. :math:`H` is updated the same way on
:math:`X^\top \approx H^\top W^\top`. Sparse :math:`X` enters only through
the products :math:`XH^\top` and :math:`X^\top W`. The fit term is
evaluated without forming the residual, from :math:`X^\top W` and the Gram
matrices (:func:`~._objective.frobenius_fit_from_gram`).

References
----------
A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale
nonnegative matrix and tensor factorizations", IEICE Transactions on
Fundamentals, 2009.
"""

import numpy as np
import scipy.sparse as sp
from numba import njit
from sklearn.utils.extmath import safe_sparse_dot

from ._mm_steps import balance_in_place
from ._objective import EPSILON, frobenius_fit_from_gram, penalty_value


@njit(cache=True)
def hals_columns(F, A, B, weight):
    """One HALS sweep over the columns of ``F`` (in place) for ``X ~ F G``.

    ``A = X G^T``, ``B = G G^T``, ``weight`` the
    :class:`~skfactor.decomposition._mm_steps.Penalty` of F.
    """
    m, r = F.shape
    alpha, degree = weight
    for k in range(r):
        curvature = B[k, k] if degree == 1.0 else B[k, k] + 2.0 * alpha
        shift = alpha if degree == 1.0 else 0.0
        if curvature <= 0.0:
            continue
        for i in range(m):
            value = A[i, k] - shift
            for q in range(r):
                if q != k:
                    value -= F[i, q] * B[q, k]
            F[i, k] = max(value / curvature, EPSILON)


class HALS:
    """Frobenius iterations by HALS, one per :meth:`iterate` call."""

    def __init__(self, X, W, H, penalties, *, balance_every, n_inner):
        self.X = X
        self.XT = X.T.tocsr() if sp.issparse(X) else np.ascontiguousarray(X.T)
        data = X.data if sp.issparse(X) else X.ravel()
        self.half_norm = 0.5 * float(np.dot(data, data))
        self.W = np.array(W, dtype=np.float64, order="C")
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self.penalties = penalties
        self.balance_every = balance_every
        self.n_inner = n_inner

    def _fit(self, XtW, WtW):
        """Fit term from ``X^T W`` and ``W^T W`` at the current factors."""
        W, Ht = self.W, self.Ht
        return frobenius_fit_from_gram(
            self.X, self.half_norm, XtW, Ht, WtW, Ht.T @ Ht, W, Ht
        )

    def start(self):
        XtW = np.ascontiguousarray(safe_sparse_dot(self.XT, self.W))
        return self._fit(XtW, self.W.T @ self.W) + penalty_value(
            self.W, self.Ht, self.penalties
        )

    def iterate(self, n_steps):
        """One iteration (whatever ``n_steps``); its objective."""
        HHt = self.Ht.T @ self.Ht
        XHt = np.ascontiguousarray(safe_sparse_dot(self.X, self.Ht))
        for _ in range(self.n_inner):
            hals_columns(self.W, XHt, HHt, self.penalties.W)
        WtW = self.W.T @ self.W
        XtW = np.ascontiguousarray(safe_sparse_dot(self.XT, self.W))
        for _ in range(self.n_inner):
            hals_columns(self.Ht, XtW, WtW, self.penalties.H)
        fit = self._fit(XtW, WtW)
        if self.balance_every:
            _, penalty = balance_in_place(self.W, self.Ht, self.penalties)
        else:
            penalty = penalty_value(self.W, self.Ht, self.penalties)
        return [fit + penalty]

    def keep(self, step):
        pass

    def factors(self):
        return self.W, np.ascontiguousarray(self.Ht.T)
