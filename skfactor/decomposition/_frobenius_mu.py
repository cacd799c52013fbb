r"""Multiplicative updates for Frobenius NMF.

For :math:`\min \frac12\|X - WH\|_F^2 + \alpha_W g_W(W) + \alpha_H g_H(H)`
the update of :math:`W` is the entrywise
:func:`~skfactor.decomposition._mm_steps.penalized_step` with numerator
:math:`b = XH^\top` and denominator :math:`d = \tilde W HH^\top` (Lee and
Seung's majorizer, plus the penalty): :math:`f = \tilde f b / (d + \alpha)`
for :math:`\ell_1`, :math:`f = \tilde f b / (d + 2\alpha\tilde f)` for
ridge.

An iteration is two compiled calls (:func:`_update_W`, :func:`_update_H`:
the updates, the balancing, the small :math:`r \times r` Gram matrices)
and the two products with :math:`X`, by numpy or scipy.sparse; on small
dense data, compiled batches of iterations
(:mod:`~skfactor.decomposition._batches`). The
numerator :math:`XH^\top` of the next W-update also gives the objective of
the iterate (:func:`~._objective.frobenius_fit_from_gram`), so an
iteration multiplies by :math:`X` twice, as scikit-learn's does, and never
forms :math:`WH`.
"""

import numpy as np
import scipy.sparse as sp
from numba import njit

from ._batches import BatchRecord, batch_size, dense_times, store_iterate
from ._mm_steps import balance_with_grams, entry_step, make_penalties
from ._objective import (
    EPSILON,
    exact_if_cancelled,
    exact_if_cancelled_dense,
    frobenius_fit_from_gram,
    gram_fit,
    penalty_value,
)


@njit(cache=True, error_model="numpy")
def _update(F, numerator, gram, weight):  # pragma: no cover (compiled)
    """MM update of ``F``: numerator ``b``, denominator ``F @ gram`` (``gram``
    the Gram matrix of the other factor), floored at ``EPSILON``; ``weight``
    the :class:`Penalty` of ``F``."""
    denominator = np.dot(F, gram)
    out = np.empty_like(F)
    for i in range(F.shape[0]):
        for k in range(F.shape[1]):
            step = entry_step(F[i, k], numerator[i, k], denominator[i, k], weight, 2.0)
            out[i, k] = max(step, EPSILON)
    return out


@njit(cache=True)
def _update_W(W, numerator, gram_H, weight, n_inner):  # pragma: no cover
    """``n_inner`` updates of ``W`` (its numerator and the Gram matrix of H
    fixed: H does not change in between); the new W and its Gram matrix."""
    for _ in range(n_inner):
        W = _update(W, numerator, gram_H, weight)
    return W, np.dot(W.T, W)


@njit(cache=True)
def _update_H(W, Ht, numerator_T, gram_W, half_norm, penalties, schedule):
    """``n_inner`` updates of ``Ht``, then balancing of ``(W, Ht^T)`` in
    place (``schedule`` is ``(balance_every, n_inner)``).

    Returns the new Ht, the Gram matrices of W and Ht (rescaled as the
    factors are), the fit term from the Gram identity (``<X^T W, Ht>`` does
    not change with the balancing) and the penalty.
    """  # pragma: no cover (compiled)
    balance_every, n_inner = schedule
    for _ in range(n_inner):
        Ht = _update(Ht, numerator_T, gram_W, penalties.H)
    gram_H = np.dot(Ht.T, Ht)
    fit = gram_fit(half_norm, numerator_T, Ht, gram_W, gram_H)
    if not balance_every:
        return Ht, gram_W, gram_H, fit, penalty_value(W, Ht, penalties)
    penalty = balance_with_grams(W, Ht, gram_W, gram_H, penalties)
    return Ht, gram_W, gram_H, fit, penalty


@njit(cache=True)
def _mu_batch(X, XT, W, Ht, numerator, gram_H, half_norm, penalties, schedule, record):
    """``len(values)`` iterations on dense C-contiguous ``X``, compiled;
    ``XT`` is a C-contiguous copy of ``X.T`` (numba's product with the
    transposed view ``X.T`` is about a third slower).

    ``record`` is ``(values, W_history, Ht_history)``. Returns the last
    ``W``, ``Ht``, numerator ``X Ht`` and Gram matrix of ``Ht``.
    """  # pragma: no cover (compiled)
    n_inner = schedule[1]
    for t in range(record[0].size):
        W, gram_W = _update_W(W, numerator, gram_H, penalties.W, n_inner)
        numerator_T = dense_times(XT, X, W)
        Ht, gram_W, gram_H, fit, penalty = _update_H(
            W, Ht, numerator_T, gram_W, half_norm, penalties, schedule
        )
        numerator = dense_times(X, XT, Ht)
        value = exact_if_cancelled_dense(fit, X, half_norm, W, Ht) + penalty
        store_iterate(record, t, value, W, Ht)
    return W, Ht, numerator, gram_H


