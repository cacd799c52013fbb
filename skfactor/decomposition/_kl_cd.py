r"""Cyclic coordinate descent for penalized Kullback-Leibler NMF.

Hsieh and Dhillon's coordinate descent: the entries of :math:`W` (then of
:math:`H`) are updated one at a time, each by one-dimensional projected
Newton steps on

.. math::

    \phi(w) = c\, w - \sum_j x_{ij} \log\big(y_{ij} + (w - \tilde w) h_{kj}\big)
        + \alpha g(w), \qquad c = \sum_j h_{kj},

the objective as a function of :math:`w = w_{ik}` alone
(:math:`y = \tilde W H` the current model), with derivatives

.. math::

    \phi'(w) = c - \sum_j \frac{x_{ij} h_{kj}}{y_{ij}} + \alpha g'(w),
    \qquad
    \phi''(w) = \sum_j \frac{x_{ij} h_{kj}^2}{y_{ij}^2} + \alpha g''(w),

:math:`g'(w) = 1, g'' = 0` for :math:`\ell_1`, :math:`g' = 2w, g'' = 2` for
ridge, and the step :math:`w \leftarrow \max(\epsilon, w - \phi'/\phi'')`.
The model :math:`y` is kept at the nonzeros of :math:`X` only and updated
incrementally, :math:`y_{ij} \mathrel{+}= s\, h_{kj}`: zeros of :math:`X`
enter only through :math:`c`, so sparse (CSR) data are never densified and
a step costs the number of nonzeros of its row (:func:`cd_sweep`, which
gathers the row's columns of :math:`H` once, so that the :math:`r` steps of
the row run over contiguous memory). Dense data with at least
:data:`DENSE_MIN_DENSITY` nonzeros are swept over whole rows instead
(:func:`dense_cd_sweep`: zeros included, with :math:`x / y` set to 0 there,
the model formed by BLAS). Measured at 1000 x 500, rank 10, one thread,
an iteration takes 9.7 ms by dense rows and 18.6 ms by gathered nonzeros at
90% density (35 ms by nonzeros read in place, before the gather), and about
the same either way at 45%. On small dense data, iterations by dense rows
run in compiled batches (:mod:`~skfactor.decomposition._batches`).

A step to the right (:math:`s > 0`) decreases :math:`\phi`: with
:math:`u = s h / y \ge 0`, :math:`-\log(1 + u) \le -u + u^2/2`, so
:math:`\phi(w + s) - \phi(w)` is below the Newton model
:math:`s\phi' + s^2\phi''/2 < 0`. A step to the left can overshoot; there
:math:`-1 < u \le 0` and :math:`-\log(1+u) \le -u + u^2 / (2(1+u))`, so

.. math::

    \phi(w + s) - \phi(w) \le s\,\phi'(w) + \frac{s^2}{2}\sum_j
        \frac{x_{ij} h_{kj}^2}{y_{ij}(y_{ij} + s h_{kj})}
        + \big[\alpha s^2\ \text{for ridge}\big],

computed without logarithms while the step is applied; when this bound is
not negative the step is halved (and undone if it never is). So every step
decreases the objective, and so does each sweep.

References
----------
C.-J. Hsieh and I. S. Dhillon, "Fast coordinate descent methods with
variable selection for non-negative matrix factorization", KDD 2011.
"""

import numpy as np
import scipy.sparse as sp
from numba import njit

from ._batches import BatchRecord, batch_size, store_iterate
from ._mm_steps import balance_in_place
from ._objective import (
    _TINY,
    EPSILON,
    csr_arrays,
    dense_kl_objective,
    kl_log_term,
    kl_objective_rest,
    n_nonzeros,
)

#: Newton steps per entry and sweep.
NEWTON_STEPS = 1
_MAX_HALVINGS = 30


