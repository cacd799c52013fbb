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
64 entries (fewer at higher rank, :func:`_block_pass_pays`) the
Kullback-Leibler derivatives of blocks of rows come from three BLAS products
instead (:func:`_kl_blas_pass`); the step of a row (:func:`_row_step`) is
the same in both passes.
"""

from collections import namedtuple

import numpy as np
import scipy.sparse as sp
from numba import njit
from sklearn.utils.extmath import safe_sparse_dot

from ..utils._log import abnormal, exact_weighted_log_sum, log
from ..utils._small_linalg import cholesky_solve_in_place
from ..utils._monitor import ConvergenceMonitor
from ..utils._penalties import penalty_degree, penalty_values
from ._mm_steps import Penalty
from ._objective import EPSILON, Nonzeros, beta_divergence, csr_arrays

#: Iteration cap of the Newton solver. It typically needs fewer than 10, but
#: a row whose objective is nearly flat along some direction (a near-singular
#: Hessian) can crawl along it: a digits row (tests/test_nmf.py) needed 121
#: before the active-set point was tried for Kullback-Leibler too.
#: Only the rows still active iterate, so a high cap costs nothing elsewhere.
NEWTON_MAX_ITER = 500
#: Relative rounding noise of a row's objective: a row whose Newton decrement
#: is below it has converged.
NOISE = 1e-13
_ARMIJO = 1e-4
# Rows of at least this many nonzeros get their Kullback-Leibler Hessian by a
# BLAS product (measured: 120 nonzeros, rank 8, faster without; 300, rank
# 10, 25% faster with)
_BLAS_ROW = 200
_MAX_BACKTRACK = 40
# Dense data get their Kullback-Leibler derivatives from BLAS products over
# blocks of rows of about _BLOCK_ENTRIES entries (:func:`_kl_blas_pass`)
# when rows have at least _BLOCK_MIN_COLUMNS entries or entries times rank
# reach _BLOCK_MIN_WORK (:func:`_block_pass_pays`). Measured (one BLAS
# thread, December 2026), time of the exact W-step with blocks over rows:
# 0.52-0.89 from 64 columns up (rank 2-30) and at 30-50 columns with rank
# 10-15; 0.94 and 1.07 at 30 and 50 columns with rank 5 (rows there).
_BLOCK_ENTRIES = 1 << 17
_BLOCK_MIN_COLUMNS = 64
_BLOCK_MIN_WORK = 500
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
def _free_damping(w, grad, hess, size, binding):
    """Curvature scale and damping of a row's Newton system on its free
    variables (those not ``binding``).

    The scale is the largest free curvature or, without curvature (e.g. a
    zero row of X with Kullback-Leibler), that of a step of the size of
    ``w`` itself. The damping (added to the free diagonal) is
    Levenberg-Marquardt's ``||g_F||^2 / f`` (f: the size of the row's
    objective) plus ``1e-12`` of the scale: the Hessian can be singular (a
    row of X with fewer nonzeros than components leaves directions in which
    the objective is linear), and the damping bounds the step there; it
    vanishes quadratically at the optimum, keeping the convergence
    quadratic.
    """
    r = w.size
    scale = 0.0
    free_norm = 0.0
    for k in range(r):
        if not binding[k]:
            scale = max(scale, hess[k, k])
            free_norm += grad[k] * grad[k]
    if scale <= 0:
        largest_grad, largest_w = 0.0, 0.0
        for k in range(r):
            largest_grad = max(largest_grad, abs(grad[k]))
            largest_w = max(largest_w, w[k])
        scale = largest_grad / largest_w
    scale = max(scale, _TINY)
    return scale, 1e-12 * scale + free_norm / max(size, _TINY)


@njit(cache=True)
def _solve_free(hess, binding, damping, rhs):
    r"""Overwrite the free entries of ``rhs`` with :math:`(H_{FF} + \lambda
    I)^{-1} r_F`, ``lambda = damping``; ``hess`` is only read.

    The system is gathered on the free variables alone: at the optimum of a
    sparse row most components sit at the bound, so it is far smaller than
    ``r x r`` (2000 rows of 5 nonzeros at rank 500: 5 x 5 systems instead of
    500 x 500 ones).
    """
    free = np.flatnonzero(~binding)
    f = free.size
    system = np.empty((f, f))
    solution = np.empty((f, 1))
    for a in range(f):
        row = hess[free[a]]
        for b in range(f):
            system[a, b] = row[free[b]]
        system[a, a] += damping
        solution[a, 0] = rhs[free[a]]
    cholesky_solve_in_place(system, solution)
    for a in range(f):
        rhs[free[a]] = solution[a, 0]


@njit(cache=True)
def _newton_direction(w, grad, hess, size, binding, direction):
    """Projected Newton direction of one row and the decrease it promises.

    ``size`` is the size of the row's objective (for the damping),
    ``binding`` its epsilon-binding set (:func:`_prepare_row`); ``hess`` is
    only read, on the rows of the free variables.
    """
    r = w.size
    scale, damping = _free_damping(w, grad, hess, size, binding)
    for k in range(r):
        direction[k] = -grad[k]
    _solve_free(hess, binding, damping, direction)
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
def _gram_rows(scaled, n_rows, binding, hess):
    """``scaled[:n_rows]^T scaled[:n_rows]`` into ``hess``, on the rows of
    the variables not ``binding``: one BLAS product (every row) for long
    rows, rank-one updates below ``_BLAS_ROW`` rows (where the call costs
    more than the arithmetic)."""
    rows = scaled[:n_rows]
    if n_rows >= _BLAS_ROW:
        hess[:, :] = np.dot(rows.T, rows)
        return
    r = hess.shape[0]
    for k in range(r):
        if not binding[k]:
            hess[k, :] = 0.0
    for p in range(n_rows):
        for k in range(r):
            if binding[k]:
                continue
            c = rows[p, k]
            for q in range(r):
                hess[k, q] += c * rows[p, q]


@njit(cache=True, error_model="numpy")
def _kl_change(trial, delta, kl_row):
    r"""Change of a row's Kullback-Leibler fit from ``w`` to ``trial = w +
    delta``: :math:`\delta^\top \sum_j h_j - \sum_j x_j \log(y_j(t) /
    y_j)` over the row's nonzeros.

    ``kl_row`` is ``(Ht, h_sum, data, indices, model, ratios)``: ``Ht =
    H.T``, its column sums, the row's nonzeros and their columns, the model
    :math:`y_j` there and a buffer for the ratios. The logarithms are
    those of the vectorizable :func:`~skfactor.utils._log.log`
    (``math.log`` if a ratio is not a positive normal number).
    """
    Ht, h_sum, data, indices, model, ratios = kl_row
    change = _dot(delta, h_sum)
    n_abnormal = 0
    for p in range(data.size):
        ratio = _dot(trial, Ht[indices[p]]) / model[p] if data[p] != 0.0 else 1.0
        ratios[p] = ratio
        n_abnormal += abnormal(ratio)
    if n_abnormal:
        return change - exact_weighted_log_sum(data, ratios)
    total = 0.0
    for p in range(data.size):
        total += data[p] * log(ratios[p])
    return change - total


@njit(cache=True, error_model="numpy")
def _change(w, trial, delta, grad_fit, weight, kl_row, HHt):
    """Change of a row's objective from ``w`` to ``trial = w + delta``: the
    fit by :func:`_kl_change` (Kullback-Leibler, ``HHt`` empty) or exactly
    as a quadratic (Frobenius), plus the penalty ``weight``."""
    alpha, degree = weight
    if HHt.shape[0] == 0:
        change = _kl_change(trial, delta, kl_row)
    else:
        change = _dot(delta, grad_fit) + 0.5 * _quadratic_form(HHt, delta, delta)
    for k in range(w.size):
        if degree == 1.0:
            change += alpha * delta[k]
        else:
            change += alpha * delta[k] * (trial[k] + w[k])
    return change


@njit(cache=True, error_model="numpy")
def _bound_step(w, grad, hess, size, binding, trial):
    r"""Active-set trial point of a row: the binding variables at the bound,
    the free ones minimizing the (damped) Newton model for that move,
    :math:`d_F = -H_{FF}^{-1}(g_F + H_{FB} d_B)`, floored.

    The projected Newton step moves a binding variable by its gradient over
    the row's largest curvature only, so a variable whose optimum is the
    bound but whose gradient is small creeps there over tens of iterations
    (seen on Frobenius rows of NTD: 1e-4 to the bound in steps of 3e-6);
    this point reaches it at once, and on a quadratic (Frobenius) with the
    right binding set it is the minimizer. Writes ``trial`` (``hess`` is
    only read); returns False (and leaves ``trial``) when no binding
    variable is above the bound.
    """
    r = w.size
    moved = False
    for k in range(r):
        moved = moved or (binding[k] and w[k] > EPSILON)
    if not moved:
        return False
    rhs = np.empty(r)
    for k in range(r):
        if binding[k]:
            rhs[k] = 0.0
            continue
        rhs[k] = -grad[k]
        for q in range(r):
            if binding[q]:
                rhs[k] -= hess[k, q] * (EPSILON - w[q])
    _, damping = _free_damping(w, grad, hess, size, binding)
    _solve_free(hess, binding, damping, rhs)
    for k in range(r):
        trial[k] = EPSILON if binding[k] else max(w[k] + rhs[k], EPSILON)
    return True


@njit(cache=True)
def _prepare_row(w, grad_fit, size, weight, scratch):
    """What a row's step needs before its Hessian is formed: the penalized
    gradient (into ``scratch``'s ``grad``) and the epsilon-binding set, the
    variables near the bound with a positive gradient (into its
    ``binding``). Returns the size of the row's objective, ``size`` (that of
    its fit) plus the penalty.

    Only the rows of the Hessian of the free variables are read
    (:func:`_row_step`), so the callers form no others
    (:func:`_gram_rows`): at rank 500 on sparse rows, most variables bind.
    """
    grad, _, _, _, binding = scratch
    alpha, degree = weight
    r = w.size
    for k in range(r):
        if degree == 1.0:
            grad[k] = grad_fit[k] + alpha
            size += alpha * abs(w[k])
        else:
            grad[k] = grad_fit[k] + 2.0 * alpha * w[k]
            size += alpha * w[k] * w[k]
    residual = 0.0
    for k in range(r):
        gap = w[k] - max(w[k] - grad[k], EPSILON)
        residual += gap * gap
    margin = min(np.sqrt(residual), 1e-3)
    for k in range(r):
        binding[k] = w[k] - EPSILON <= margin and grad[k] > 0
    return size


@njit(cache=True, error_model="numpy")
def _row_step(w, grad_fit, hess, size, weight, kl_row, HHt, scratch):
    """Projected Newton step with Armijo backtracking of one row, in place.

    ``grad_fit`` and ``hess`` are the derivatives of the row's fit term at
    ``w`` (``hess`` needed on the rows of the free variables only); the
    curvature of the penalty ``weight`` (a :class:`Penalty`) is added here.
    :func:`_prepare_row` has run: ``size`` is what it returned, and the
    penalized gradient and binding set are in ``scratch``, which is
    ``(grad, direction, trial, delta, binding)``. ``kl_row`` is the row's
    Kullback-Leibler terms (:func:`_kl_change`), unused for Frobenius, whose
    change of fit is the exact quadratic one with ``HHt``. A row whose Newton
    decrement is below the noise of its objective takes its full step (if
    it passes the line search) and has converged.

    Returns
    -------
    change : float
        Change of the row's objective (0 if no step was taken).
    converged : bool
    """
    grad, direction, trial, delta, binding = scratch
    alpha, degree = weight
    r = w.size
    if degree != 1.0:
        for k in range(r):
            if not binding[k]:
                hess[k, k] += 2.0 * alpha
    promised = _newton_direction(w, grad, hess, size, binding, direction)
    noise = NOISE * size
    converged = promised <= noise
    # first, the binding variables at the bound and the free ones
    # minimizing the Newton model for that move, accepted if it passes the
    # Armijo test
    if not converged and _bound_step(w, grad, hess, size, binding, trial):
        for k in range(r):
            delta[k] = trial[k] - w[k]
        change = _change(w, trial, delta, grad_fit, weight, kl_row, HHt)
        if change < 0 and change <= _ARMIJO * _dot(grad, delta) + noise:
            for k in range(r):
                w[k] = trial[k]
            return change, converged
    # Armijo backtracking; a converged row only tries the full step
    step = 1.0
    for _ in range(_MAX_BACKTRACK):
        for k in range(r):
            trial[k] = max(w[k] + step * direction[k], EPSILON)
            delta[k] = trial[k] - w[k]
        change = _change(w, trial, delta, grad_fit, weight, kl_row, HHt)
        if change <= _ARMIJO * _dot(grad, delta) + noise:
            for k in range(r):
                w[k] = trial[k]
            return change, converged
        if converged:
            break
        step *= 0.5
    return 0.0, converged


@njit(cache=True)
def _row_buffers(indptr, r):
    """Buffers of a pass over rows: the model and the ratios at the nonzeros
    of the longest row, an ``r x r`` Hessian and the ``scratch`` of
    :func:`_row_step`."""
    longest = 0
    for i in range(indptr.size - 1):
        longest = max(longest, indptr[i + 1] - indptr[i])
    scratch = (
        np.empty(r),
        np.empty(r),
        np.empty(r),
        np.empty(r),
        np.empty(r, np.bool_),
    )
    return np.empty(longest), np.empty(longest), np.empty((r, r)), scratch


@njit(cache=True, error_model="numpy")
def _newton_pass(nonzeros, Ht, quadratic, beta, weight, W, active):
    """One projected Newton iteration on the active rows of ``W`` (in place).

    Kullback-Leibler (``beta == 1``) uses the :class:`Nonzeros` of X and
    ``Ht = H.T``, a compiled loop over each row's nonzeros for the
    derivatives; Frobenius uses the :class:`Quadratic` terms
    ``XHt = X H^T``, ``HHt = H H^T`` and the squared norms ``x_sq`` of the
    rows of X. ``weight`` is the :class:`Penalty` of W; rows that converge
    (:func:`_row_step`) leave ``active``. Returns the total change of the
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
                    hess[k, :] = HHt[k]
            kl_row = (Ht, h_sum, data[:0], indices[:0], model, ratios)
            change, converged = _row_step(
                w, grad_fit, hess, size, weight, kl_row, HHt, scratch
            )
        total_change += change
        if converged:
            active[i] = False
    return total_change