def frobenius_update_W(X, W, H, alpha, penalty):
    """One multiplicative (MM) update of ``W`` for Frobenius, ``H`` fixed."""
    Ht = np.ascontiguousarray(H.T, dtype=np.float64)
    numerator = np.asarray(X @ Ht, dtype=np.float64)
    weight = make_penalties(alpha, 0.0, penalty, "l1").W
    W = np.ascontiguousarray(W, dtype=np.float64)
    return _update(W, numerator, Ht.T @ Ht, weight)


class FrobeniusUpdates:
    """Frobenius multiplicative updates (see the module): :meth:`iterate`
    runs one iteration, or a compiled batch on small dense data
    (:func:`~._batches.batch_size`)."""

    def __init__(self, X, W, H, penalties, *, fit_H, balance_every, n_inner):
        self.batch = batch_size(X, W.shape[1]) if fit_H else 1
        if sp.issparse(X):
            self.X = X.tocsr()
            self.XT = X.T.tocsr()
            data = self.X.data
        else:
            self.X = np.ascontiguousarray(X, dtype=np.float64)
            # the batches' product with X^T wants it C-contiguous
            self.XT = np.ascontiguousarray(self.X.T) if self.batch > 1 else None
            data = self.X.reshape(-1)
        self.half_norm = 0.5 * float(data @ data)
        self.W = np.array(W, dtype=np.float64, order="C")
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self.penalties = penalties
        self.fit_H, self.balance_every, self.n_inner = fit_H, balance_every, n_inner
        self.record = None

    def _times_X(self, Ht):
        """``X @ Ht``, C-contiguous."""
        return np.ascontiguousarray(self.X @ Ht)

    def _objective(self, gram_W, penalty):
        W, Ht = self.W, self.Ht
        return penalty + frobenius_fit_from_gram(
            self.X, self.half_norm, self.numerator, W, gram_W, self.gram_H, W, Ht
        )

    def start(self):
        W, Ht = self.W, self.Ht
        self.numerator = self._times_X(Ht)
        self.gram_H = Ht.T @ Ht
        return self._objective(W.T @ W, penalty_value(W, Ht, self.penalties))

    def iterate(self, n_steps):
        """The objectives of at most ``n_steps`` further iterations."""
        p, n_inner = self.penalties, self.n_inner
        if self.batch > 1:
            self.record = BatchRecord(min(self.batch, n_steps), self.W, self.Ht)
            self.W, self.Ht, self.numerator, self.gram_H = _mu_batch(
                self.X,
                self.XT,
                self.W,
                self.Ht,
                self.numerator,
                self.gram_H,
                self.half_norm,
                p,
                (self.balance_every, n_inner),
                self.record.arrays(),
            )
            return self.record.values
        W, gram_W = _update_W(self.W, self.numerator, self.gram_H, p.W, n_inner)
        self.W = W
        if not self.fit_H:
            return [self._objective(gram_W, penalty_value(W, self.Ht, p))]
        # X^T W by numpy's BLAS (faster than numba's for this product)
        if self.XT is None:
            numerator_T = (W.T @ self.X).T  # F-contiguous, as it comes
        else:
            numerator_T = np.ascontiguousarray(self.XT @ W)
        self.Ht, _, self.gram_H, fit, penalty = _update_H(
            W,
            self.Ht,
            numerator_T,
            gram_W,
            self.half_norm,
            p,
            (self.balance_every, n_inner),
        )
        self.numerator = self._times_X(self.Ht)
        fit = exact_if_cancelled(fit, self.X, self.half_norm, W, self.Ht)
        return [fit + penalty]

    def keep(self, step):
        """Make the ``step``-th iterate of the last batch the current one."""
        if self.record is not None:
            self.W, self.Ht = self.record.factors(step)

    def factors(self):
        return self.W, np.ascontiguousarray(self.Ht.T)
