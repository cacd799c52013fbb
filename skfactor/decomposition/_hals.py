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

**Accelerated HALS** (Gillis and Glineur): the products :math:`XH^\top`
and :math:`HH^\top` cost about :math:`\rho_W = 1 + (K + nr) / (m(r + 1))`
times a sweep over :math:`W` (:math:`K` the number of nonzeros of
:math:`X`, counted for dense :math:`X` too, so that the iterates do not
depend on the storage format), so an iteration may sweep :math:`W` up to
:math:`1 + \lfloor\alpha\rho_W\rfloor` times with the same products
(:func:`inner_sweep_limits`, :math:`\alpha = 1/2`), stopping early once a
sweep changes :math:`W` by less than :math:`\delta = 0.1` times the first
one did; the same for :math:`H`. Every sweep decreases the objective, so
it stays non-increasing. The first :data:`SINGLE_SWEEP_ITERATIONS`
iterations sweep once. From the initialization, near-exact block solves
settle the sparsity pattern early: without that start, accelerated HALS
stopped at a stationary point 6e-6 to 5e-5 above scikit-learn's
200-iteration objective on every draw of ``benchmarks/bench_nmf.py`` tried;
with one single-sweep iteration, on 3 of 24; with five, on none of 48
(draws 0-2 and 100-102).

:class:`LowRankHALS` runs the same iterations on a matrix given in the
factored form :math:`Q\,(Q^\top X)` (a sketch of :math:`X`), its products
taken in that form.

A sweep runs on the transposed factor (a row per component), so that each
column update is one vectorized pass over contiguous memory
(:func:`_sweep_transposed`, 1.6-2.3 times faster than :func:`hals_columns`
from 60x5 to 2000x20 factors).

References
----------
A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale
nonnegative matrix and tensor factorizations", IEICE Transactions on
Fundamentals, 2009.