@njit(cache=True)
def _column_sums(F):
    sums = np.zeros(F.shape[1])
    for i in range(F.shape[0]):
        for k in range(F.shape[1]):
            sums[k] += F[i, k]
    return sums


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _inverse(x, model, inv):
    """``inv = 1 / y`` (``y`` floored in place) where ``x != 0``, else 0, so
    that zeros of a dense row contribute nothing, whatever their model."""
    for p in range(x.size):
        model[p] = max(model[p], _TINY)
        inv[p] = 1.0 / model[p] if x[p] != 0.0 else 0.0


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _derivatives(x, g, inv):
    r""":math:`\sum x g / y` and :math:`\sum x g^2 / y^2` over a row."""
    first, second = 0.0, 0.0
    for p in range(x.size):
        ratio = x[p] * inv[p]
        first += ratio * g[p]
        second += ratio * inv[p] * g[p] * g[p]
    return first, second


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _move(x, g, g_next, s, model, inv):
    """Add ``s * g`` to the row's model; the bound term and the next
    derivatives (those of ``g_next`` at the new model)."""
    left = s < 0.0
    bound, first, second = 0.0, 0.0, 0.0
    for p in range(x.size):
        y_new = max(model[p] + s * g[p], _TINY)
        inv_new = 1.0 / y_new if x[p] != 0.0 else 0.0
        # x g^2 / (y y_new) for a step to the left, x g^2 / y^2 to the right
        bound += x[p] * g[p] * g[p] * inv[p] * (inv_new if left else inv[p])
        model[p] = y_new
        inv[p] = inv_new
        ratio = x[p] * inv_new
        first += ratio * g_next[p]
        second += ratio * inv_new * g_next[p] * g_next[p]
    return 0.5 * s * s * bound, first, second


@njit(cache=True, error_model="numpy")
def _undo(x, g, s, model, inv):
    for p in range(x.size):
        model[p] -= s * g[p]
    _inverse(x, model, inv)


@njit(cache=True, error_model="numpy")
def _newton_target(f, c, first, second, weight):
    """Projected 1-D Newton point of an entry and the gradient there."""
    alpha, degree = weight
    grad = c - first
    hess = second
    if degree == 1.0:
        grad += alpha
    else:
        grad += 2.0 * alpha * f
        hess += 2.0 * alpha
    if hess > 0.0:
        return max(f - grad / hess, EPSILON), grad
    if grad > 0.0:  # linear in the entry: go to the bound
        return EPSILON, grad
    return f, grad


@njit(cache=True, error_model="numpy")
def _row_sweep(x, G, f, c, weight, model, inv, n_steps):
    """Newton steps on the entries of one row ``f`` of F in turn, in place.

    ``x`` are the row's data, ``G`` (``(r, x.size)``, C-contiguous) the
    matching columns of the other factor, one component per row, and
    ``model`` the row's model, updated along (``inv`` is scratch). Each step
    is one pass over the row, which also gives the derivatives of the next
    step.
    """
    r = f.size
    _inverse(x, model, inv)
    first, second = _derivatives(x, G[0], inv)
    for k in range(r):
        for step in range(n_steps):
            k_next = k if step < n_steps - 1 else (k + 1) % r
            value = f[k]
            target, grad = _newton_target(value, c[k], first, second, weight)
            s = target - value
            if s == 0.0:
                if k_next != k:
                    first, second = _derivatives(x, G[k_next], inv)
                continue
            penalty_term = weight.alpha * s * s if weight.degree != 1.0 else 0.0
            accepted = False
            for _ in range(_MAX_HALVINGS):
                bound, first, second = _move(x, G[k], G[k_next], s, model, inv)
                if s * grad + penalty_term + bound < 0.0:
                    accepted = True
                    break
                _undo(x, G[k], s, model, inv)
                s *= 0.5
                penalty_term *= 0.25
            if accepted:  # (f + s may round below the floor)
                f[k] = max(value + s, EPSILON)
            else:
                first, second = _derivatives(x, G[k_next], inv)


