r"""F-step of the block coordinate descent: latent factors given the losses.

Given the loss matrix :math:`R \in \mathbf{R}^{m \times K}` (``R[i, k]`` is
the loss of sample ``i`` under regime ``k``), the F-problem of Zhu et al. (2025) is

.. math::

    \min_{z_1, \dots, z_m \in \Delta_K} \; \sum_{t=1}^m z_t^T r_t
    + \lambda \sum_{t=1}^{m-1} D_{\mathrm{KL}}(z_t, z_{t+1}),

with :math:`\Delta_K` the probability simplex and
:math:`D_{\mathrm{KL}}(p, q) = \sum_k p_k \log(p_k / q_k)`.

- Without smoothing (:math:`\lambda = 0`) the problem separates over samples
  into linear programs over the simplex, solved exactly by the one-hot
  vector of the smallest loss (:func:`hard_assignments`).
- With smoothing the problem is jointly convex (KL is jointly convex) but
  couples consecutive samples. :func:`smoothed_assignments` solves it by a
  barrier method whose Newton systems are banded (the Hessian is block
  tridiagonal along time), so each iteration costs :math:`O(m K^3)` and the
  number of iterations does not grow with :math:`m`: linear in the number
  of samples. The exponential-cone formulation in cvxpy
  (:class:`CvxpyFStep`) is the test oracle and the fallback.

Newton steps in relative coordinates
------------------------------------
A step is written :math:`z \leftarrow z \odot (1 + \alpha \delta)`, with the
simplex kept by :math:`\sum_k z_{tk} \delta_{tk} = 0`. In these coordinates
the Hessian of :math:`p \log(p / q)` is :math:`p \begin{pmatrix} 1 & -1 \\
-1 & 1 \end{pmatrix}`, bounded however small the entries of :math:`z`: the
Hessian of the smoothing term is, for each regime :math:`k`, :math:`\lambda`
times the Laplacian of the time chain with edge weights :math:`z_{tk}`, and
the log barrier :math:`-\tau \sum \log z_{tk}` adds :math:`\tau I`. The
Newton system is the saddle-point system of this Hessian with one equality
per sample; ordered sample by sample it is a band matrix of half-width
:math:`K + 1`, solved by LAPACK's banded LU (:func:`scipy.linalg.solve_banded`).

Without the barrier, Newton's method crawls where the optimum has vanishing
entries (the quadratic model of :math:`-\log` is poor near zero); the
barrier keeps every iterate well inside the simplex until :math:`\tau` is
negligible.
"""

import cvxpy as cp
import numpy as np
from numba import njit

from ..utils._arrays import copy_into, copy_vector
from ..utils._small_linalg import cholesky_solve_in_place

_FLOOR = 1e-300


def hard_assignments(R):
    """One-hot rows at the smallest loss of each row of ``R``.

    This is an exact solution of the unsmoothed F-problem (a linear program
    over a product of simplices attains its minimum at a vertex); ties go to
    the lowest regime index.

    Parameters
    ----------
    R : ndarray of shape (n_samples, n_regimes)
        Loss of each sample under each regime.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_regimes)

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.switching._fstep import hard_assignments
    >>> hard_assignments(np.array([[1.0, 0.5], [0.0, 2.0]]))
    array([[0., 1.],
           [1., 0.]])
    """
    Z = np.zeros_like(R, dtype=float)
    Z[np.arange(R.shape[0]), np.argmin(R, axis=1)] = 1.0
    return Z


def kl_chain(Z):
    r"""Smoothing penalty :math:`\sum_t D_{\mathrm{KL}}(z_t, z_{t+1})`.

    Uses :math:`0 \log 0 = 0`; infinite when some :math:`z_{tk} > 0` while
    :math:`z_{t+1,k} = 0`.
    """
    P, Q = Z[:-1], Z[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, P * (np.log(np.where(P > 0, P, 1.0)) - np.log(Q)), 0.0)
    return float(terms.sum())


def fstep_objective(R, Z, smoothing):
    """Objective of the F-problem at ``Z``."""
    value = float(np.sum(R * Z))
    if smoothing > 0 and Z.shape[0] > 1:
        value += smoothing * kl_chain(Z)
    return value


def _scaled_gradient(R, Z, logZ, smoothing):
    """``Z * grad`` of the F-objective (bounded even for tiny entries of Z)."""
    G = Z * R
    G[:-1] += smoothing * Z[:-1] * (logZ[:-1] - logZ[1:] + 1.0)
    G[1:] -= smoothing * Z[:-1]
    return G


def _newton_direction(Z, G, smoothing, barrier):
    """Solve the saddle-point system of one Newton step (compiled kernel).

    Minimizes ``G . d + d^T H d / 2`` subject to ``sum_k Z[t, k] d[t, k] = 0``
    for every ``t``, with ``H`` the relative-coordinate Hessian described in
    the module docstring plus ``barrier * I`` (the log barrier).
    """
    return _block_newton_kernel(
        np.ascontiguousarray(Z, dtype=np.float64),
        np.ascontiguousarray(G, dtype=np.float64),
        float(smoothing),
        float(barrier),
    )


