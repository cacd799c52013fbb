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
- each iteration first tries the active-set point (binding variables at
  the bound, free ones re-solved for that move, :func:`_bound_step`): the
  projected gradient step alone moves a binding variable with a small
  gradient to the bound over tens of iterations (for Frobenius, whose
  Newton model is exact, the point is the minimizer once the binding set is
  right; a Kullback-Leibler digits row took 121 iterations without it, 7
  with it);
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
:math:`XH^\top` and :math:`HH^\top`. On dense data with rows of at least
64 entries (fewer at higher rank,
:func:`~._newton_blocks._block_pass_pays`) the Kullback-Leibler derivatives
of blocks of rows come from three BLAS products instead, and the models at
the rows' first trial points from a fourth
(:func:`~._newton_blocks._kl_blas_pass`); the step of a row
(:func:`~._newton_step._row_step`) is the same in both passes. The modules:
this one is the solver and the pass over rows,
:mod:`~skfactor.decomposition._newton_step` the step of one row,
:mod:`~skfactor.decomposition._newton_blocks` the pass over blocks.
"""

from collections import namedtuple

import numpy as np
import scipy.sparse as sp
from numba import njit
from sklearn.utils.extmath import safe_sparse_dot

from ..utils._monitor import ConvergenceMonitor
from ..utils._penalties import penalty_degree, penalty_values
from ._mm_steps import Penalty
from ._newton_blocks import _block_pass_pays, _kl_blas_pass, _pairs
from ._newton_step import (
    _dot,
    _gram_rows,
    _prepare_row,
    _quadratic_form,
    _row_buffers,
    _row_step,
)
from ._objective import EPSILON, Nonzeros, beta_divergence, csr_arrays

#: Iteration cap of the Newton solver. It typically needs fewer than 10, but
#: a row whose objective is nearly flat along some direction (a near-singular
#: Hessian) can crawl along it: a digits row (tests/test_nmf.py) needed 121
#: before the active-set point was tried for Kullback-Leibler too.
#: Only the rows still active iterate, so a high cap costs nothing elsewhere.
NEWTON_MAX_ITER = 500

#: The Frobenius terms of a row's objective: ``X H^T``, ``H H^T`` and the
#: squared norms of the rows of X.
Quadratic = namedtuple("Quadratic", ["XHt", "HHt", "x_sq"])


@njit(cache=True, error_model="numpy")
def _newton_pass(nonzeros, Ht, quadratic, beta, weight, W, active):
    """One projected Newton iteration on the active rows of ``W`` (in place).

    Kullback-Leibler (``beta == 1``) uses the :class:`Nonzeros` of X and
    ``Ht = H.T``, a compiled loop over each row's nonzeros for the
    derivatives; Frobenius uses the :class:`Quadratic` terms
    ``XHt = X H^T``, ``HHt = H H^T`` and the squared norms ``x_sq`` of the
    rows of X. ``weight`` is the :class:`Penalty` of W; rows that converge
    (:func:`~._newton_step._row_step`) leave ``active``. Returns the total change of the
    objective.
    """
    indptr, indices, data = nonzeros
    XHt, HHt, x_sq = quadratic
    n, r = W.shape
    h_sum = np.zeros(r)
    for j in range(Ht.shape[0]):
        for k in range(r):
            h_sum[k] += Ht[j, k]
    model, ratios, hess, scratch = _row_buffers(indptr, r)
    # the row's components scaled by the root of their curvature: the KL
    # Hessian is scaled^T scaled
    scaled = np.empty((model.size, r))
    grad_fit = np.empty(r)
    no_hht = np.empty((0, 0))
    total_change = 0.0
    for i in range(n):
        if not active[i]:
            continue
        w = W[i]
        start, stop = indptr[i], indptr[i + 1]
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
            size = _prepare_row(w, grad_fit, size, weight, scratch)
            _gram_rows(scaled, stop - start, scratch[4], hess)
            kl_row = (Ht, h_sum, data[start:stop], indices[start:stop], model, ratios)
            change, converged = _row_step(
                w, grad_fit, hess, size, weight, kl_row, no_hht, scratch
            )
        else:
            for k in range(r):
                grad_fit[k] = _dot(HHt[k], w) - XHt[i, k]
            size = 0.5 * (x_sq[i] + _quadratic_form(HHt, w, w))
            size = _prepare_row(w, grad_fit, size, weight, scratch)
            for k in range(r):
                if not scratch[4][k]:
                    for q in range(r):
                        hess[k, q] = HHt[k, q]
            kl_row = (Ht, h_sum, data[:0], indices[:0], model, ratios)
            change, converged = _row_step(
                w, grad_fit, hess, size, weight, kl_row, HHt, scratch
            )
        total_change += change
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
    blas = beta == 1 and not sp.issparse(X) and _block_pass_pays(X.shape[1], r)
    if blas:
        X = np.asarray(X, dtype=np.float64)
        kl_terms = (Ht, Ht.sum(axis=0), X.sum(axis=1))
        pairs = _pairs(Ht)
    monitor = ConvergenceMonitor(
        0.0, max_iter, verbose=verbose, name=name, objective_name=objective_name
    )
    monitor.start(value)
    active = np.ones(n, dtype=np.bool_)
    while True:
        if blas:
            value += _kl_blas_pass(X, H, csr, kl_terms, pairs, weight, W, active)
        else:
            value += _newton_pass(csr, Ht, quadratic, int(beta), weight, W, active)
        stop = monitor.update(value)
        if not active.any():
            monitor.converged = True
            break
        if stop:
            break
    return W, monitor
