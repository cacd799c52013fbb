r"""Multiplicative updates for penalized NMF with the beta-divergence.

The problem is

.. math::

    \min_{W \ge 0, H \ge 0} D_\beta(X \mid WH)
        + \alpha_W g_W(W) + \alpha_H g_H(H)

(:mod:`~skfactor.decomposition._objective`). Every update is the exact
minimizer of a separable majorizer of the objective in one factor
(majorization-minimization, :mod:`~skfactor.decomposition._mm_steps`),
restricted to entries ``>= EPSILON``; the objective therefore never
increases. For Kullback-Leibler with :math:`\ell_1` penalties these are
eq. 26-27 of Cohen and Leplat; with a ridge penalty eq. 36 (see
:func:`penalized_step` for the factor 2 of the penalty). Balancing the
rank-one components (:mod:`skfactor._balance`) between outer iterations
does not change the fit and never increases the penalty, so it keeps the
objective non-increasing.

This module is the driver: :func:`fit_mu` alternates the updates, compiled
sweeps over the nonzeros for Kullback-Leibler
(:mod:`~skfactor.decomposition._kl_mu`) and BLAS products for Frobenius
(:mod:`~skfactor.decomposition._frobenius_mu`); :func:`rescale_init` is the
optimal scalar scaling of the initial factors,
:math:`\min_\eta D_\beta(X \mid \eta^2 WH) + \eta^{p_W}\alpha_W g_W(W)
+ \eta^{p_H}\alpha_H g_H(H)`.

All public functions are pure: they return new arrays.

References
----------
J. E. Cohen, "Implicit regularization in regularized (nonnegative)
low-rank approximations", talk, Palaiseau, March 2024 (joint work with
V. Leplat).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import safe_sparse_dot

from .._balance import frobenius_optimal_initial_scale, kl_optimal_initial_scale
from ..utils._penalties import penalty_degree, penalty_values
from ..utils._monitor import ConvergenceMonitor
from ._frobenius_mu import FrobeniusUpdates, frobenius_update_W
from . import _kl_mu
from ._kl_mu import KLDenseUpdates, KLSweeps, kl_update_W
from ._mm_steps import balance, make_penalties, penalized_step
from ._objective import (
    BETA,
    EPSILON,
    beta_divergence,
    csr_arrays,
    model_at_support,
    model_ratio,
    objective,
    penalty,
)

__all__ = [
    "BETA",
    "EPSILON",
    "balance",
    "beta_divergence",
    "csr_arrays",
    "fit_mu",
    "model_at_support",
    "model_ratio",
    "objective",
    "penalized_step",
    "penalty",
    "penalty_degree",
    "penalty_values",
    "rescale_init",
    "run_monitored",
    "update_H",
    "update_W",
]


def update_W(X, W, H, beta, alpha, penalty):
    """One multiplicative (MM) update of ``W`` with ``H`` fixed.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (m, n)
    W : ndarray of shape (m, r)
    H : ndarray of shape (r, n)
    beta : {1, 2}
    alpha : float
        Penalty weight of ``W``.
    penalty : {"l1", "l2"}
        Penalty of ``W``.

    Returns
    -------
    W_new : ndarray of shape (m, r)
        Entries ``>= EPSILON``.
    """
    if beta == 1:
        return kl_update_W(X, W, H, alpha, penalty)
    return frobenius_update_W(X, W, H, alpha, penalty)


def update_H(X, W, H, beta, alpha, penalty, XT=None):
    r"""One multiplicative (MM) update of ``H`` with ``W`` fixed.

    The update of ``W`` applied to the transposed problem
    :math:`X^\top \approx H^\top W^\top`; see :func:`update_W`. ``XT``
    is ``X.T`` (as CSR for sparse X) when the caller keeps it across
    updates, to save transposing X every time.
    """
    return update_W(X.T if XT is None else XT, H.T, W.T, beta, alpha, penalty).T


def _frobenius_scalars(X, W, H):
    r""":math:`\|X\|^2`, :math:`\langle X, WH\rangle`, :math:`\|WH\|^2`."""
    data = X.data if sp.issparse(X) else X
    return (
        float(np.dot(data.ravel(), data.ravel())),
        float(np.sum(W * safe_sparse_dot(X, H.T))),
        float(np.sum((W.T @ W) * (H @ H.T))),
    )


def rescale_init(X, W, H, beta, alpha_W, alpha_H, penalty_W, penalty_H, fit_H=True):
    r"""Start of the balancing meta-algorithm: best scalar scaling, then balancing.

    Solves :math:`\min_{\eta > 0} D_\beta(X \mid \eta^2 WH) + \eta^{p_W}
    \alpha_W g_W(W) + \eta^{p_H} \alpha_H g_H(H)` (in closed form for
    Kullback-Leibler, :func:`skfactor._balance.kl_optimal_initial_scale`,
    from polynomial roots for Frobenius,
    :func:`skfactor._balance.frobenius_optimal_initial_scale`), scales
    both factors by :math:`\eta` and balances the components. With
    ``fit_H=False`` (``H`` fixed, as in ``transform``) only ``W`` is scaled:
    :math:`\min_\eta D_\beta(X \mid \eta WH) + \eta^{p_W}\alpha_W g_W(W)`.

    Returns
    -------
    W, H : ndarray
        Rescaled copies.
    """
    totals = [alpha_W * penalty_values(W, penalty_W).sum()]
    degrees = [penalty_degree(penalty_W)]
    if fit_H:
        totals.append(alpha_H * penalty_values(H.T, penalty_H).sum())
        degrees.append(penalty_degree(penalty_H))
    if beta == 1:
        model_sum = float(W.sum(axis=0) @ H.sum(axis=1))
        eta = kl_optimal_initial_scale(float(X.sum()), model_sum, totals, degrees)
    else:
        eta = frobenius_optimal_initial_scale(
            *_frobenius_scalars(X, W, H), totals, degrees
        )
    if not fit_H:
        return W * eta, H
    return balance(eta * W, eta * H, alpha_W, alpha_H, penalty_W, penalty_H)


def fit_mu(
    X,
    W,
    H,
    *,
    beta,
    alpha_W,
    alpha_H,
    penalty_W,
    penalty_H,
    balance_every=True,
    fit_H=True,
    n_inner=1,
    max_iter=200,
    tol=1e-4,
    verbose=0,
    name="MU",
    objective_name="objective",
):
    """Alternate the multiplicative updates of ``W`` and ``H``.

    Each outer iteration applies ``n_inner`` updates to ``W``, then
    ``n_inner`` updates to ``H`` (if ``fit_H``), then balances the
    components (if ``balance_every``), and records the objective in a
    :class:`~skfactor.utils._monitor.ConvergenceMonitor`, which decides when
    to stop.

    For Kullback-Leibler the objective of an iterate comes out of the first
    sweep of the next iteration (see the module docstring), and small
    problems run several iterations per compiled call; when the monitor
    stops, the work done beyond its iteration is discarded, so the iterates,
    the history and the result are those of the plain loop.

    Returns
    -------
    W, H : ndarray
        Final factors.
    monitor : ConvergenceMonitor
        ``monitor.history`` holds the objective at initialization and after
        each iteration.
    """
    monitor = ConvergenceMonitor(
        tol, max_iter, verbose=verbose, name=name, objective_name=objective_name
    )
    W, H = np.maximum(W, EPSILON), np.maximum(H, EPSILON)  # feasible start
    options = dict(fit_H=fit_H, balance_every=balance_every, n_inner=n_inner)
    model = (alpha_W, alpha_H, penalty_W, penalty_H)
    if beta == 1 and _kl_mu.blas_pays(X, W.shape[1]):
        state = KLDenseUpdates(X, W, H, make_penalties(*model), **options)
    elif beta == 1:
        state = KLSweeps(X, W, H, make_penalties(*model), **options)
    else:
        state = FrobeniusUpdates(X, W, H, make_penalties(*model), **options)
    W, H = run_monitored(state, monitor)
    return W, H, monitor


def run_monitored(state, monitor):
    """Iterate ``state`` until ``monitor`` stops; the final factors.

    ``state`` has ``start()`` (the objective at the start), ``iterate(n)``
    (the objectives of at most ``n`` further iterations), ``keep(step)``
    (make the ``step``-th iterate of the last call the current one) and
    ``factors()`` (``W, H``).
    """
    monitor.start(state.start())
    while True:
        values = state.iterate(monitor.max_iter - monitor.n_iter)
        stop = next((k for k, v in enumerate(values) if monitor.update(v)), None)
        if stop is not None:
            state.keep(stop)
            break
    return state.factors()