@njit(cache=True, error_model="numpy")
def _ratio_curvature(X, Y):
    """``R = X / Y`` and ``D = X / Y**2`` where X is nonzero (0 elsewhere),
    for blocks of dense rows."""
    R = np.zeros(X.shape)
    D = np.zeros(X.shape)
    for b in range(X.shape[0]):
        for j in range(X.shape[1]):
            x = X[b, j]
            if x != 0.0:
                ratio = x / Y[b, j]
                R[b, j] = ratio
                D[b, j] = ratio / Y[b, j]
    return R, D


@njit(cache=True, error_model="numpy")
def _block_steps(rows, nonzeros, kl_terms, Y, grad_fit, hess_packed, weight, W, active):
    """:func:`_row_step` of the Kullback-Leibler rows ``rows`` of ``W``, their
    derivatives from BLAS products (:func:`_kl_blas_pass`): the model ``Y``
    (a row per entry of ``rows``, every column), the gradients of the fit
    and the Hessians packed by :func:`_pairs`. ``kl_terms`` is ``(Ht,
    h_sum, x_sum)``, ``x_sum`` the row sums of X. Returns the total change
    of the objective."""
    indptr, indices, data = nonzeros
    Ht, h_sum, x_sum = kl_terms
    r = W.shape[1]
    model, ratios, hess, scratch = _row_buffers(indptr, r)
    no_hht = np.empty((0, 0))
    total_change = 0.0
    for b in range(rows.size):
        i = rows[b]
        w = W[i]
        start, stop = indptr[i], indptr[i + 1]
        for p in range(start, stop):
            model[p - start] = Y[b, indices[p]]
        column = 0
        for k in range(r):
            for q in range(k, r):
                hess[k, q] = hess_packed[b, column]
                hess[q, k] = hess_packed[b, column]
                column += 1
        size = _prepare_row(w, grad_fit[b], _dot(w, h_sum) + x_sum[i], weight, scratch)
        kl_row = (Ht, h_sum, data[start:stop], indices[start:stop], model, ratios)
        change, converged = _row_step(
            w, grad_fit[b], hess, size, weight, kl_row, no_hht, scratch
        )
        total_change += change
        if converged:
            active[i] = False
    return total_change


