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

An iteration is two compiled calls (the sweeps with the Gram matrices, the
balancing) and the two products with :math:`X` by numpy or scipy.sparse;
on small dense data, compiled batches of iterations
(:mod:`~skfactor.decomposition._batches`).

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

from ._batches import BatchRecord, batch_size
from ._mm_steps import balance_with_grams
from ._objective import (
    EPSILON,
    exact_if_cancelled,
    exact_if_cancelled_dense,
    gram_fit,
    penalty_value,
)


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


@njit(cache=True)
def _sweeps_W(W, numerator, gram_H, weight, n_inner):
    """``n_inner`` sweeps over ``W`` (in place); its Gram matrix."""
    for _ in range(n_inner):
        hals_columns(W, numerator, gram_H, weight)
    return np.dot(W.T, W)


@njit(cache=True)
def _sweeps_H(W, Ht, numerator_T, gram_W, half_norm, penalties, schedule):
    """``n_inner`` sweeps over ``Ht`` (in place), then the balancing
    (``schedule`` is ``(balance_every, n_inner)``).

    Returns the Gram matrix of Ht (that of W, ``gram_W``, is rescaled in
    place with the factors), the fit term from the Gram identity and the
    penalty.
    """
    balance_every, n_inner = schedule
    for _ in range(n_inner):
        hals_columns(Ht, numerator_T, gram_W, penalties.H)
    gram_H = np.dot(Ht.T, Ht)
    fit = gram_fit(half_norm, numerator_T, Ht, gram_W, gram_H)
    if balance_every:
        penalty = balance_with_grams(W, Ht, gram_W, gram_H, penalties)
    else:
        penalty = penalty_value(W, Ht, penalties)
    return gram_H, fit, penalty


@njit(cache=True)
def _hals_batch(X, W, Ht, gram_H, half_norm, penalties, schedule, record):
    """``len(values)`` HALS iterations on dense C-contiguous ``X``, compiled.

    ``record`` is ``(values, W_history, Ht_history)``: the objective and
    the factors after every iteration. Returns the Gram matrix of the last
    ``Ht``.
    """
    values, W_history, Ht_history = record
    n_inner = schedule[1]
    for t in range(values.size):
        gram_W = _sweeps_W(W, np.dot(X, Ht), gram_H, penalties.W, n_inner)
        numerator_T = np.dot(X.T, W)
        gram_H, fit, penalty = _sweeps_H(
            W, Ht, numerator_T, gram_W, half_norm, penalties, schedule
        )
        values[t] = exact_if_cancelled_dense(fit, X, half_norm, W, Ht) + penalty
        W_history[t] = W
        Ht_history[t] = Ht
    return gram_H


class HALS:
    """Frobenius iterations by HALS (see the module).

    :meth:`iterate` runs one iteration, or a compiled batch on small dense
    data (:func:`~._batches.batch_size`).
    """

    def __init__(self, X, W, H, penalties, *, balance_every, n_inner):
        if sp.issparse(X):
            self.X, self.XT = X, X.T.tocsr()
            data = X.data
        else:
            self.X = np.ascontiguousarray(X, dtype=np.float64)
            self.XT = np.ascontiguousarray(self.X.T)
            data = self.X.reshape(-1)
        self.half_norm = 0.5 * float(np.dot(data, data))
        self.W = np.array(W, dtype=np.float64, order="C")
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self.penalties = penalties
        self.schedule = (bool(balance_every), int(n_inner))
        self.batch = batch_size(X, self.W.shape[1])
        self.record = None

    def start(self):
        W, Ht = self.W, self.Ht
        self.gram_H = Ht.T @ Ht
        XtW = np.ascontiguousarray(safe_sparse_dot(self.XT, W))
        fit = gram_fit(self.half_norm, XtW, Ht, W.T @ W, self.gram_H)
        fit = exact_if_cancelled(fit, self.X, self.half_norm, W, Ht)
        return fit + penalty_value(W, Ht, self.penalties)

    def iterate(self, n_steps):
        """The objectives of at most ``n_steps`` further iterations."""
        if self.batch > 1:
            self.record = BatchRecord(min(self.batch, n_steps), self.W, self.Ht)
            self.gram_H = _hals_batch(
                self.X,
                self.W,
                self.Ht,
                self.gram_H,
                self.half_norm,
                self.penalties,
                self.schedule,
                self.record.arrays(),
            )
            return self.record.values
        W, Ht, p = self.W, self.Ht, self.penalties
        XHt = np.ascontiguousarray(safe_sparse_dot(self.X, Ht))
        gram_W = _sweeps_W(W, XHt, self.gram_H, p.W, self.schedule[1])
        XtW = np.ascontiguousarray(safe_sparse_dot(self.XT, W))
        self.gram_H, fit, penalty = _sweeps_H(
            W, Ht, XtW, gram_W, self.half_norm, p, self.schedule
        )
        return [exact_if_cancelled(fit, self.X, self.half_norm, W, Ht) + penalty]

    def keep(self, step):
        """Make the ``step``-th iterate of the last batch the current one."""
        if self.record is not None:
            self.W, self.Ht = self.record.factors(step)

    def factors(self):
        return self.W, np.ascontiguousarray(self.Ht.T)
