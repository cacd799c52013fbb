r"""Penalized nonnegative regression on fixed components by projected Newton.

With the components :math:`H` fixed, the activations of the penalized
beta-divergence NMF solve

.. math::

    \min_{W \ge \epsilon} D_\beta(X \mid WH) + \alpha\, g(W),

a convex problem that separates over the rows of :math:`W`. Multiplicative
updates converge sublinearly on it (entries that tend to the bound decrease
like :math:`1/k`), so ``transform`` and the final W-step of ``fit`` use a
projected Newton method (Bertsekas, 1982) instead, row by row:

- the Newton system is solved on the free variables; variables at the bound
  :math:`\epsilon` whose gradient is positive (the :math:`\epsilon`-binding
  set) take a projected gradient step;
- each row has its own Armijo backtracking along the projection arc,
  :math:`f(w(t)) \le f(w) + \sigma\, \nabla f(w)^\top (w(t) - w)`, with the
  change of objective computed directly (from the log of the ratio of new to
  old model for Kullback-Leibler, the exact quadratic change for Frobenius)
  rather than as a difference of two large numbers, so the method converges
  to full precision.

A row has converged when its Newton decrement (plus the decrease promised by
the step on its binding variables) is below the rounding noise of its
objective; it then takes the full Newton step, which lands at rounding
precision, and stops. The solver stops when every row has converged.
Rows are independent: a row's iterates depend only on that row of ``X``.
Each iteration is one compiled pass (numba) over the rows that have not
converged; for Kullback-Leibler it visits only the nonzeros of ``X``
(sparse ``X`` is never densified), and for Frobenius it needs only
:math:`XH^\top` and :math:`HH^\top`.
"""

from collections import namedtuple

import numpy as np
import scipy.sparse as sp
from numba import njit
from sklearn.utils.extmath import safe_sparse_dot

from ..utils._small_linalg import cholesky_solve_in_place
from ..utils._monitor import ConvergenceMonitor
from ..utils._penalties import penalty_degree, penalty_values
from ._mm_steps import Penalty
from ._objective import EPSILON, Nonzeros, beta_divergence, csr_arrays

#: Iteration cap of the Newton solver (it typically needs fewer than 10).
NEWTON_MAX_ITER = 100
#: Relative rounding noise of a row's objective: a row whose Newton decrement
#: is below it has converged.
NOISE = 1e-13
_ARMIJO = 1e-4
# Rows of at least this many nonzeros get their Kullback-Leibler Hessian by a
# BLAS product (measured: 120 nonzeros, rank 8, faster without; 300, rank
# 10, 25% faster with)
_BLAS_ROW = 200
_MAX_BACKTRACK = 40
_TINY = np.finfo(np.float64).tiny

#: The Frobenius terms of a row's objective: ``X H^T``, ``H H^T`` and the
#: squared norms of the rows of X.
Quadratic = namedtuple("Quadratic", ["XHt", "HHt", "x_sq"])


@njit(cache=True)
def _dot(a, b):
    total = 0.0
    for k in range(a.size):
        total += a[k] * b[k]
    return total


@njit(cache=True)
def _quadratic_form(A, u, v):
    """``u @ A @ v``."""
    total = 0.0
    for k in range(u.size):
        total += u[k] * _dot(A[k], v)
    return total


@njit(cache=True)
def _newton_direction(w, grad, hess, size, binding, direction):
    """Projected Newton direction of one row and the decrease it promises.

    ``size`` is the size of the row's objective (for the damping);
    ``hess`` and ``binding`` are overwritten.
    """
    r = w.size
    # epsilon-binding set: near the bound with a positive gradient
    residual = 0.0
    for k in range(r):
        gap = w[k] - max(w[k] - grad[k], EPSILON)
        residual += gap * gap
    margin = min(np.sqrt(residual), 1e-3)
    for k in range(r):
        binding[k] = w[k] - EPSILON <= margin and grad[k] > 0
    # curvature scale of the row; without curvature (e.g. a zero row of X
    # with Kullback-Leibler), a step of the size of w itself
    scale = 0.0
    for k in range(r):
        for q in range(r):
            if binding[k] or binding[q]:
                hess[k, q] = 0.0
        scale = max(scale, hess[k, k])
    if scale <= 0:
        largest_grad, largest_w = 0.0, 0.0
        for k in range(r):
            largest_grad = max(largest_grad, abs(grad[k]))
            largest_w = max(largest_w, w[k])
        scale = largest_grad / largest_w
    scale = max(scale, _TINY)
    # Levenberg-Marquardt damping ||g||^2 / f (f: size of the row's
    # objective): the Hessian can be singular (a row of X with fewer nonzeros
    # than components leaves directions in which the objective is linear),
    # and the damping bounds the step there; it vanishes quadratically at the
    # optimum, keeping the convergence quadratic
    free_norm = 0.0
    for k in range(r):
        if not binding[k]:
            free_norm += grad[k] * grad[k]
    regularization = free_norm / max(size, _TINY)
    for k in range(r):
        hess[k, k] += 1e-12 * scale + regularization + (scale if binding[k] else 0.0)
        direction[k] = 0.0 if binding[k] else -grad[k]
    cholesky_solve_in_place(hess, direction.reshape((r, 1)))
    # Newton decrement on the free variables plus the decrease of the
    # projected gradient step on the binding ones: >= 0, 0 when stationary
    promised = 0.0
    for k in range(r):
        if binding[k]:
            direction[k] = -grad[k] / scale
            promised -= grad[k] * (max(w[k] + direction[k], EPSILON) - w[k])
        else:
            promised -= grad[k] * direction[k]
    return promised