def _block_pass_pays(n_columns, rank):
    """Whether dense Kullback-Leibler rows get their derivatives by blocks
    (:func:`_kl_blas_pass`) rather than row by row (:func:`_newton_pass`).

    >>> _block_pass_pays(50, 5), _block_pass_pays(64, 5), _block_pass_pays(50, 10)
    (False, True, True)
    """
    return n_columns >= _BLOCK_MIN_COLUMNS or n_columns * rank >= _BLOCK_MIN_WORK


def _pairs(Ht):
    """Products of the columns of ``Ht`` two by two (``k <= l``, in order):
    the Hessians of the rows of W are ``(X / (WH)**2) @ _pairs(Ht)``."""
    upper = np.triu_indices(Ht.shape[1])
    return np.ascontiguousarray(Ht[:, upper[0]] * Ht[:, upper[1]])


def _kl_blas_pass(X, H, nonzeros, kl_terms, pairs, weight, W, active):
    r"""One projected Newton iteration for Kullback-Leibler on dense ``X``,
    the derivatives of blocks of active rows from BLAS products.

    The model :math:`Y = WH`, the gradients :math:`\sum_j h_j - (X / Y)
    H^\top` and the Hessians :math:`\sum_j (x_j / y_j^2) h_j h_j^\top`
    (one product with :func:`_pairs`) of about ``_BLOCK_ENTRIES / n``
    rows at a time; the steps (:func:`_row_step`) as in
    :func:`_newton_pass`. Returns the total change of the objective.
    """
    Ht, h_sum, _ = kl_terms
    rows = np.flatnonzero(active)
    block = max(1, _BLOCK_ENTRIES // X.shape[1])
    total = 0.0
    for first in range(0, rows.size, block):
        chunk = rows[first : first + block]
        Y = W[chunk] @ H
        R, D = _ratio_curvature(X[chunk], Y)
        grad_fit = np.ascontiguousarray(h_sum - R @ Ht)
        hess_packed = D @ pairs
        total += _block_steps(
            chunk, nonzeros, kl_terms, Y, grad_fit, hess_packed, weight, W, active
        )
    return total


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
