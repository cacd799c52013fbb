r"""Alternating solvers of the ridge-regularized CP decomposition.

The problem (Cohen and Leplat, "Implicit regularization in regularized (nonnegative)
low-rank approximations", 2024, the rCPD showcase) is

.. math::

    \min_{A_0, \dots, A_{N-1}}
        \|T - [\![A_0, \dots, A_{N-1}]\!]\|_F^2
        + \alpha \sum_{k=0}^{N-1} \|A_k\|_F^2,

optionally with :math:`A_k \ge 0`. With the other factors fixed, the
problem in :math:`A_n` is a ridge regression with normal matrix
:math:`H_n = \mathop{\ast}_{k \ne n} A_k^T A_k` (Hadamard product of the
Gram matrices) and right-hand side :math:`M_n` (the MTTKRP): its minimizer
solves :math:`A_n (H_n + \alpha I) = M_n`, in closed form (ALS) or under
nonnegativity by hierarchical ALS (HALS: exact minimization over one column
at a time). After every outer iteration the rank-one components are
rescaled optimally (:mod:`skfactor._balance`): since every factor carries
the same ridge weight, the optimal scales give all the columns of a
component the same norm, and the penalty of component :math:`q` becomes
:math:`N \alpha \|L_q\|_F^{2/N}` (eq. 25 of Cohen and Leplat), which is what drives
superfluous components to zero.

All functions are pure: they return new arrays and never modify their input.
"""

import numpy as np
from numba import njit
from scipy.optimize import nnls

from .._balance import (
    frobenius_optimal_initial_scale,
    frobenius_scale_fit,
    optimal_scales,
)
from ..utils._linalg import ridge_solve
from ..utils._monitor import ConvergenceMonitor
from ._tensor_algebra import gram_hadamard, mttkrp

__all__ = [
    "fit_ridge_cp",
    "hals_update",
    "nonnegative_ridge_least_squares",
    "objective_terms",
    "ridge_least_squares",
]

# Inner HALS sweeps per mode and outer iteration, with the early stop of
# Gillis and Glineur (2012): stop once a sweep changes a row by less than
# ``_HALS_INNER_TOL`` times what its first sweep changed. Compiled sweeps
# cost O(m r^2), far below the O(m prod(I_k) r) of the MTTKRP that feeds
# them, so the subproblems are solved accurately.
_HALS_INNER_SWEEPS = 50
_HALS_INNER_TOL = 1e-4


def objective_terms(data_sq_norm, inner, grams, alpha):
    r"""Data fit and ridge penalty of a CP model from cheap summaries.

    .. math::

        \|T - M\|_F^2 = \|T\|_F^2 - 2 \langle T, M \rangle + \|M\|_F^2,
        \qquad \|M\|_F^2 = \sum_{p,q} \mathop{\ast}_k (A_k^T A_k)_{pq},
        \qquad \alpha \sum_k \|A_k\|_F^2 = \alpha \sum_k \mathrm{tr}(A_k^T A_k).

    Parameters
    ----------
    data_sq_norm : float
        :math:`\|T\|_F^2`.
    inner : float
        :math:`\langle T, M \rangle`, e.g. ``(mttkrp(T, A, n) * A[n]).sum()``.
    grams : sequence of ndarray of shape (r, r)
        :math:`A_k^T A_k`.
    alpha : float
        Ridge weight.

    Returns
    -------
    fit : float
        Squared residual norm, clipped at 0 against rounding.
    penalty : float
        Ridge penalty.
    """
    model_sq_norm = gram_hadamard(grams).sum()
    fit = frobenius_scale_fit(data_sq_norm, inner, model_sq_norm)(1.0)
    penalty = alpha * sum(np.trace(g) for g in grams)
    return max(float(fit), 0.0), float(penalty)


def _with_ridge(normal, alpha):
    """``normal + alpha * I`` as a new array."""
    system = np.array(normal, dtype=np.float64, copy=True)
    system.flat[:: system.shape[0] + 1] += alpha
    return system


def ridge_least_squares(rhs, normal, alpha):
    r"""Closed-form ridge update: solve :math:`X (H + \alpha I) = M`.

    The minimizer of :math:`\|T_{(n)} - X K^T\|_F^2 + \alpha \|X\|_F^2`
    given :math:`M = T_{(n)} K` and :math:`H = K^T K`. For ``alpha > 0`` the
    system is positive definite and is solved directly; for ``alpha = 0``
    (or if the solve fails) the minimum-norm solution is taken through the
    pseudo-inverse, which also covers a rank-deficient :math:`H`, e.g. a
    component that is exactly zero.

    Parameters
    ----------
    rhs : ndarray of shape (m, r)
        :math:`M`.
    normal : ndarray of shape (r, r)
        :math:`H`, symmetric positive semidefinite.
    alpha : float

    Returns
    -------
    X : ndarray of shape (m, r)

    Examples
    --------
    >>> import numpy as np
    >>> ridge_least_squares(np.array([[4.0]]), np.array([[1.0]]), alpha=1.0)
    array([[2.]])
    """
    return ridge_solve(normal, rhs.T, alpha).T