@njit(cache=True)
def _gram(scaled, n_rows, hess):
    """``scaled[:n_rows]^T scaled[:n_rows]`` into ``hess``: one BLAS product
    for long rows, rank-one updates below ``_BLAS_ROW`` rows (where the
    call costs more than the arithmetic)."""
    rows = scaled[:n_rows]
    if n_rows >= _BLAS_ROW:
        hess[:, :] = np.dot(rows.T, rows)
        return
    r = hess.shape[0]
    hess[:, :] = 0.0
    for p in range(n_rows):
        for k in range(r):
            c = rows[p, k]
            for q in range(r):
                hess[k, q] += c * rows[p, q]


@njit(cache=True, error_model="numpy")
def _newton_pass(nonzeros, Ht, quadratic, beta, weight, W, active):
    """One projected Newton iteration on the active rows of ``W`` (in place).

    Kullback-Leibler (``beta == 1``) uses the :class:`Nonzeros` of X and
    ``Ht = H.T``; Frobenius uses the :class:`Quadratic` terms
    ``XHt = X H^T``, ``HHt = H H^T`` and the squared norms ``x_sq`` of the
    rows of X. ``weight`` is the :class:`Penalty` of W. A row
    whose Newton decrement is below the noise of its objective takes its
    full step (if it passes the line search) and leaves ``active``.
    Returns the total change of the objective.
    """
    indptr, indices, data = nonzeros
    XHt, HHt, x_sq = quadratic
    alpha, degree = weight
    n, r = W.shape
    h_sum = np.zeros(r)
    for j in range(Ht.shape[0]):
        for k in range(r):
            h_sum[k] += Ht[j, k]
    longest = 0
    for i in range(indptr.size - 1):
        longest = max(longest, indptr[i + 1] - indptr[i])
    model = np.empty(longest)
    # the row's components scaled by the root of their curvature: the KL
    # Hessian is scaled^T scaled
    scaled = np.empty((longest, r))
    grad_fit = np.empty(r)
    grad = np.empty(r)
    hess = np.empty((r, r))
    direction = np.empty(r)
    trial = np.empty(r)
    delta = np.empty(r)
    binding = np.empty(r, dtype=np.bool_)
    total_change = 0.0
    for i in range(n):
        if not active[i]:
            continue
        w = W[i]
        start, stop = indptr[i], indptr[i + 1]
        # derivatives of the fit and size of the row's objective
        if beta == 1:
            size = _dot(w, h_sum)
            for k in range(r):
                grad_fit[k] = h_sum[k]
            for p in range(start, stop):
                x = data[p]
                column = Ht[indices[p]]
                y = _dot(w, column)
                model[p - start] = y
                size += x
                # (an explicit zero of X adds nothing, even where y is 0)
                ratio = x / y if x != 0.0 else 0.0
                root = np.sqrt(ratio / y) if x != 0.0 else 0.0
                for k in range(r):
                    grad_fit[k] -= ratio * column[k]
                    scaled[p - start, k] = root * column[k]
            _gram(scaled, stop - start, hess)
        else:
            for k in range(r):
                grad_fit[k] = _dot(HHt[k], w) - XHt[i, k]
                for q in range(r):
                    hess[k, q] = HHt[k, q]
            size = 0.5 * (x_sq[i] + _quadratic_form(HHt, w, w))
        # penalty
        for k in range(r):
            if degree == 1.0:
                grad[k] = grad_fit[k] + alpha
                size += alpha * abs(w[k])
            else:
                grad[k] = grad_fit[k] + 2.0 * alpha * w[k]
                hess[k, k] += 2.0 * alpha
                size += alpha * w[k] * w[k]
        promised = _newton_direction(w, grad, hess, size, binding, direction)
        noise = NOISE * size
        converged = promised <= noise
        # Armijo backtracking; a converged row only tries the full step
        step = 1.0
        for _ in range(_MAX_BACKTRACK):
            for k in range(r):
                trial[k] = max(w[k] + step * direction[k], EPSILON)
                delta[k] = trial[k] - w[k]
            if beta == 1:
                change = _dot(delta, h_sum)
                for p in range(start, stop):
                    x = data[p]
                    if x != 0.0:
                        y = _dot(trial, Ht[indices[p]])
                        change -= x * np.log(y / model[p - start])
            else:
                change = _dot(delta, grad_fit)
                change += 0.5 * _quadratic_form(HHt, delta, delta)
            for k in range(r):
                if degree == 1.0:
                    change += alpha * delta[k]
                else:
                    change += alpha * delta[k] * (trial[k] + w[k])
            if change <= _ARMIJO * _dot(grad, delta) + noise:
                for k in range(r):
                    w[k] = trial[k]
                total_change += change
                break
            if converged:
                break
            step *= 0.5
        if converged:
            active[i] = False
    return total_change


