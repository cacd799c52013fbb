r"""One row's projected Newton step for the exact W-step (see
:mod:`~skfactor.decomposition._newton`).

The direction on the free variables (a Cholesky solve of the damped Newton
system gathered on them, :func:`_newton_direction`), the active-set trial
point (:func:`_bound_step`), the change of a row's objective along a step
(:func:`_kl_change`: the log of the ratio of new to old model, so that the
method converges to full precision; exactly quadratic for Frobenius) and
the Armijo backtracking (:func:`_row_step`). Both passes over the rows,
:func:`~._newton._newton_pass` (a row's derivatives from its nonzeros) and
:func:`~._newton_blocks._kl_blas_pass` (from BLAS products over blocks of
dense rows), take their steps here.
"""

import numpy as np
from numba import njit

from ..utils._log import weighted_log_sum
from ..utils._small_linalg import cholesky_solve_in_place
from ._objective import EPSILON

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
        np.dot(rows.T, rows, hess)
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
    for p in range(data.size):
        ratio = _dot(trial, Ht[indices[p]]) / model[p] if data[p] != 0.0 else 1.0
        ratios[p] = ratio
    return _dot(delta, h_sum) - weighted_log_sum(data, ratios[: data.size])


@njit(cache=True, error_model="numpy")
def _change(w, trial, delta, grad_fit, weight, kl_row, HHt):
    """Change of a row's objective from ``w`` to ``trial = w + delta``: the
    fit by :func:`_kl_change` (Kullback-Leibler, ``HHt`` empty) or exactly
    as a quadratic (Frobenius), plus the penalty ``weight``."""
    if HHt.shape[0] == 0:
        change = _kl_change(trial, delta, kl_row)
    else:
        change = _dot(delta, grad_fit) + 0.5 * _quadratic_form(HHt, delta, delta)
    return change + _penalty_change(w, trial, delta, weight)


@njit(cache=True)
def _penalty_change(w, trial, delta, weight):
    """Change of the penalty ``weight`` of a row from ``w`` to ``trial = w +
    delta`` (entries at least EPSILON: no absolute values needed)."""
    alpha, degree = weight
    change = 0.0
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
    bound, converged = _first_trial(w, hess, size, weight, scratch)
    trial, delta = scratch[2], scratch[3]
    change = _change(w, trial, delta, grad_fit, weight, kl_row, HHt)
    return _finish_step(
        w, grad_fit, size, weight, (kl_row, HHt), scratch, (bound, converged), change
    )


@njit(cache=True, error_model="numpy")
def _first_trial(w, hess, size, weight, scratch):
    """The first point a row's step (:func:`_row_step`) tries, into
    ``scratch``'s ``trial``, and ``delta = trial - w``: the active-set point
    (:func:`_bound_step`) unless the row has converged or has no binding
    variable above the bound, the full projected Newton step (its direction
    into ``scratch``'s ``direction``) otherwise. Adds the curvature of the
    penalty to ``hess``.

    Returns
    -------
    bound : bool
        Whether the trial is the active-set point.
    converged : bool
        Whether the Newton decrement is below the noise of the objective.
    """
    grad, direction, trial, delta, binding = scratch
    alpha, degree = weight
    r = w.size
    if degree != 1.0:
        for k in range(r):
            if not binding[k]:
                hess[k, k] += 2.0 * alpha
    promised = _newton_direction(w, grad, hess, size, binding, direction)
    converged = promised <= NOISE * size
    # the binding variables at the bound and the free ones minimizing the
    # Newton model for that move; the full Newton step if there is none
    bound = not converged and _bound_step(w, grad, hess, size, binding, trial)
    for k in range(r):
        if not bound:
            trial[k] = max(w[k] + direction[k], EPSILON)
        delta[k] = trial[k] - w[k]
    return bound, converged


@njit(cache=True)
def _first_trial_passes(change, bound, grad, delta, size):
    """Whether a row's step takes its first trial (:func:`_first_trial`),
    ``delta`` away, whose objective changes by ``change``: the Armijo test,
    and for the active-set point (``bound``) a decrease."""
    armijo = change <= _ARMIJO * _dot(grad, delta) + NOISE * size
    return armijo and (change < 0 or not bound)


@njit(cache=True, error_model="numpy")
def _finish_step(w, grad_fit, size, weight, fit_terms, scratch, flags, change):
    """The rest of a row's step (:func:`_row_step`) after its first trial:
    ``flags`` is what :func:`_first_trial` returned, ``change`` the change of
    the objective at that trial, ``fit_terms`` is ``(kl_row, HHt)`` (see
    :func:`_change`). The trial is taken if it passes the Armijo test (the
    active-set point only if it lowers the objective); otherwise Armijo
    backtracking along the projected Newton direction, from the full step
    (after an active-set point) or half of it; a converged row only tries
    the full step. Returns the change of the row's objective (0 if no step
    was taken) and whether it has converged."""
    grad, direction, trial, delta, binding = scratch
    kl_row, HHt = fit_terms
    bound, converged = flags
    r = w.size
    noise = NOISE * size
    if _first_trial_passes(change, bound, grad, delta, size):
        for k in range(r):
            w[k] = trial[k]
        return change, converged
    step = 1.0 if bound else 0.5
    for _ in range(_MAX_BACKTRACK - (not bound)):
        if converged:
            break
        for k in range(r):
            trial[k] = max(w[k] + step * direction[k], EPSILON)
            delta[k] = trial[k] - w[k]
        change = _change(w, trial, delta, grad_fit, weight, kl_row, HHt)
        if change <= _ARMIJO * _dot(grad, delta) + noise:
            for k in range(r):
                w[k] = trial[k]
            return change, converged
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