N. Gillis and F. Glineur, "Accelerated multiplicative updates and
hierarchical ALS algorithms for nonnegative matrix factorization", Neural
Computation 24(4), 2012.
"""

from collections import namedtuple

import numpy as np
import scipy.sparse as sp
from numba import njit
from sklearn.utils.extmath import safe_sparse_dot

from ..utils._arrays import copy_into
from ._batches import BatchRecord, batch_size, dense_times, store_iterate
from ._mm_steps import balance_with_grams
from ._objective import (
    EPSILON,
    GRAM_CANCELLATION,
    exact_if_cancelled,
    exact_if_cancelled_dense,
    gram_fit,
    n_nonzeros,
    penalty_value,
)

#: Gillis and Glineur's weight of the relative cost in the sweep limit.
ACCELERATION = 0.5
#: Inner sweeps stop once one changes the factor by less than this
#: fraction of the first sweep's change (Euclidean norms).
INNER_DELTA = 0.1
#: Iterations at the start that sweep each factor once (see the module).
SINGLE_SWEEP_ITERATIONS = 5

#: Options of the compiled iterations: balancing, the most sweeps of W and
#: of H per iteration, and the early-stop fraction (0: always the most).
Schedule = namedtuple("Schedule", ["balance_every", "sweeps_W", "sweeps_H", "delta"])


def inner_sweep_limits(n_samples, n_features, n_entries, rank):
    r"""Most sweeps of ``W`` and of ``H`` per accelerated HALS iteration.

    :math:`1 + \lfloor\alpha\rho\rfloor` with
    :math:`\rho_W = 1 + (K + nr) / (m(r + 1))` and
    :math:`\rho_H = 1 + (K + mr) / (n(r + 1))` (Gillis and Glineur), ``K``
    the number of entries (or nonzeros) of X, :math:`\alpha` =
    :data:`ACCELERATION`.

    >>> inner_sweep_limits(1000, 500, 1000 * 500, 10)
    (24, 47)
    """
    m, n, r = n_samples, n_features, rank
    rho_W = 1 + (n_entries + n * r) / (m * (r + 1))
    rho_H = 1 + (n_entries + m * r) / (n * (r + 1))
    return 1 + int(ACCELERATION * rho_W), 1 + int(ACCELERATION * rho_H)


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def hals_columns(F, A, B, weight):
    """One HALS sweep over the columns of ``F`` (in place) for ``X ~ F G``.

    ``A = X G^T``, ``B = G G^T``, ``weight`` the
    :class:`~skfactor.decomposition._mm_steps.Penalty` of F. ``B`` is a Gram
    matrix, so :math:`(W B)_{ik}` is read along the contiguous row
    :math:`B_{k:}`: on SparseNTD's core (one row, a Kronecker ``B`` of
    |G|^2 entries) that is 2-7 times faster than walking down its column.
    """
    m, r = F.shape
    alpha, degree = weight
    for k in range(r):
        curvature = B[k, k] if degree == 1.0 else B[k, k] + 2.0 * alpha
        shift = alpha if degree == 1.0 else 0.0
        if curvature <= 0.0:
            continue
        for i in range(m):
            product = 0.0
            for q in range(r):
                product += F[i, q] * B[k, q]
            value = A[i, k] - shift - product + F[i, k] * B[k, k]
            F[i, k] = max(value / curvature, EPSILON)


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _sweep_transposed(Ft, At, B, weight, value):
    """One HALS sweep over the rows of ``Ft = F^T`` (in place), ``At = A^T``:
    :func:`hals_columns` on the transposed layout, each column update a
    vectorized pass over a contiguous row. ``value`` is scratch of length
    ``Ft.shape[1]``. Returns the squared norm of the change of F."""
    r, m = Ft.shape
    alpha, degree = weight
    shift = alpha if degree == 1.0 else 0.0
    change = 0.0
    for k in range(r):
        curvature = B[k, k] if degree == 1.0 else B[k, k] + 2.0 * alpha
        if curvature <= 0.0:
            continue
        for i in range(m):
            value[i] = At[k, i] - shift + Ft[k, i] * B[k, k]
        for q in range(r):
            b = B[q, k]
            for i in range(m):
                value[i] -= Ft[q, i] * b
        for i in range(m):
            new = max(value[i] / curvature, EPSILON)
            step = new - Ft[k, i]
            change += step * step
            Ft[k, i] = new
    return change


@njit(cache=True, fastmath={"reassoc", "contract"})
def _gram_of_rows(Ft):
    """:math:`F^\\top F` from ``Ft = F^T`` (C-contiguous): dot products of
    its contiguous rows, each vectorized, the lower triangle mirrored (about
    twice as fast as numba's ``np.dot(F.T, F)`` from 120 x 8 to 500 x 10)."""
    r, m = Ft.shape
    gram = np.empty((r, r))
    for k in range(r):
        for q in range(k + 1):
            total = 0.0
            for i in range(m):
                total += Ft[k, i] * Ft[q, i]
            gram[k, q] = total
            gram[q, k] = total
    return gram


@njit(cache=True)
def inner_sweeps(F, numerator, gram, weight, n_sweeps, delta):
    """At most ``n_sweeps`` HALS sweeps over ``F`` (in place), stopping
    after the first that changes F by at most ``delta`` times the first
    sweep's change (``delta=0``: exactly ``n_sweeps``, unless one changes
    nothing); arguments as :func:`hals_columns`. Returns the Gram matrix
    :math:`F^\\top F` of the new F (:func:`_gram_of_rows`)."""
    Ft = np.ascontiguousarray(F.T)
    At = np.ascontiguousarray(numerator.T)
    value = np.empty(F.shape[0])
    first = _sweep_transposed(Ft, At, gram, weight, value)
    for _ in range(n_sweeps - 1):
        if _sweep_transposed(Ft, At, gram, weight, value) <= delta * delta * first:
            break
    copy_into(Ft.T, F)
    return _gram_of_rows(Ft)


@njit(cache=True)
def _sweeps_W(W, numerator, gram_H, weight, schedule):
    """The sweeps over ``W`` of an iteration (in place); its Gram matrix."""
    return inner_sweeps(W, numerator, gram_H, weight, schedule.sweeps_W, schedule.delta)


@njit(cache=True)
def _sweeps_H(W, Ht, numerator_T, gram_W, half_norm, penalties, schedule):
    """The sweeps over ``Ht`` of an iteration (in place), then the balancing
    (``schedule`` a :class:`Schedule`).

    Returns the Gram matrix of Ht (that of W, ``gram_W``, is rescaled in
    place with the factors), the fit term from the Gram identity and the
    penalty.
    """
    gram_H = inner_sweeps(
        Ht, numerator_T, gram_W, penalties.H, schedule.sweeps_H, schedule.delta
    )
    fit = gram_fit(half_norm, numerator_T, Ht, gram_W, gram_H)
    if schedule.balance_every:
        penalty = balance_with_grams(W, Ht, gram_W, gram_H, penalties)
    else:
        penalty = penalty_value(W, Ht, penalties)
    return gram_H, fit, penalty


@njit(cache=True)
def _hals_batch(X, XT, W, Ht, gram_H, half_norm, penalties, schedule, record):
    """``len(values)`` HALS iterations on dense C-contiguous ``X``, compiled;
    ``XT`` is a C-contiguous copy of ``X.T`` (numba's product with the
    transposed view ``X.T`` is about a third slower).

    ``record`` is ``(values, W_history, Ht_history)``: the objective and
    the factors after every iteration. Returns the Gram matrix of the last
    ``Ht``.
    """
    for t in range(record[0].size):
        gram_W = _sweeps_W(W, dense_times(X, XT, Ht), gram_H, penalties.W, schedule)
        numerator_T = dense_times(XT, X, W)
        gram_H, fit, penalty = _sweeps_H(
            W, Ht, numerator_T, gram_W, half_norm, penalties, schedule
        )
        value = exact_if_cancelled_dense(fit, X, half_norm, W, Ht) + penalty
        store_iterate(record, t, value, W, Ht)
    return gram_H


class HALS:
    """Frobenius iterations by HALS (see the module).

    :meth:`iterate` runs one iteration, or a compiled batch on small dense
    data (:func:`~._batches.batch_size`). ``n_inner`` is the number of
    sweeps of each factor per iteration, or ``"auto"`` for accelerated HALS.
    """

    def __init__(self, X, W, H, penalties, *, balance_every, n_inner):
        if sp.issparse(X):
            self.X, self.XT = X, X.T.tocsr()
            data = X.data
        else:
            self.X = np.ascontiguousarray(X, dtype=np.float64)
            self.XT = np.ascontiguousarray(self.X.T)
            data = self.X.reshape(-1)
        # nonzeros, also of dense X: the same iterates whatever the format
        cost = n_nonzeros(X)
        self._setup(0.5 * float(np.dot(data, data)), W, H, penalties)
        self._schedule(balance_every, n_inner, cost, batch_size(X, self.W.shape[1]))

    def _setup(self, half_norm, W, H, penalties):
        self.half_norm = half_norm
        self.W = np.array(W, dtype=np.float64, order="C")
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self.penalties = penalties
        self.n_iter = 0
        self.record = None

    def _schedule(self, balance_every, n_inner, product_cost, batch):
        """The sweeps per iteration (``product_cost``: the entries of X the
        products visit, for accelerated HALS) and the batch size."""
        balance_every = bool(balance_every)
        if n_inner == "auto":
            m, n = self.W.shape[0], self.Ht.shape[0]
            limits = inner_sweep_limits(m, n, product_cost, self.W.shape[1])
            self.schedule = Schedule(balance_every, *limits, INNER_DELTA)
            self.single_sweep_iterations = SINGLE_SWEEP_ITERATIONS
        else:
            self.schedule = Schedule(balance_every, int(n_inner), int(n_inner), 0.0)
            self.single_sweep_iterations = 0
        self.batch = batch

    def _times_Ht(self, Ht):
        """``X @ Ht``, C-contiguous."""
        return np.ascontiguousarray(safe_sparse_dot(self.X, Ht))

    def _transposed_times_W(self, W):
        """``X.T @ W``, C-contiguous."""
        return np.ascontiguousarray(safe_sparse_dot(self.XT, W))

    def _exact_if_cancelled(self, fit, W, Ht):
        return exact_if_cancelled(fit, self.X, self.half_norm, W, Ht)

    def start(self):
        W, Ht = self.W, self.Ht
        self.gram_H = Ht.T @ Ht
        XtW = self._transposed_times_W(W)
        fit = gram_fit(self.half_norm, XtW, Ht, W.T @ W, self.gram_H)
        return self._exact_if_cancelled(fit, W, Ht) + penalty_value(
            W, Ht, self.penalties
        )

    def iterate(self, n_steps):
        """The objectives of at most ``n_steps`` further iterations."""
        schedule = self.schedule
        single = self.single_sweep_iterations - self.n_iter
        if single > 0:  # the start: one sweep each, batches end there
            schedule = schedule._replace(sweeps_W=1, sweeps_H=1)
            n_steps = min(n_steps, single)
        values = self._iterate(n_steps, schedule)
        self.n_iter += len(values)
        return values

    def _iterate(self, n_steps, schedule):
        if self.batch > 1:
            self.record = BatchRecord(min(self.batch, n_steps), self.W, self.Ht)
            self.gram_H = _hals_batch(
                self.X,
                self.XT,
                self.W,
                self.Ht,
                self.gram_H,
                self.half_norm,
                self.penalties,
                schedule,
                self.record.arrays(),
            )
            return self.record.values
        W, Ht, p = self.W, self.Ht, self.penalties
        gram_W = _sweeps_W(W, self._times_Ht(Ht), self.gram_H, p.W, schedule)
        XtW = self._transposed_times_W(W)
        self.gram_H, fit, penalty = _sweeps_H(
            W, Ht, XtW, gram_W, self.half_norm, p, schedule
        )
        return [self._exact_if_cancelled(fit, W, Ht) + penalty]

    def keep(self, step):
        """Make the ``step``-th iterate of the last batch the current one."""
        if self.record is not None:
            self.W, self.Ht = self.record.factors(step)

    def set_factors(self, W, H):
        """Continue from ``(W, H)`` (copied)."""
        self.W = np.array(W, dtype=np.float64, order="C")
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self.record = None

    def factors(self):
        return self.W, np.ascontiguousarray(self.Ht.T)


class LowRankHALS(HALS):
    """:class:`HALS` on a matrix given as ``Q @ B`` (``Q`` with orthonormal
    columns, ``Q`` m x l, ``B`` l x n, l small), the products with it in
    that factored form: :math:`(m + n)lr` multiply-adds instead of
    :math:`mnr` per product, one iteration per call (the sketch that
    coordinate descent starts on, :mod:`~skfactor.decomposition._cd`)."""

    def __init__(self, Q, B, W, H, penalties, *, balance_every, n_inner):
        self.Q = np.ascontiguousarray(Q, dtype=np.float64)
        self.B = np.ascontiguousarray(B, dtype=np.float64)
        # ||Q B||_F = ||B||_F for orthonormal Q
        self._setup(0.5 * float(np.sum(self.B * self.B)), W, H, penalties)
        product_cost = (Q.shape[0] + B.shape[1]) * B.shape[0]
        self._schedule(balance_every, n_inner, product_cost, batch=1)

    def _times_Ht(self, Ht):
        return self.Q @ (self.B @ Ht)

    def _transposed_times_W(self, W):
        return self.B.T @ (self.Q.T @ W)

    def _exact_if_cancelled(self, fit, W, Ht):
        if fit > GRAM_CANCELLATION * self.half_norm:  # (forms Q B only if not)
            return float(fit)
        return exact_if_cancelled(fit, self.Q @ self.B, self.half_norm, W, Ht)