def solve_activations(
    X,
    H,
    W,
    *,
    beta,
    alpha,
    penalty,
    constant=0.0,
    initial_objective=None,
    max_iter=NEWTON_MAX_ITER,
    verbose=0,
    name="Newton",
    objective_name="objective",
):
    r"""Minimize :math:`D_\beta(X \mid WH) + \alpha g(W)` over :math:`W \ge \epsilon`.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n, m)
        Nonnegative data.
    H : ndarray of shape (r, m)
        Fixed components, entries > 0.
    W : ndarray of shape (n, r)
        Starting point.
    beta : {1, 2}
        Kullback-Leibler or Frobenius fit term.
    alpha : float
        Penalty weight.
    penalty : {"l1", "l2"}
        Penalty of W.
    constant : float, default=0.0
        Added to the objective tracked by the monitor (e.g. the penalty of
        ``H``), for reporting only.
    initial_objective : float, default=None
        The tracked objective at ``W`` (constant included) when the caller
        already has it; computed otherwise.
    max_iter : int, default=NEWTON_MAX_ITER
    verbose : int, default=0
    name, objective_name : str
        For the verbose output, see
        :class:`~skfactor.utils._monitor.ConvergenceMonitor`.

    Returns
    -------
    W : ndarray of shape (n, r)
        Minimizer, entries ``>= EPSILON``.
    monitor : ConvergenceMonitor
        Objective history; ``converged`` when every row has converged. Its
        relative-change rule is disabled (``tol=0``): near the optimum the
        objective changes quadratically less than ``W``, so the rows'
        Newton decrements decide.
    """
    degree = penalty_degree(penalty)
    weight = Penalty(float(alpha), degree)
    H = np.asarray(H, dtype=np.float64)
    W = np.array(np.maximum(W, EPSILON), dtype=np.float64, order="C")
    n, r = W.shape
    if initial_objective is None:
        value = (
            beta_divergence(X, W, H, beta)
            + alpha * penalty_values(W, degree).sum()
            + constant
        )
    else:
        value = float(initial_objective)
    empty = np.empty((0, 0))
    if beta == 1:
        csr = csr_arrays(X)
        quadratic = Quadratic(empty, empty, np.empty(0))
    else:
        no_index = np.empty(0, dtype=np.int64)
        csr = Nonzeros(np.zeros(n + 1, dtype=np.int64), no_index, np.empty(0))
        squares = X.multiply(X) if sp.issparse(X) else X * X
        quadratic = Quadratic(
            np.ascontiguousarray(safe_sparse_dot(X, H.T), dtype=np.float64),
            H @ H.T,
            np.asarray(squares.sum(axis=1), dtype=np.float64).ravel(),
        )
    Ht = np.ascontiguousarray(H.T)
    monitor = ConvergenceMonitor(
        0.0, max_iter, verbose=verbose, name=name, objective_name=objective_name
    )
    monitor.start(value)
    active = np.ones(n, dtype=np.bool_)
    while True:
        value += _newton_pass(csr, Ht, quadratic, int(beta), weight, W, active)
        stop = monitor.update(value)
        if not active.any():
            monitor.converged = True
            break
        if stop:
            break
    return W, monitor