@njit(cache=True, error_model="numpy")
def cd_sweep(nonzeros, F, Gt, weight, model, n_steps):
    """One cyclic sweep over the entries of ``F`` for ``X ~ F Gt^T``, in place.

    ``nonzeros`` are the rows of X (for W) or of X^T (for H = F^T),
    ``weight`` the :class:`~skfactor.decomposition._mm_steps.Penalty` of F,
    ``model`` the values of ``F Gt^T`` at the nonzeros (in the order of
    ``nonzeros``), updated along. The rows of ``Gt`` at a row's nonzeros are
    gathered once, as the contiguous columns its steps sweep.
    """
    r = F.shape[1]
    c = _column_sums(Gt)
    indptr, indices = nonzeros.indptr, nonzeros.indices
    longest = 0
    for i in range(F.shape[0]):
        longest = max(longest, indptr[i + 1] - indptr[i])
    gathered = np.empty(r * longest)
    inv = np.empty(longest)
    for i in range(F.shape[0]):
        start, stop = indptr[i], indptr[i + 1]
        size = stop - start
        G = gathered[: r * size].reshape((r, size))
        for q in range(size):
            j = indices[start + q]
            for k in range(r):
                G[k, q] = Gt[j, k]
        _row_sweep(
            nonzeros.data[start:stop],
            G,
            F[i],
            c,
            weight,
            model[start:stop],
            inv[:size],
            n_steps,
        )


@njit(cache=True, error_model="numpy")
def dense_cd_sweep(X, F, G, weight, model, n_steps):
    """:func:`cd_sweep` over the rows of a dense ``X ~ F G`` (``G`` of shape
    ``(r, n)`` and ``model = F G``, both C-contiguous), zeros included."""
    c = np.zeros(G.shape[0])
    for k in range(G.shape[0]):
        for j in range(G.shape[1]):
            c[k] += G[k, j]
    inv = np.empty(X.shape[1])
    for i in range(F.shape[0]):
        _row_sweep(X[i], G, F[i], c, weight, model[i], inv, n_steps)


@njit(cache=True)
def model_values(nonzeros, F, Gt, model):
    """``model = (F Gt^T)`` at the nonzeros, in their order."""
    r = F.shape[1]
    for i in range(F.shape[0]):
        for p in range(nonzeros.indptr[i], nonzeros.indptr[i + 1]):
            j = nonzeros.indices[p]
            y = 0.0
            for k in range(r):
                y += F[i, k] * Gt[j, k]
            model[p] = max(y, _TINY)


def _rows(X):
    """:class:`~skfactor.decomposition._objective.Nonzeros` of X (CSR rows)."""
    return csr_arrays(sp.csr_matrix(X) if not sp.issparse(X) else X)


def _transposed(X):
    """:class:`~skfactor.decomposition._objective.Nonzeros` of X and of X^T,
    and where each nonzero of X^T sits among those of X."""
    rows = _rows(X)
    layout = (rows.indices, rows.indptr)
    rows_T = csr_arrays(sp.csr_matrix((rows.data, *layout), shape=X.shape).T.tocsr())
    # the transpose of the positions 1..nnz (all nonzero, so none is dropped)
    positions = np.arange(1, rows.data.size + 1, dtype=np.float64)
    moved = sp.csr_matrix((positions, *layout), shape=X.shape).T.tocsr()
    return rows, rows_T, moved.data.astype(np.int64) - 1


#: Dense X with at least this fraction of nonzeros is swept row by row, zeros
#: included (:class:`DenseKLCoordinateDescent`): contiguous rows, no gather,
#: the model by BLAS. The two layouts cost the same at 45-50% density (by
#: hand, at 200 x 120, 1000 x 500 and 943 x 1682, rank 8-10).
DENSE_MIN_DENSITY = 0.5