@njit(cache=True)
def _block_newton_kernel(Z, G, smoothing, barrier):  # pragma: no cover (numba)
    """Block tridiagonal solve of the Newton system in null-space coordinates.

    Each ``d[t]`` is written ``N_t v_t`` with ``N_t`` an orthonormal basis of
    the orthogonal complement of ``Z[t]`` (a Householder reflection), which
    removes the equality constraints. The reduced Hessian is symmetric
    positive definite and block tridiagonal with blocks of size ``K - 1``;
    it is solved by block LDL^T elimination along time (the block Thomas
    algorithm), ``O(m K^3)`` operations.
    """
    m, K = Z.shape
    d = K - 1
    N = np.empty((m, K, d))
    u = np.empty(K)  # buffers: no allocation inside the loops over time
    for t in range(m):
        norm = 0.0
        for k in range(K):
            norm += Z[t, k] * Z[t, k]
        norm = np.sqrt(norm)
        for k in range(K):
            u[k] = Z[t, k] / norm
        u[0] += 1.0  # Z >= 0, so no cancellation
        uu = 0.0
        for k in range(K):
            uu += u[k] * u[k]
        for i in range(K):
            for j in range(1, K):
                N[t, i, j - 1] = (1.0 if i == j else 0.0) - 2.0 * u[i] * u[j] / uu
    # Diagonal of H at each (t, k) and coupling between t and t+1.
    diag = np.full((m, K), barrier)
    for t in range(m - 1):
        for k in range(K):
            w = smoothing * Z[t, k]
            diag[t, k] += w
            diag[t + 1, k] += w
    C = np.empty((m, d, d))  # S_t^{-1} B_t
    W = np.empty((m, d))  # S_t^{-1} y_t
    B_prev = np.zeros((d, d))
    S = np.empty((d, d))
    y = np.empty(d)
    rhs = np.empty((d, d + 1))
    for t in range(m):
        for a in range(d):
            for b in range(d):
                acc = 0.0
                for k in range(K):
                    acc += N[t, k, a] * diag[t, k] * N[t, k, b]
                S[a, b] = acc
        for a in range(d):
            acc = 0.0
            for k in range(K):
                acc -= N[t, k, a] * G[t, k]
            y[a] = acc
        if t > 0:
            # S_t -= B_{t-1}^T C_{t-1};  y_t -= B_{t-1}^T W_{t-1}
            for a in range(d):
                for b in range(d):
                    acc = 0.0
                    for c in range(d):
                        acc += B_prev[c, a] * C[t - 1, c, b]
                    S[a, b] -= acc
                acc = 0.0
                for c in range(d):
                    acc += B_prev[c, a] * W[t - 1, c]
                y[a] -= acc
        if t < m - 1:
            # B_t = N_t^T diag(-smoothing * Z[t]) N_{t+1}
            for a in range(d):
                for b in range(d):
                    acc = 0.0
                    for k in range(K):
                        acc -= N[t, k, a] * smoothing * Z[t, k] * N[t + 1, k, b]
                    B_prev[a, b] = acc
                    rhs[a, b] = acc
        else:
            rhs[:, :d] = 0.0
        copy_vector(y, rhs[:, d])
        cholesky_solve_in_place(S, rhs)
        copy_into(rhs[:, :d], C[t])
        copy_vector(rhs[:, d], W[t])
    delta = np.empty((m, K))
    v = W[m - 1].copy()
    v_next = np.empty(d)
    for t in range(m - 1, -1, -1):
        if t < m - 1:
            copy_vector(v, v_next)
            for a in range(d):
                acc = 0.0
                for b in range(d):
                    acc += C[t, a, b] * v_next[b]
                v[a] = W[t, a] - acc
        for k in range(K):
            acc = 0.0
            for a in range(d):
                acc += N[t, k, a] * v[a]
            delta[t, k] = acc
    return delta


