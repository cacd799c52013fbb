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
a step costs the number of nonzeros of its row.

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

from ._mm_steps import balance_in_place
from ._objective import _TINY, EPSILON, csr_arrays, kl_log_term, kl_objective_rest

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
def _derivatives(nonzeros, start, stop, Gt, k, inv):
    r""":math:`\sum x g / y` and :math:`\sum x g^2 / y^2` over a row (``inv = 1/y``)."""
    indices, data = nonzeros.indices, nonzeros.data
    first, second = 0.0, 0.0
    for p in range(start, stop):
        g = Gt[indices[p], k]
        ratio = data[p] * inv[p]
        first += ratio * g
        second += ratio * inv[p] * g * g
    return first, second


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _move(nonzeros, start, stop, Gt, k, s, model, inv, k_next):
    """Add ``s * Gt[:, k]`` to the row's model; the bound term and the next
    derivatives (those of column ``k_next`` at the new model)."""
    indices, data = nonzeros.indices, nonzeros.data
    bound, first, second = 0.0, 0.0, 0.0
    for p in range(start, stop):
        j = indices[p]
        g = Gt[j, k]
        y_new = max(model[p] + s * g, _TINY)
        inv_new = 1.0 / y_new
        # x g^2 / (y y_new) for a step to the left, x g^2 / y^2 to the right
        bound += data[p] * g * g * inv[p] * (inv_new if s < 0.0 else inv[p])
        model[p] = y_new
        inv[p] = inv_new
        g_next = Gt[j, k_next]
        ratio = data[p] * inv_new
        first += ratio * g_next
        second += ratio * inv_new * g_next * g_next
    return 0.5 * s * s * bound, first, second


@njit(cache=True, error_model="numpy")
def _undo(nonzeros, start, stop, Gt, k, s, model, inv):
    for p in range(start, stop):
        model[p] = max(model[p] - s * Gt[nonzeros.indices[p], k], _TINY)
        inv[p] = 1.0 / model[p]


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
def _row_sweep(nonzeros, i, F, Gt, c, weight, model, inv, n_steps):
    """Newton steps on the entries of row ``i`` of F in turn, in place.

    ``model`` and ``inv`` hold the model and its inverse at the row's
    nonzeros (indexed like ``nonzeros``), updated along. Each step is one
    pass over the row, which also gives the derivatives of the next step.
    """
    start, stop = nonzeros.indptr[i], nonzeros.indptr[i + 1]
    r = F.shape[1]
    for p in range(start, stop):
        inv[p] = 1.0 / model[p]
    first, second = _derivatives(nonzeros, start, stop, Gt, 0, inv)
    for k in range(r):
        for step in range(n_steps):
            k_next = k if step < n_steps - 1 else (k + 1) % r
            f = F[i, k]
            target, grad = _newton_target(f, c[k], first, second, weight)
            s = target - f
            if s == 0.0:
                if k_next != k:
                    first, second = _derivatives(nonzeros, start, stop, Gt, k_next, inv)
                continue
            penalty_term = weight.alpha * s * s if weight.degree != 1.0 else 0.0
            accepted = False
            for _ in range(_MAX_HALVINGS):
                bound, first, second = _move(
                    nonzeros, start, stop, Gt, k, s, model, inv, k_next
                )
                if s * grad + penalty_term + bound < 0.0:
                    accepted = True
                    break
                _undo(nonzeros, start, stop, Gt, k, s, model, inv)
                s *= 0.5
                penalty_term *= 0.25
            if accepted:  # (f + s may round below the floor)
                F[i, k] = max(f + s, EPSILON)
            else:
                first, second = _derivatives(nonzeros, start, stop, Gt, k_next, inv)


@njit(cache=True, error_model="numpy")
def cd_sweep(nonzeros, F, Gt, weight, model, n_steps):
    """One cyclic sweep over the entries of ``F`` for ``X ~ F Gt^T``, in place.

    ``nonzeros`` are the rows of X (for W) or of X^T (for H = F^T),
    ``weight`` the :class:`~skfactor.decomposition._mm_steps.Penalty` of F,
    ``model`` the values of ``F Gt^T`` at the nonzeros (in the order of
    ``nonzeros``), updated along.
    """
    c = _column_sums(Gt)
    inv = np.empty(model.size)
    for i in range(F.shape[0]):
        _row_sweep(nonzeros, i, F, Gt, c, weight, model, inv, n_steps)


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


def _transposed(X):
    """:class:`~skfactor.decomposition._objective.Nonzeros` of X and of X^T."""
    X = sp.csr_matrix(X) if not sp.issparse(X) else X
    return csr_arrays(X), csr_arrays(X.T.tocsr())


class KLCoordinateDescent:
    """Kullback-Leibler iterations by cyclic coordinate descent.

    One iteration: ``n_inner`` sweeps over W, ``n_inner`` over H, balancing
    (if ``balance_every``), then the model at the nonzeros recomputed from
    the factors (so rounding errors of the incremental updates do not
    accumulate) and the objective evaluated from it.
    """

    def __init__(self, X, W, H, penalties, *, balance_every, n_inner):
        self.rows, self.rows_T = _transposed(X)
        self.data = self.rows.data
        self.data_sum = float(self.data.sum())
        self.W = np.array(W, dtype=np.float64, order="C")
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self.penalties = penalties
        self.balance_every = balance_every
        self.n_inner = n_inner
        self.model = np.empty(self.data.size)
        self.model_T = np.empty(self.data.size)
        self.ratio = np.empty(self.data.size)  # scratch of the objective

    def _objective(self):
        model_values(self.rows, self.W, self.Ht, self.model)
        log_term = kl_log_term(self.data, self.model, self.ratio)
        return log_term + kl_objective_rest(
            self.data_sum, self.W, self.Ht, self.penalties
        )

    def start(self):
        return self._objective()

    def iterate(self, n_steps):
        """One iteration (whatever ``n_steps``); its objective."""
        for _ in range(self.n_inner):
            cd_sweep(
                self.rows, self.W, self.Ht, self.penalties.W, self.model, NEWTON_STEPS
            )
        model_values(self.rows_T, self.Ht, self.W, self.model_T)
        for _ in range(self.n_inner):
            cd_sweep(
                self.rows_T,
                self.Ht,
                self.W,
                self.penalties.H,
                self.model_T,
                NEWTON_STEPS,
            )
        if self.balance_every:
            balance_in_place(self.W, self.Ht, self.penalties)
        return [self._objective()]

    def keep(self, step):
        pass

    def factors(self):
        return self.W, np.ascontiguousarray(self.Ht.T)