class KLCoordinateDescent:
    """Kullback-Leibler iterations by cyclic coordinate descent (CSR rows).

    One iteration: ``n_inner`` sweeps over W, ``n_inner`` over H (from the
    model the W-sweeps updated, permuted to the order of X^T's nonzeros),
    balancing (if ``balance_every``), then the model at the nonzeros
    recomputed from the factors (so rounding errors of the incremental
    updates do not accumulate) and the objective evaluated from it. With
    ``fit_H=False``, only the sweeps over W (H fixed, no balancing), and X^T
    is never formed.
    """

    def __init__(self, X, W, H, penalties, **options):
        self._set_factors(W, H, penalties, **options)
        if self.fit_H:
            self.rows, self.rows_T, self.to_T = _transposed(X)
        else:
            self.rows = _rows(X)
        self.data = self.rows.data
        self.data_sum = float(self.data.sum())
        self.model = np.empty(self.data.size)
        self.model_T = np.empty(self.data.size) if self.fit_H else None
        self.ratio = np.empty(self.data.size)  # scratch of the objective

    def _set_factors(self, W, H, penalties, *, balance_every, n_inner, fit_H=True):
        """The factors (``W`` and ``Ht = H^T``, C-contiguous copies), penalties
        and options, as both layouts hold them."""
        self.fit_H = fit_H
        self.set_factors(W, H)
        self.penalties = penalties
        self.balance_every, self.n_inner = balance_every, n_inner

    def _objective(self):
        model_values(self.rows, self.W, self.Ht, self.model)
        log_term = kl_log_term(self.data, self.model, self.ratio)
        return log_term + kl_objective_rest(
            self.data_sum, self.W, self.Ht, self.penalties
        )

    def _sweep_W(self):
        cd_sweep(self.rows, self.W, self.Ht, self.penalties.W, self.model, NEWTON_STEPS)

    def _sweep_H(self):
        # the model the W-sweeps updated, in the order of X^T's nonzeros
        np.take(self.model, self.to_T, out=self.model_T)
        for _ in range(self.n_inner):
            cd_sweep(
                self.rows_T,
                self.Ht,
                self.W,
                self.penalties.H,
                self.model_T,
                NEWTON_STEPS,
            )

    def start(self):
        """The objective at the current factors (the model formed with it),
        computed once for each set of factors."""
        if self._current is None:
            self._current = self._objective()
        return self._current

    def set_factors(self, W, H):
        """Continue from ``(W, H)`` (copied; the model is formed anew by the
        next :meth:`start`)."""
        self.W = np.array(W, dtype=np.float64, order="C")
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self._current = None

    def iterate(self, n_steps):
        """One iteration (whatever ``n_steps``); its objective."""
        for _ in range(self.n_inner):
            self._sweep_W()
        if self.fit_H:
            self._sweep_H()
            if self.balance_every:
                balance_in_place(self.W, self.Ht, self.penalties)
        self._current = self._objective()
        return [self._current]

    def keep(self, step):
        pass

    def factors(self):
        return self.W, np.ascontiguousarray(self.Ht.T)