def _dead_columns(system_diag):
    """Columns whose normal equation is numerically void (zero component)."""
    scale = max(float(system_diag.max(initial=0.0)), np.finfo(float).tiny)
    return system_diag <= np.finfo(float).eps * scale


@njit(cache=True, nogil=True)
def _hals_rows(X, rhs, system, dead, n_sweeps, tol):  # pragma: no cover (numba)
    """In-place HALS sweeps, row by row (the rows are independent problems).

    Each row stops after ``n_sweeps`` sweeps or once a sweep changes it by
    less than ``tol`` times what its first sweep changed.
    """
    n_rows, rank = X.shape
    for i in range(n_rows):
        first = 0.0
        for sweep in range(n_sweeps):
            change = 0.0
            for q in range(rank):
                if dead[q]:
                    new = 0.0
                else:
                    residual = rhs[i, q]
                    for p in range(rank):
                        residual -= X[i, p] * system[q, p]  # symmetric
                    new = X[i, q] + residual / system[q, q]
                    if new < 0.0:
                        new = 0.0
                delta = new - X[i, q]
                change += delta * delta
                X[i, q] = new
            if sweep == 0:
                first = change
            if change <= tol * first:
                break


def hals_update(
    factor, rhs, normal, alpha, n_sweeps=_HALS_INNER_SWEEPS, tol=_HALS_INNER_TOL
):
    r"""Nonnegative ridge update by hierarchical ALS, warm-started.

    Decreases :math:`\mathrm{tr}(X (H + \alpha I) X^T) - 2\,\mathrm{tr}(M^T X)`
    over :math:`X \ge 0` (the mode subproblem up to a constant) by exact
    minimization over one column at a time,

    .. math::

        X[:, q] \leftarrow \max\Bigl(0, X[:, q] +
            \frac{M[:, q] - X (H + \alpha I)[:, q]}{H_{qq} + \alpha}\Bigr).

    The subproblem separates over the rows of :math:`X`, so the sweeps run
    row by row (compiled with numba): each row gets at most ``n_sweeps``
    sweeps over the columns and stops once a sweep changes it by less than
    ``tol`` times the change of its first sweep (the rule of Gillis and
    Glineur, 2012, per row). A column whose :math:`H_{qq} + \alpha`
    vanishes (its component is zero in another mode) is set to zero. Every
    coordinate step is an exact minimization, so the subproblem objective
    never increases.

    Parameters
    ----------
    factor : ndarray of shape (m, r)
        Current value of :math:`X` (nonnegative).
    rhs : ndarray of shape (m, r)
        :math:`M`.
    normal : ndarray of shape (r, r)
        :math:`H`.
    alpha : float
    n_sweeps : int, default=50
    tol : float, default=1e-4

    Returns
    -------
    X : ndarray of shape (m, r)

    Examples
    --------
    >>> import numpy as np
    >>> hals_update(np.ones((1, 2)), np.array([[1.0, -1.0]]), np.eye(2), 0.0)
    array([[1., 0.]])
    """
    X = np.array(factor, dtype=np.float64, order="C", copy=True)
    system = np.ascontiguousarray(_with_ridge(normal, alpha))
    dead = _dead_columns(np.diag(system).copy())
    _hals_rows(
        X, np.ascontiguousarray(rhs, dtype=np.float64), system, dead, n_sweeps, tol
    )
    return X


def nonnegative_ridge_least_squares(rhs, normal, alpha):
    r"""Exact nonnegative ridge regression of every row, independently.

    Row :math:`i` of the result minimizes
    :math:`u^T (H + \alpha I) u - 2 M[i]^T u` over :math:`u \ge 0`, that is
    :math:`\|x_i - K u\|_2^2 + \alpha \|u\|_2^2` given :math:`M = X K` and
    :math:`H = K^T K`. With :math:`H + \alpha I = R^T R` this is the
    nonnegative least-squares problem :math:`\|R u - R^{-T} M[i]\|_2^2`,
    solved exactly by the active-set method of
    :func:`scipy.optimize.nnls` (``r`` unknowns per row). Used to transform
    new samples, where each row must not depend on the others.

    Parameters
    ----------
    rhs : ndarray of shape (m, r)
    normal : ndarray of shape (r, r)
    alpha : float

    Returns
    -------
    X : ndarray of shape (m, r)

    Examples
    --------
    >>> import numpy as np
    >>> nonnegative_ridge_least_squares(np.array([[2.0, -1.0]]), np.eye(2), 1.0)
    array([[1., 0.]])
    """
    system = _with_ridge(normal, alpha)
    # Factor the system as R^T R through its eigendecomposition, dropping the
    # null space (where the right-hand sides have no component, since they
    # lie in the range of K^T).
    eigval, eigvec = np.linalg.eigh(system)
    keep = eigval > np.finfo(float).eps * max(
        eigval.max(initial=0.0), np.finfo(float).tiny
    )
    root = np.sqrt(eigval[keep])
    R = root[:, None] * eigvec[:, keep].T
    targets = (rhs @ eigvec[:, keep]) / root
    X = np.zeros_like(rhs, dtype=float)
    if not keep.any():
        return X
    for i in range(rhs.shape[0]):
        X[i] = nnls(R, targets[i])[0]
    return X


