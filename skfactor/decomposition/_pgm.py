r"""Block proximal gradient for constrained matrix factorization.

Minimizes

.. math::

    F(W, H) = \tfrac12 \|X - W H\|_F^2 + g_W(W) + g_H(H)

by alternating a proximal gradient step on each factor (block
prox-linear method of Xu and Yin, 2013):

.. math::

    W &\leftarrow \operatorname{prox}_{t_W g_W}\bigl(\hat W - t_W
        (\hat W H H^\top - X H^\top)\bigr),\\
    H &\leftarrow \operatorname{prox}_{t_H g_H}\bigl(\hat H - t_H
        (W^\top W \hat H - W^\top X)\bigr),

where :math:`\hat W, \hat H` are Nesterov extrapolations of the last two
iterates. When the objective increases, the iteration is redone without
extrapolation and the momentum restarts (adaptive restart; O'Donoghue and
Candès, 2015).

Step sizes (``step_size``):

- ``"lipschitz"``: the inverse block Lipschitz constants of the gradient,
  :math:`t_W = 1 / \|H H^\top\|_2` and :math:`t_H = 1 / \|W^\top W\|_2`,
  estimated by power iteration on the :math:`k \times k` Gram matrices,
  warm-started from the previous iteration's eigenvector.
- ``"auto"``: adaptive backtracking that can also increase the step
  (Scheinberg, Goldfarb and Bai, 2014; Calatroni and Chambolle, 2019). Each
  block first tries twice its last accepted step and halves it until the
  step :math:`V^+ = \operatorname{prox}_{t g}(\hat V - t \nabla f(\hat V))`
  passes the sufficient-decrease test
  :math:`f(V^+) \le f(\hat V) + \langle \nabla f(\hat V), D\rangle +
  \|D\|^2 / (2t)`, :math:`D = V^+ - \hat V`, which the inverse Lipschitz
  constant always passes (it is the floor of the search). The fit is
  quadratic in each block, so the test is exact and costs no product with
  :math:`X`: it reads :math:`t \langle D^\top D, H H^\top\rangle \le
  \|D\|^2` for :math:`W` (:math:`t \langle D D^\top, W^\top W\rangle \le
  \|D\|^2` for :math:`H`), i.e. the step may exceed the global bound by as
  much as the curvature along the direction actually taken allows.
  With ``balance=True`` (cone constraints only) the components are also
  rescaled at the start of every iteration to equal norms
  :math:`\|W_{:j}\|_2 = \|H_{j:}\|_2`, which leaves :math:`WH` and the
  objective unchanged; this is the same as giving each component its own
  step, :math:`t_W d_j^2` in :math:`W` and :math:`t_H / d_j^2` in
  :math:`H`.
- fixed steps ``(t_W, t_H)``.

With ``"lipschitz"`` and ``"auto"`` a step without extrapolation never
increases the objective, so with the restart the objective never
increases.

Everything here is pure: the functions return new arrays and never modify
their arguments.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._balance import optimal_scales
from ..utils._penalties import penalty_values
from ..utils._monitor import ConvergenceMonitor

__all__ = ["PGMResult", "block_pgm", "power_iteration", "squared_frobenius"]

# Extrapolation weights are capped by DELTA * sqrt(L_previous / L_current)
# (Xu and Yin 2013, eq. 1.3), which keeps the block method convergent when
# the Lipschitz constants change between iterations.
DELTA = 0.9999

# step_size="auto": each block first tries GROWTH times its last accepted
# step, and multiplies the trial by SHRINK until the sufficient-decrease
# test passes (doubling and halving, as in Scheinberg, Goldfarb and Bai).
GROWTH = 2.0
SHRINK = 0.5

# balance=True: components are rescaled when the ratio of their norms in W
# and H is beyond exp(+-2 BALANCE_RTOL).
BALANCE_RTOL = 0.01

# The Gram-matrix form of the fit term, 1/2 (|X|^2 - 2 <W'X, H> + <W'W, HH'>),
# costs O(k^2 (n + m)) instead of O(nmk) but loses about eps |X|^2 to
# cancellation. Below this fraction of |X|^2 / eps the fit is recomputed
# directly from the residual (dense X), so the relative error of the
# objective stays below ~1e-8.
_CANCELLATION_GUARD = 1e8


def squared_frobenius(X):
    """:math:`\\|X\\|_F^2` of a dense or sparse matrix, in float64 (inf on overflow)."""
    values = X.data if sp.issparse(X) else np.asarray(X)
    values = values.astype(np.float64, copy=False).ravel()
    with np.errstate(over="ignore"):
        return float(values @ values)


def power_iteration(G, v=None, *, max_iter=20, rtol=1e-6):
    """Largest eigenvalue of a symmetric positive semidefinite matrix.

    Power iteration from ``v`` (a fixed positive vector if None), stopped
    when the Rayleigh quotient changes by at most ``rtol`` relatively. Pass
    the returned vector back as ``v`` on the next call with a nearby matrix:
    the iteration then starts next to the answer.

    Parameters
    ----------
    G : ndarray of shape (k, k)
        Symmetric positive semidefinite matrix.
    v : ndarray of shape (k,), default=None
        Starting vector.
    max_iter : int, default=20
        Maximum number of matrix-vector products.
    rtol : float, default=1e-6
        Relative tolerance on the Rayleigh quotient.

    Returns
    -------
    eigenvalue : float
        Rayleigh quotient of the last iterate, a lower bound of the largest
        eigenvalue whose error is second order in the vector's error.
    v : ndarray of shape (k,)
        Unit vector, the estimate of the leading eigenvector.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.decomposition._pgm import power_iteration
    >>> G = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> value, v = power_iteration(G)
    >>> round(value, 6)
    3.0
    """
    G = np.asarray(G, dtype=np.float64)
    k = G.shape[0]
    if k == 0:
        return 0.0, np.zeros(0)
    if v is None or not np.all(np.isfinite(v)) or not np.any(v):
        # positive (overlaps the Perron vector of a nonnegative G) and generic
        v = 1.0 + 0.5 * np.cos(np.arange(k))
    v = v / np.sqrt(v @ v)
    value = None
    for _ in range(max_iter):
        w = G @ v
        rayleigh = float(v @ w)
        norm = np.sqrt(w @ w)
        if not (norm > 0 and np.isfinite(norm)):
            value = rayleigh
            break
        v = w / norm
        converged = value is not None and abs(rayleigh - value) <= rtol * abs(rayleigh)
        value = rayleigh
        if converged:
            break
    return max(value, 0.0), v


@dataclass
class PGMResult:
    """Output of :func:`block_pgm`."""

    W: np.ndarray
    H: np.ndarray
    objective: list
    fit: float
    n_iter: int
    converged: bool
    exact_fit: bool
    n_restarts: int
    step_sizes: np.ndarray = field(repr=False)
    n_prox: int = 0


class _Block:
    """One factor's step: fixed, 1 / Lipschitz, or adaptive backtracking.

    ``start`` returns the first trial step of an iteration, ``accept``
    records the step taken; ``safe`` is the inverse Lipschitz constant of
    the iteration (0 when the fit does not depend on this factor).
    """

    def __init__(self, step):
        if isinstance(step, str):
            self.rule, self.fixed = step, None
        else:
            self.rule, self.fixed = "fixed", float(step)
        self.vector = None
        self.lipschitz = None
        self.previous_lipschitz = None
        self.safe = 0.0
        self.accepted = None

    @property
    def adaptive(self):
        return self.rule == "auto"

    def start(self, gram):
        self.previous_lipschitz = self.lipschitz
        self.lipschitz, self.vector = power_iteration(gram, self.vector)
        # no curvature: the fit does not depend on this factor (the other one
        # is zero); a zero step keeps it, projected, where it is
        self.safe = 1.0 / self.lipschitz if self.lipschitz > 0 else 0.0
        if self.fixed is not None:
            return self.fixed
        if self.adaptive and self.accepted is not None and self.safe > 0:
            return max(GROWTH * self.accepted, self.safe)
        return self.safe

    def accept(self, step):
        self.accepted = step

    def weight(self, beta):
        """Extrapolation weight, capped by DELTA.

        With ``"lipschitz"`` steps also by Xu and Yin's (2013) bound. The
        adaptive rule computes the weight before its step is known and relies
        on the restart instead (recomputing the extrapolation for every trial
        step under that bound cost about 50% more iterations in our
        measurements).
        """
        if beta == 0 or self.rule != "lipschitz":
            return min(beta, DELTA)
        if self.previous_lipschitz is None or not self.lipschitz > 0:
            return beta
        return min(beta, DELTA * math.sqrt(self.previous_lipschitz / self.lipschitz))


def _prox_step(block, step, V_hat, grad, prox, gram, rows):
    r"""Proximal gradient step from ``V_hat``, with backtracking if adaptive.

    ``step`` is the first trial. The block's Hessian is ``gram`` acting on
    the rows of :math:`V` (``rows=True``, the :math:`W` block:
    :math:`\langle D, \nabla^2 f\, D\rangle = \langle D^\top D,
    HH^\top\rangle`) or on its columns (:math:`H`: :math:`\langle D
    D^\top, W^\top W\rangle`); the test needs only that :math:`k \times k`
    product. Returns the new point and the step taken.
    """
    while True:
        V_new = prox(V_hat - step * grad, step)
        if not block.adaptive or step <= block.safe:
            return V_new, step
        D = V_new - V_hat
        DtD = D.T @ D if rows else D @ D.T
        if step * float(np.vdot(DtD, gram)) <= float(np.trace(DtD)):
            return V_new, step
        step = max(SHRINK * step, block.safe)


def balancing_scales(W, H):
    r"""Scales :math:`d` giving :math:`W D` and :math:`D^{-1} H` equal norms.

    Per component, :math:`d_j = \sqrt{\|H_{j:}\|_2 / \|W_{:j}\|_2}`: the
    rescaling of minimum :math:`\|W\|_F^2 + \|H\|_F^2` at a fixed product
    (the geometric-mean identity of :mod:`skfactor._balance` with squared
    norms), 1 for a zero component or norms beyond the floating-point range.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.decomposition._pgm import balancing_scales
    >>> balancing_scales(np.array([[4.0, 1.0]]), np.array([[1.0], [1.0]]))
    array([0.5, 1. ])
    """
    with np.errstate(over="ignore"):
        squared_norms = np.array([penalty_values(W, "l2"), penalty_values(H.T, "l2")])
    if not np.all(np.isfinite(squared_norms)):  # norms beyond float64: leave them
        return np.ones(W.shape[1], dtype=W.dtype)
    return optimal_scales(squared_norms, [2.0, 2.0])[0].astype(W.dtype, copy=False)


def _fit_term(X, W, H, X_sq, inner, WtW, HHt):
    """1/2 |X - WH|_F^2 from <X, WH> = ``inner`` and the Gram matrices.

    Recomputed directly from the residual (dense X) when the Gram form loses
    too many digits to cancellation.
    """
    fit = 0.5 * (X_sq - 2.0 * inner + float(np.vdot(WtW, HHt)))
    eps = np.finfo(W.dtype).eps
    if not sp.issparse(X) and not fit >= _CANCELLATION_GUARD * eps * X_sq:
        fit = 0.5 * squared_frobenius(X - W @ H)
    return max(fit, 0.0)


def block_pgm(
    X,
    W,
    H,
    *,
    prox_W,
    prox_H,
    penalty_W,
    penalty_H,
    step_size="auto",
    balance=False,
    acceleration=True,
    update_H=True,
    max_iter=200,
    tol=1e-4,
    verbose=0,
    name="ProximalMF",
):
    """Minimize 1/2 |X - WH|^2 + g_W(W) + g_H(H) by block proximal gradient.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Data.
    W : ndarray of shape (n_samples, n_components)
        Initial W (assumed feasible).
    H : ndarray of shape (n_components, n_features)
        Initial H (assumed feasible); fixed if ``update_H`` is False.
    prox_W, prox_H : callable
        Proximal operators ``(array, step) -> array`` of g_W and g_H
        (``prox_H`` is unused if ``update_H`` is False).
    penalty_W, penalty_H : callable
        ``array -> float``: the values of g_W and g_H (0 for constraints).
    step_size : "auto", "lipschitz" or (float, float), default="auto"
        Adaptive backtracking steps, inverse Lipschitz constants, or fixed
        steps of the W and H blocks (see the module docstring).
    balance : bool, default=False
        Rescale the components to equal norms at the start of every
        iteration. Only valid when g_W and g_H are indicators of cones
        (sets invariant to positive rescaling of the columns of W and the
        rows of H, e.g. the nonnegative orthant), so that the objective is
        unchanged; ignored if ``update_H`` is False.
    acceleration : bool, default=True
        Nesterov extrapolation with adaptive restart.
    update_H : bool, default=True
        Update H too. With False, solve the convex problem in W for fixed H;
        each iteration then costs O(n k^2) instead of O(n m k).
    max_iter, tol, verbose, name
        Passed to :class:`~skfactor.utils._monitor.ConvergenceMonitor`.

    Returns
    -------
    result : PGMResult
        Final factors, objective history (initial value first), final fit
        term 1/2 |X - WH|^2, number of iterations, whether the stopping rule
        was met, whether the fit became exact to working precision (which
        also stops the solver), number of restarts, the steps ``(t_W, t_H)``
        taken at each iteration (``t_H`` is NaN when H is fixed) and the
        number of proximal steps tried (more than one per block and
        iteration when backtracking rejects a trial step).
    """
    steps = (step_size, step_size) if isinstance(step_size, str) else step_size
    block_W, block_H = _Block(steps[0]), _Block(steps[1])
    balance = balance and update_H
    X_sq = squared_frobenius(X)
    dense = not sp.issparse(X)
    n_prox = 0

    def cross_W(H):  # X H^T
        return np.asarray(X @ H.T)

    def cross_H(W):  # W^T X
        return np.asarray(W.T @ X) if dense else np.asarray((X.T @ W).T)

    def evaluate(W, H, WtW, HHt, XHt, WtX):
        """(objective, fit, penalty) at (W, H)."""
        # <X, WH> = <W^T X, H> = <W, X H^T>: use whichever product is at hand
        inner = float(np.vdot(WtX, H)) if update_H else float(np.vdot(W, XHt))
        fit = _fit_term(X, W, H, X_sq, inner, WtW, HHt)
        penalty = penalty_W(W) + (penalty_H(H) if update_H else 0.0)
        return fit + penalty, fit, penalty

    def counted(prox):
        def call(V, step):
            nonlocal n_prox
            n_prox += 1
            return prox(V, step)

        return call

    prox_W, prox_H = counted(prox_W), counted(prox_H)

    def update(W, H, W_prev, H_prev, beta, HHt, XHt):
        """One block iteration from (W, H) with momentum ``beta``.

        Returns the new W, H, their Gram matrices, W^T X and the steps.
        """
        t_W = block_W.start(HHt)
        omega = block_W.weight(beta)
        W_hat = W + omega * (W - W_prev) if omega > 0 else W
        W_new, t_W = _prox_step(
            block_W,
            t_W,
            W_hat,
            W_hat @ HHt - XHt,
            prox_W,
            HHt,
            rows=True,
        )
        WtW = W_new.T @ W_new
        if not update_H:
            return W_new, H, WtW, HHt, None, t_W, np.nan
        WtX = cross_H(W_new)
        t_H = block_H.start(WtW)
        omega = block_H.weight(beta)
        H_hat = H + omega * (H - H_prev) if omega > 0 else H
        H_new, t_H = _prox_step(
            block_H,
            t_H,
            H_hat,
            WtW @ H_hat - WtX,
            prox_H,
            WtW,
            rows=False,
        )
        return W_new, H_new, WtW, H_new @ H_new.T, WtX, t_W, t_H

    monitor = ConvergenceMonitor(tol, max_iter, verbose, name)
    HHt = H @ H.T
    XHt = cross_W(H)
    WtX = cross_H(W) if update_H else None
    F, fit, penalty = evaluate(W, H, W.T @ W, HHt, XHt, WtX)
    monitor.start(F)
    floor = 0.5 * np.finfo(W.dtype).eps * X_sq
    exact_fit = False
    W_prev, H_prev = W, H
    theta = 1.0
    n_restarts = 0
    history_steps = []
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        while True:
            if balance:
                # W D, D^-1 H: same product, objective and extrapolation;
                # skipped while the norms are within 2% of each other (saves
                # six passes over the factors in most iterations)
                d = balancing_scales(W, H)
                if np.max(np.abs(np.log(d))) > BALANCE_RTOL:
                    W, W_prev = W * d, W_prev * d
                    H, H_prev = H / d[:, None], H_prev / d[:, None]
                    HHt, XHt = HHt / np.outer(d, d), XHt / d
            if acceleration:
                # Python floats throughout: NumPy scalars would promote float32
                theta_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * theta * theta))
                beta = (theta - 1.0) / theta_next
            else:
                theta_next, beta = 1.0, 0.0
            new = update(W, H, W_prev, H_prev, beta, HHt, XHt)
            F_new, fit, penalty = evaluate(new[0], new[1], new[2], new[3], XHt, new[4])
            if beta > 0 and F_new > F:
                # adaptive restart: redo the iteration from (W, H) without
                # extrapolation, and let the momentum start again
                n_restarts += 1
                theta_next = 1.0
                new = update(W, H, W, H, 0.0, HHt, XHt)
                F_new, fit, penalty = evaluate(*new[:4], XHt, new[4])
            W_prev, H_prev = W, H
            W, H, _, HHt, _, t_W, t_H = new
            block_W.accept(t_W)
            block_H.accept(t_H)
            if update_H:
                XHt = cross_W(H)
            F, theta = F_new, theta_next
            history_steps.append((t_W, t_H))
            if monitor.update(F):
                break
            if fit <= floor and abs(penalty) <= floor:
                exact_fit = True
                break
    if not exact_fit:
        monitor.warn_if_not_converged()
    return PGMResult(
        W=W,
        H=H,
        objective=list(monitor.history),
        fit=fit,
        n_iter=monitor.n_iter,
        converged=monitor.converged or exact_fit,
        exact_fit=exact_fit,
        n_restarts=n_restarts,
        step_sizes=np.array(history_steps, dtype=np.float64).reshape(-1, 2),
        n_prox=n_prox,
    )