class DenseKLCoordinateDescent(KLCoordinateDescent):
    """:class:`KLCoordinateDescent` on the rows of a dense X, zeros included.

    Holds X and X^T (C-contiguous) and the dense models WH and (WH)^T,
    formed by BLAS products; the other factor is passed transposed, so that
    every pass of a step runs over contiguous memory.
    """

    def __init__(self, X, W, H, penalties, **options):
        self._set_factors(W, H, penalties, **options)
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.data_sum = float(self.X.sum())
        self.model = np.empty(self.X.shape)
        self.X_T = self.model_T = np.empty((0, 0))
        if self.fit_H:  # X^T and its model, for the H-sweeps only
            self.X_T = np.ascontiguousarray(self.X.T)
            self.model_T = np.empty(self.X_T.shape)
        self.ratio = np.empty(self.X.shape)  # scratch of the objective
        self.batch = batch_size(self.X, self.W.shape[1])
        self.record = None

    def iterate(self, n_steps):
        """One iteration, or a compiled batch of at most ``n_steps`` on
        small data (:func:`~._batches.batch_size`); their objectives."""
        if self.batch == 1:
            return super().iterate(n_steps)
        self.start()  # (the model at the current factors)
        record = BatchRecord(min(self.batch, n_steps), self.W, self.Ht)
        _dense_batch(
            (self.X, self.X_T, self.data_sum),
            self.W,
            self.Ht,
            self.penalties,
            (bool(self.fit_H), bool(self.balance_every), int(self.n_inner)),
            (self.model, self.model_T, self.ratio),
            record.arrays(),
        )
        self.record = record
        self._current = record.values[-1]
        return record.values

    def keep(self, step):
        """Make the ``step``-th iterate of the last batch the current one."""
        if self.record is None or step == self.record.values.size - 1:
            return
        W, Ht = self.record.factors(step)
        self.set_factors(W, Ht.T)
        self.record = None

    def _objective(self):
        return dense_kl_objective(
            self.X,
            self.W,
            self.Ht,
            self.data_sum,
            self.penalties,
            self.model,
            self.ratio,
        )

    def _sweep_W(self):
        H = np.ascontiguousarray(self.Ht.T)
        dense_cd_sweep(self.X, self.W, H, self.penalties.W, self.model, NEWTON_STEPS)

    def _sweep_H(self):
        W_T = np.ascontiguousarray(self.W.T)
        np.matmul(self.Ht, W_T, out=self.model_T)
        for _ in range(self.n_inner):
            dense_cd_sweep(
                self.X_T, self.Ht, W_T, self.penalties.H, self.model_T, NEWTON_STEPS
            )


@njit(cache=True, error_model="numpy")
def _dense_batch(data, W, Ht, penalties, options, buffers, record):
    """``len(values)`` iterations of :class:`DenseKLCoordinateDescent`,
    compiled (in place on ``W`` and ``Ht``).

    ``data`` is ``(X, X_T, data_sum)`` (``X_T`` empty without ``fit_H``),
    ``options`` ``(fit_H, balance_every, n_inner)``, ``buffers`` the models
    ``(WH, (WH)^T, scratch)`` of X's and X^T's shapes, ``WH`` formed at the
    current factors; ``record`` is ``(values, W_history, Ht_history)``,
    the objective and the factors after every iteration.
    """
    X, X_T, data_sum = data
    fit_H, balance_every, n_inner = options
    model, model_T, ratio = buffers
    for t in range(record[0].size):
        H = np.ascontiguousarray(Ht.T)
        for _ in range(n_inner):
            dense_cd_sweep(X, W, H, penalties.W, model, NEWTON_STEPS)
        if fit_H:
            W_T = np.ascontiguousarray(W.T)
            np.dot(Ht, W_T, model_T)
            for _ in range(n_inner):
                dense_cd_sweep(X_T, Ht, W_T, penalties.H, model_T, NEWTON_STEPS)
            if balance_every:
                balance_in_place(W, Ht, penalties)
        np.dot(W, np.ascontiguousarray(Ht.T), model)
        log_term = kl_log_term(X.reshape(-1), model.reshape(-1), ratio.reshape(-1))
        value = log_term + kl_objective_rest(data_sum, W, Ht, penalties)
        store_iterate(record, t, value, W, Ht)


def kl_coordinate_descent(X, W, H, penalties, **options):
    """The coordinate-descent state for X's layout: dense rows for dense X with
    at least :data:`DENSE_MIN_DENSITY` nonzeros, gathered nonzeros otherwise
    (``options``: ``balance_every``, ``n_inner``, ``fit_H``)."""
    dense = not sp.issparse(X) and n_nonzeros(X) >= DENSE_MIN_DENSITY * X.size
    state = DenseKLCoordinateDescent if dense else KLCoordinateDescent
    return state(X, W, H, penalties, **options)
