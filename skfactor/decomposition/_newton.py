r"""Penalized nonnegative regression on fixed components by projected Newton.

With the components :math:`H` fixed, the activations of the penalized
beta-divergence NMF solve

.. math::

    \min_{W \ge \epsilon} D_\beta(X \mid WH) + \alpha\, g(W),

a convex problem that separates over the rows of :math:`W`. Multiplicative
updates converge sublinearly on it (entries that tend to the bound decrease
like :math:`1/k`), so ``transform`` and the final W-step of ``fit`` use a
projected Newton method (Bertsekas, 1982) instead, vectorized over rows:

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
precision, and stops moving. The solver stops when every row has converged.
Rows are independent: a row's iterates depend only on that row of ``X``.
Sparse ``X`` (CSR) is never densified.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy
from sklearn.utils.extmath import safe_sparse_dot

from ..utils._monitor import ConvergenceMonitor
from ._mu import (
    EPSILON,
    beta_divergence,
    model_at_support,
    penalty_degree,
    penalty_values,
)

#: Iteration cap of the Newton solver (it typically needs fewer than 10).
NEWTON_MAX_ITER = 100
#: Relative rounding noise of a row's objective: a row whose Newton decrement
#: is below it has converged.
NOISE = 1e-13
_ARMIJO = 1e-4
_MAX_BACKTRACK = 40
# Bound on the size (entries) of the (rows, r, n) temporaries of the Hessian.
_CHUNK = 1 << 22


class _RowProblem:
    """Fit term of every row of ``X`` for fixed components ``H``."""

    def __init__(self, X, H, beta):
        self.X = X.tocsr() if sp.issparse(X) else X
        self.H = H
        self.beta = beta
        self.sparse = sp.issparse(X)
        if beta == 1:
            self.h_sum = H.sum(axis=1)
        else:
            self.XHt = np.asarray(safe_sparse_dot(self.X, H.T))
            self.HHt = H @ H.T
            squares = self.X.multiply(self.X) if self.sparse else self.X * self.X
            self.x_sq = np.asarray(squares.sum(axis=1)).ravel()

    def model(self, W, rows=None):
        """``W @ H`` (dense X) or its values at the nonzeros of X (sparse X)."""
        X = self.X if rows is None else self.X[rows]
        if self.sparse:
            return model_at_support(X, W, self.H)
        return W @ self.H

    def row_sizes(self, W):
        """Size of each row's fit term, to tell changes from rounding noise."""
        if self.beta == 1:
            return np.asarray(self.X.sum(axis=1)).ravel() + W @ self.h_sum
        return 0.5 * (self.x_sq + np.einsum("ij,jk,ik->i", W, self.HHt, W))

    def derivatives(self, W, Y):
        """Gradient (n, r) and Hessians (n, r, r) of the fit term."""
        n, r = W.shape
        if self.beta == 2:
            grad = W @ self.HHt - self.XHt
            return grad, np.broadcast_to(self.HHt, (n, r, r)).copy()
        if self.sparse:
            X = self.X
            ratio = sp.csr_matrix((X.data / Y, X.indices, X.indptr), shape=X.shape)
            curvature = sp.csr_matrix(
                (X.data / Y**2, X.indices, X.indptr), shape=X.shape
            )
            grad = self.h_sum[np.newaxis, :] - np.asarray(ratio @ self.H.T)
            hess = np.empty((n, r, r))
            for k in range(r):
                for l in range(k, r):
                    hess[:, k, l] = hess[:, l, k] = curvature @ (self.H[k] * self.H[l])
            return grad, hess
        grad = self.h_sum[np.newaxis, :] - (self.X / Y) @ self.H.T
        curvature = self.X / Y**2
        hess = np.empty((n, r, r))
        step = max(1, _CHUNK // max(1, r * self.H.shape[1]))
        for start in range(0, n, step):
            block = curvature[start : start + step]
            hess[start : start + step] = (
                block[:, np.newaxis, :] * self.H[np.newaxis]
            ) @ self.H.T
        return grad, hess

    def change(self, rows, W, W_new, Y, grad_fit):
        """Change of the fit term of ``rows`` from ``W`` to ``W_new``.

        ``W``, ``W_new`` and ``grad_fit`` are restricted to ``rows``; ``Y``
        is :meth:`model` of the full ``W``.
        """
        delta = W_new - W
        if self.beta == 2:
            return np.einsum("ij,ij->i", delta, grad_fit) + 0.5 * np.einsum(
                "ij,jk,ik->i", delta, self.HHt, delta
            )
        linear = delta @ self.h_sum
        X = self.X[rows]
        if self.sparse:
            at_rows = sp.csr_matrix((Y, self.X.indices, self.X.indptr), shape=self.X.shape)
            ratio = model_at_support(X, W_new, self.H) / at_rows[rows].data
            terms = xlogy(X.data, ratio)
            row_of = np.repeat(np.arange(rows.size), np.diff(X.indptr))
            return linear - np.bincount(row_of, weights=terms, minlength=rows.size)
        return linear - xlogy(X, (W_new @ self.H) / Y[rows]).sum(axis=1)


def _penalty_derivatives(W, alpha, degree):
    if degree == 1:
        return np.full_like(W, alpha), 0.0
    return 2.0 * alpha * W, 2.0 * alpha


def _penalty_change(W, W_new, alpha, degree):
    if degree == 1:
        return alpha * (W_new - W).sum(axis=1)
    return alpha * ((W_new - W) * (W_new + W)).sum(axis=1)


def _penalty_rows(W, alpha, degree):
    """Penalty of each row of W (:func:`penalty_values` of the rows)."""
    return alpha * penalty_values(W.T, degree)


def _newton_direction(W, grad, hess, sizes):
    """Projected Newton direction and the decrease it promises, per row.

    ``sizes`` is the size of each row's objective (for the damping).
    """
    n, r = W.shape
    # epsilon-binding set: near the bound with a positive gradient
    residual = np.linalg.norm(W - np.maximum(W - grad, EPSILON), axis=1)
    margin = np.minimum(residual, 1e-3)[:, np.newaxis]
    binding = (W - EPSILON <= margin) & (grad > 0)
    free = ~binding
    reduced = np.where(free[:, :, np.newaxis] & free[:, np.newaxis, :], hess, 0.0)
    # curvature scale of each row; without curvature (e.g. a zero row of X
    # with Kullback-Leibler), a step of the size of W itself
    scale = np.einsum("ikk->ik", reduced).max(axis=1)
    flat = scale <= 0
    scale[flat] = np.abs(grad[flat]).max(axis=1) / W[flat].max(axis=1)
    scale = np.maximum(scale, np.finfo(float).tiny)[:, np.newaxis]
    free_grad = np.where(free, grad, 0.0)
    # Levenberg-Marquardt damping ||g||^2 / f (f: size of the row's
    # objective): the Hessian can be singular (a row of X with fewer nonzeros
    # than components leaves directions in which the objective is linear),
    # and the damping bounds the step there; it vanishes quadratically at the
    # optimum, keeping the convergence quadratic
    regularization = np.einsum("ij,ij->i", free_grad, free_grad) / np.maximum(
        sizes, np.finfo(float).tiny
    )
    damping = (
        1e-12 * scale + regularization[:, np.newaxis] + np.where(binding, scale, 0.0)
    )
    reduced = reduced + damping[:, :, np.newaxis] * np.eye(r)
    direction = -np.linalg.solve(reduced, free_grad[:, :, np.newaxis])[:, :, 0]
    direction = np.where(binding, -grad / scale, direction)
    # Newton decrement on the free variables plus the decrease of the
    # projected gradient step on the binding ones: >= 0, 0 when stationary
    binding_step = np.maximum(W + np.where(binding, direction, 0.0), EPSILON) - W
    promised = -np.einsum("ij,ij->i", free_grad, direction) - np.einsum(
        "ij,ij->i", np.where(binding, grad, 0.0), binding_step
    )
    return direction, promised


def solve_activations(
    X,
    H,
    W,
    *,
    beta,
    alpha,
    penalty,
    constant=0.0,
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
    problem = _RowProblem(X, H, beta)
    W = np.maximum(W, EPSILON)
    n = W.shape[0]
    value = (
        beta_divergence(X, W, H, beta) + _penalty_rows(W, alpha, degree).sum() + constant
    )
    monitor = ConvergenceMonitor(
        0.0, max_iter, verbose=verbose, name=name, objective_name=objective_name
    )
    monitor.start(value)
    while True:
        Y = problem.model(W)
        grad_fit, hess = problem.derivatives(W, Y)
        d_pen, h_pen = _penalty_derivatives(W, alpha, degree)
        if h_pen:
            hess = hess + h_pen * np.eye(W.shape[1])
        grad = grad_fit + d_pen
        sizes = problem.row_sizes(W) + _penalty_rows(W, alpha, degree)
        direction, promised = _newton_direction(W, grad, hess, sizes)
        noise = NOISE * sizes
        converged = promised <= noise
        # Armijo backtracking per row; converged rows only try the full step
        step = np.ones(n)
        pending = np.arange(n)
        W_new = W.copy()
        change = np.zeros(n)
        for _ in range(_MAX_BACKTRACK):
            if pending.size == 0:
                break
            trial = np.maximum(
                W[pending] + step[pending, np.newaxis] * direction[pending], EPSILON
            )
            delta_f = problem.change(
                pending, W[pending], trial, Y, grad_fit[pending]
            ) + _penalty_change(W[pending], trial, alpha, degree)
            bound = _ARMIJO * np.einsum("ij,ij->i", grad[pending], trial - W[pending])
            accepted = delta_f <= bound + noise[pending]
            W_new[pending[accepted]] = trial[accepted]
            change[pending[accepted]] = delta_f[accepted]
            pending = pending[~accepted & ~converged[pending]]
            step[pending] *= 0.5
        W = W_new
        value += float(change.sum())
        stop = monitor.update(value)
        if np.all(converged):
            monitor.converged = True
            break
        if stop:
            break
    return W, monitor