def _balance(factors, grams):
    """Balance the components and rescale the Gram matrices to match.

    All factors carry the same ridge weight, so the optimal scales of
    :func:`~skfactor._balance.optimal_scales` do not depend on its value
    (they equalize the column norms across modes): unit weights are used,
    which also balances the unregularized problem (``alpha = 0``), where the
    rescaling is harmless and keeps the factors well scaled. The ridge
    penalties of the columns, their squared norms, are the diagonals of the
    Gram matrices, which are at hand.
    """
    squared_norms = np.array([np.diag(g) for g in grams])
    scales = optimal_scales(squared_norms, np.full(len(factors), 2.0))
    factors = [f * s for f, s in zip(factors, scales)]
    grams = [g * np.outer(s, s) for g, s in zip(grams, scales)]
    return factors, grams


def fit_ridge_cp(
    tensor,
    factors,
    alpha,
    *,
    nonnegative=False,
    balance="every",
    max_iter=500,
    tol=1e-7,
    verbose=0,
    name="RidgeCPD",
    objective_name="objective",
):
    """Ridge CP decomposition by ALS (or HALS) with optimal balancing.

    The meta-algorithm of Cohen and Leplat: with ``balance`` in ``{"init",
    "every"}`` the initial factors are balanced and then rescaled by the
    best common scalar
    (:func:`~skfactor._balance.frobenius_optimal_initial_scale`);
    each outer iteration updates every mode in turn (closed-form ridge, or
    HALS when ``nonnegative``) and, with ``balance="every"``, balances the
    components. The objective never increases.

    Parameters
    ----------
    tensor : ndarray of shape (I_0, ..., I_{N-1})
    factors : sequence of N ndarray of shape (I_k, r)
        Initial factors (nonnegative when ``nonnegative``).
    alpha : float
    nonnegative : bool, default=False
    balance : {"every", "init", "none"}, default="every"
    max_iter : int, default=500
    tol : float, default=1e-7
        Stopping rule of :class:`~skfactor.utils._monitor.ConvergenceMonitor`.
    verbose : int, default=0
    name : str, default="RidgeCPD"
        Name shown in the verbose output and warnings.
    objective_name : str, default="objective"
        What the objective is called in the verbose output.

    Returns
    -------
    factors : list of ndarray of shape (I_k, r)
    fit : float
        Squared residual norm of the returned factors.
    monitor : ConvergenceMonitor
        With the objective history and the number of iterations.
    """
    tensor = np.asarray(tensor, dtype=float)
    factors = [np.array(f, dtype=float, copy=True) for f in factors]
    n_modes = tensor.ndim
    last = n_modes - 1
    data_sq_norm = float(np.vdot(tensor, tensor))
    grams = [f.T @ f for f in factors]

    inner = float((mttkrp(tensor, factors, last) * factors[last]).sum())
    if balance != "none":
        # Balancing commutes with a common rescaling (B(eta X) = eta B(X)),
        # so balancing first and then choosing eta gives the best point of
        # the family {eta B(X)}, which contains Cohen and Leplat's B(eta* X).
        factors, grams = _balance(factors, grams)
        totals = [alpha * np.trace(g) for g in grams]
        eta = frobenius_optimal_initial_scale(
            data_sq_norm,
            inner,
            gram_hadamard(grams).sum(),
            totals,
            [2.0] * n_modes,
            fit_weight=1.0,
        )
        model_sq_norm = gram_hadamard(grams).sum()
        if eta**n_modes * np.sqrt(model_sq_norm) <= 1e-12 * np.sqrt(data_sq_norm):
            # The best common scale of this start is (numerically) zero: taken
            # literally, every component would be dead before the first
            # iteration and could never revive. Keep the start as it is and
            # let the iterations decide what survives.
            eta = 1.0
        factors = [eta * f for f in factors]
        grams = [eta * eta * g for g in grams]
        inner *= eta**n_modes

    monitor = ConvergenceMonitor(
        tol, max_iter, verbose, name=name, objective_name=objective_name
    )
    fit, penalty = objective_terms(data_sq_norm, inner, grams, alpha)
    monitor.start(fit + penalty)
    for _ in range(max_iter):
        for mode in range(n_modes):
            normal = gram_hadamard(grams, skip=mode)
            rhs = mttkrp(tensor, factors, mode)
            if nonnegative:
                factors[mode] = hals_update(factors[mode], rhs, normal, alpha)
            else:
                factors[mode] = ridge_least_squares(rhs, normal, alpha)
            grams[mode] = factors[mode].T @ factors[mode]
        # rhs is the MTTKRP of the last mode, which does not depend on it.
        inner = float((rhs * factors[last]).sum())
        if balance == "every":
            factors, grams = _balance(factors, grams)
        fit, penalty = objective_terms(data_sq_norm, inner, grams, alpha)
        if monitor.update(fit + penalty):
            break
    return factors, fit, monitor