def smoothed_assignments(R, smoothing, *, tol=1e-8, max_iter=200):
    r"""Solve the KL-smoothed F-problem by a barrier method (linear in ``m``).

    Minimizes :math:`\sum_t z_t^T r_t + \lambda \sum_t
    D_{\mathrm{KL}}(z_t, z_{t+1})` over a product of simplices by the
    classical barrier method: for decreasing :math:`\tau`, Newton's method
    on :math:`f(z) - \tau \sum_{tk} \log z_{tk}` from the previous
    center. Each Newton system is banded (see the module docstring), so an
    iteration costs :math:`O(m K^3)`; the number of iterations (about 40
    for ``tol=1e-8``) does not grow with ``m``. A central point is within
    :math:`\tau m K` of the optimum, which gives the stopping rule.

    Parameters
    ----------
    R : ndarray of shape (n_samples, n_regimes)
        Loss of each sample (rows in time order) under each regime.
    smoothing : float
        :math:`\lambda \ge 0`. ``0`` returns :func:`hard_assignments`.
    tol : float, default=1e-8
        Stop when the suboptimality bound :math:`\tau m K` is below
        ``tol * max(1, objective)`` (objective with each row of ``R``
        shifted to a minimum of zero).
    max_iter : int, default=200
        Maximum total number of Newton iterations.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_regimes)
        Rows on the simplex, entries positive.
    converged : bool
        Whether the stopping rule was met.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.switching._fstep import smoothed_assignments
    >>> R = np.array([[0.0, 3.0], [2.0, 1.0], [0.0, 3.0]])
    >>> Z, converged = smoothed_assignments(R, 0.0)
    >>> Z[1]
    array([0., 1.])
    >>> Z, converged = smoothed_assignments(R, 5.0)
    >>> bool(converged), bool(Z[1, 0] > 0.5)
    (True, True)
    """
    R = np.asarray(R, dtype=float)
    m, K = R.shape
    if smoothing == 0 or m == 1 or K == 1:
        return hard_assignments(R), True
    # Shifting a row of R by a constant shifts the objective by a constant;
    # with rows at a minimum of zero the objective is nonnegative and its
    # size is a meaningful scale for the relative tolerance.
    R = R - R.min(axis=1, keepdims=True)
    Z = np.full((m, K), 1.0 / K)
    f = fstep_objective(R, Z, smoothing)
    n = m * K
    tau = max(float(R.mean()), smoothing)
    n_newton = 0
    while True:
        # Centering: Newton's method on phi = f - tau * sum(log Z).
        phi = f - tau * float(np.sum(np.log(Z)))
        while True:
            # In relative coordinates the barrier adds -tau to the gradient
            # and tau * I to the Hessian.
            G = _scaled_gradient(R, Z, np.log(Z), smoothing) - tau
            delta = _newton_direction(Z, G, smoothing, tau)
            n_newton += 1
            if not np.all(np.isfinite(delta)):
                return Z, False
            decrement = -float(np.sum(G * delta))
            if decrement <= 0.2 * tau * n:
                break
            if n_newton >= max_iter:
                return Z, False
            # Fraction to the boundary, then backtracking (Armijo).
            shrink = float(delta.min())
            step = 1.0 if shrink >= -0.99 else 0.99 / -shrink
            while True:
                Z_new = Z * (1.0 + step * delta)
                Z_new /= Z_new.sum(axis=1, keepdims=True)
                f_new = fstep_objective(R, Z_new, smoothing)
                phi_new = f_new - tau * float(np.sum(np.log(Z_new)))
                if phi_new <= phi - 0.25 * step * decrement:
                    break
                step *= 0.5
                if step < 1e-12:
                    return Z, False
            Z, f, phi = Z_new, f_new, phi_new
        if tau * n <= tol * max(1.0, abs(f)):
            return Z, True
        tau /= 10.0


class CvxpyFStep:
    """The smoothed F-problem in cvxpy (exponential cone), built once.

    The loss matrix is a :class:`cvxpy.Parameter`, so repeated solves reuse
    the compiled problem. Used as the test oracle of
    :func:`smoothed_assignments` and as its fallback.

    Parameters
    ----------
    n_samples, n_regimes : int
    smoothing : float
    solver : str, default=None
        cvxpy solver name; ``None`` lets cvxpy choose.
    """

    def __init__(self, n_samples, n_regimes, smoothing, solver=None):
        self.R = cp.Parameter((n_samples, n_regimes))
        self.Z = cp.Variable((n_samples, n_regimes), nonneg=True)
        objective = cp.sum(cp.multiply(self.R, self.Z))
        if n_samples > 1 and smoothing > 0:
            objective += smoothing * cp.sum(cp.rel_entr(self.Z[:-1], self.Z[1:]))
        self.problem = cp.Problem(cp.Minimize(objective), [cp.sum(self.Z, axis=1) == 1])
        self.solver = solver

    def solve(self, R):
        """Return the minimizer for the loss matrix ``R``."""
        self.R.value = R - R.min(axis=1, keepdims=True)
        try:
            self.problem.solve(solver=self.solver)
        except cp.error.SolverError as exc:
            raise ValueError(
                f"F-step: the cvxpy solver {self.solver or 'default'} failed on "
                f"the smoothed assignment problem: {exc}"
            ) from exc
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise ValueError(
                f"F-step: the cvxpy solver {self.problem.solver_stats.solver_name} "
                f"returned status {self.problem.status!r} on the smoothed "
                "assignment problem."
            )
        Z = np.maximum(self.Z.value, _FLOOR)
        return Z / Z.sum(axis=1, keepdims=True)


def fstep(R, smoothing, fallback=None):
    """Solve the F-problem, with the cvxpy fallback for the smoothed case.

    Parameters
    ----------
    R : ndarray of shape (n_samples, n_regimes)
    smoothing : float
    fallback : callable, default=None
        ``() -> CvxpyFStep``, called (once, by the caller's caching) when
        Newton does not converge; ``None`` builds a fresh problem.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_regimes)
    """
    Z, converged = smoothed_assignments(R, smoothing)
    if converged:
        return Z
    solver = fallback() if fallback is not None else CvxpyFStep(*R.shape, smoothing)
    return solver.solve(R)
