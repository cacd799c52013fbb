r"""Multiplicative updates for penalized NMF with the beta-divergence.

The problem is

.. math::

    \min_{W \ge 0, H \ge 0} D_\beta(X \mid WH)
        + \alpha_W g_W(W) + \alpha_H g_H(H),

with :math:`D_1` the generalized Kullback-Leibler divergence
:math:`\sum_{ij} x_{ij}\log(x_{ij}/y_{ij}) - x_{ij} + y_{ij}`,
:math:`D_2 = \frac12\|X - Y\|_F^2`, and :math:`g` either the entrywise
:math:`\ell_1` norm or the squared Frobenius norm (ridge).

Every update here is the exact minimizer of a separable majorizer of the
objective in one factor (majorization-minimization), restricted to entries
``>= EPSILON``; the objective therefore never increases. For Kullback-Leibler
with :math:`\ell_1` penalties these are eq. 26-27 of seed 002; for
Kullback-Leibler with a ridge penalty it is eq. 36 (see
:func:`penalized_step` for the factor 2 of the penalty). Balancing the
rank-one components (:mod:`skfactor._balance`) between outer iterations does
not change the fit and never increases the penalty, so it keeps the
objective non-increasing.

Sparse data (CSR) never get densified: for Kullback-Leibler the ratio
:math:`X / (WH)` is needed only at the nonzeros of :math:`X`, where
:math:`WH` is evaluated by row-wise dot products, and the rest of the
gradient is made of column sums.

All functions are pure: they return new arrays.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy
from sklearn.utils.extmath import safe_sparse_dot

from .._balance import (
    balance_factors,
    frobenius_scale_fit,
    kl_scale_fit,
    optimal_initial_scale,
    penalty_degree,
    penalty_values,
)
from ..utils._monitor import ConvergenceMonitor

#: Lower bound of every factor entry after an update (seed 002 uses 1e-16).
EPSILON = 1e-16
_TINY = np.finfo(np.float64).tiny
# Nonzeros per block when evaluating WH at the support of a sparse X, to
# bound the memory of the (block, n_components) temporaries.
_BLOCK = 1 << 16

BETA = {"kullback-leibler": 1, "frobenius": 2}


def model_at_support(X, W, H):
    """Entries of ``W @ H`` where ``X`` has stored entries.

    Parameters
    ----------
    X : sparse matrix of shape (m, n)
        CSR (or CSC) matrix; only its sparsity pattern is used.
    W : ndarray of shape (m, r)
    H : ndarray of shape (r, n)

    Returns
    -------
    values : ndarray of shape (X.nnz,)
        ``(W @ H)[i, j]`` for the stored entries ``(i, j)`` of ``X``, in the
        order of ``X.data``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[0.0, 1.0], [2.0, 0.0]]))
    >>> model_at_support(X, np.array([[1.0], [2.0]]), np.array([[3.0, 4.0]]))
    array([4., 6.])
    """
    if X.format == "csc":
        return model_at_support(X.T, H.T, W.T)
    X = X.tocsr()
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    Ht = np.ascontiguousarray(H.T)
    values = np.empty(X.nnz)
    for start in range(0, X.nnz, _BLOCK):
        stop = min(start + _BLOCK, X.nnz)
        values[start:stop] = np.einsum(
            "ij,ij->i", W[rows[start:stop]], Ht[X.indices[start:stop]]
        )
    return values


def model_ratio(X, W, H):
    """The ratio :math:`X / (WH)` where :math:`X` is nonzero (0 elsewhere).

    Dense ``X`` gives a dense array; sparse ``X`` a CSR matrix with the
    sparsity pattern of ``X`` (``W @ H`` is never formed).

    Examples
    --------
    >>> import numpy as np
    >>> model_ratio(np.array([[2.0, 0.0]]), np.ones((1, 1)), np.array([[4.0, 1.0]]))
    array([[0.5, 0. ]])
    """
    if sp.issparse(X):
        X = X.tocsr()
        values = model_at_support(X, W, H)
        return sp.csr_matrix(
            (X.data / np.maximum(values, _TINY), X.indices, X.indptr), shape=X.shape
        )
    return X / np.maximum(W @ H, _TINY)


def beta_divergence(X, W, H, beta, ratio=None):
    r"""Fit term :math:`D_\beta(X \mid WH)` for :math:`\beta \in \{1, 2\}`.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (m, n)
        Nonnegative data.
    W : ndarray of shape (m, r)
    H : ndarray of shape (r, n)
    beta : {1, 2}
        1 for the generalized Kullback-Leibler divergence, 2 for half the
        squared Frobenius norm of the residual.
    ratio : {ndarray, sparse matrix}, default=None
        :func:`model_ratio` of ``(X, W, H)`` if already computed (KL only).

    Returns
    -------
    divergence : float

    Examples
    --------
    >>> import numpy as np
    >>> X, W, H = np.array([[1.0, 2.0]]), np.ones((1, 1)), np.array([[1.0, 1.0]])
    >>> beta_divergence(X, W, H, 2)
    0.5
    >>> round(beta_divergence(X, W, H, 1), 6)  # 2 log 2 - 3 + 2
    0.386294
    """
    if beta == 1:
        if ratio is None:
            ratio = model_ratio(X, W, H)
        if sp.issparse(X):
            x, r = X.data, ratio.data
        else:  # x log(x / y) is 0 where x is: keep the logs to the support
            support = X > 0
            x, r = X[support], ratio[support]
        # sum(WH) from the column sums: never forms WH for sparse X
        model_sum = W.sum(axis=0) @ H.sum(axis=1)
        return float(xlogy(x, r).sum() - x.sum() + model_sum)
    if sp.issparse(X):
        values = model_at_support(X, W, H)
        at_support = np.sum((X.data - values) ** 2)
        # model energy off the support = ||WH||^2 - sum of squares on it; a
        # difference below the rounding error of the subtraction is 0
        energy = np.sum((W.T @ W) * (H @ H.T))
        elsewhere = energy - np.sum(values**2)
        if elsewhere <= 64 * np.finfo(np.float64).eps * energy:
            elsewhere = 0.0
        return float(0.5 * (at_support + elsewhere))
    residual = X - W @ H
    return float(0.5 * np.einsum("ij,ij->", residual, residual))


def penalty(W, H, alpha_W, alpha_H, penalty_W, penalty_H):
    r""":math:`\alpha_W g_W(W) + \alpha_H g_H(H)`.

    >>> import numpy as np
    >>> penalty(np.ones((2, 1)), np.ones((1, 3)), 1.0, 0.5, "l1", "l2")
    3.5
    """
    return float(
        alpha_W * penalty_values(W, penalty_W).sum()
        + alpha_H * penalty_values(H.T, penalty_H).sum()
    )


def objective(X, W, H, beta, alpha_W, alpha_H, penalty_W, penalty_H, ratio=None):
    """Penalized objective: :func:`beta_divergence` plus :func:`penalty`."""
    return beta_divergence(X, W, H, beta, ratio=ratio) + penalty(
        W, H, alpha_W, alpha_H, penalty_W, penalty_H
    )


def penalized_step(F, numerator, denominator, alpha, penalty, beta):
    r"""Entrywise minimizer of the majorizer of the objective in one factor.

    With :math:`\tilde F` the current factor, the majorizer of the fit term
    at an entry is

    - KL (:math:`\beta = 1`): :math:`c f - s \log f` with
      :math:`s = \tilde f \cdot` ``numerator`` and :math:`c` = ``denominator``
      (column sums of the other factor);
    - Frobenius (:math:`\beta = 2`): :math:`\frac{d}{2\tilde f} f^2 - b f`
      with :math:`b` = ``numerator`` (:math:`XH^\top`) and :math:`d` =
      ``denominator`` (:math:`\tilde W H H^\top`).

    Adding :math:`\alpha f` (:math:`\ell_1`; for Frobenius majorized by
    :math:`\alpha (f^2/\tilde f + \tilde f)/2`) or :math:`\alpha f^2`
    (ridge) and minimizing gives

    - :math:`\ell_1`: :math:`f = \tilde f \cdot b / (d + \alpha)` for both
      losses (eq. 26-27 of seed 002 for KL);
    - KL + ridge: the positive root of :math:`2\alpha f^2 + c f - s = 0`,
      :math:`f = 2s / (c + \sqrt{c^2 + 8\alpha s})`. Eq. 36 of the seed,
      :math:`(\sqrt{c^2 + 4\mu s} - c) / (2\mu)`, is the root of
      :math:`\mu f^2 + c f - s`, i.e. the update for a penalty
      :math:`\frac{\mu}{2}\|W\|_F^2`: we apply the penalty exactly as
      written, :math:`\alpha\|W\|_F^2`, hence :math:`\mu = 2\alpha`, in the
      cancellation-free form above;
    - Frobenius + ridge: :math:`f = \tilde f b / (d + 2\alpha\tilde f)`.

    Parameters
    ----------
    F : ndarray
        Current factor :math:`\tilde F`.
    numerator, denominator : ndarray
        Broadcastable to ``F``, see above.
    alpha : float
        Penalty weight.
    penalty : {"l1", "l2"}
    beta : {1, 2}

    Returns
    -------
    F_new : ndarray
        Unconstrained minimizer (clip it at ``EPSILON``: the majorizer is
        convex, so the clipped value is the constrained minimizer).

    Examples
    --------
    >>> import numpy as np
    >>> F, s, c = np.array([2.0]), np.array([3.0]), np.array([1.0])
    >>> f = penalized_step(F, s / F, c, 0.5, "l2", 1)
    >>> float(2 * 0.5 * f[0] ** 2 + 1.0 * f[0] - 3.0)  # the quadratic is 0
    0.0
    """
    if alpha == 0 or penalty_degree(penalty) == 1:
        return F * numerator / (denominator + alpha)
    if beta == 1:
        s = F * numerator
        return 2.0 * s / (denominator + np.sqrt(denominator**2 + 8.0 * alpha * s))
    return F * numerator / (denominator + 2.0 * alpha * F)


def update_W(X, W, H, beta, alpha, penalty, ratio=None):
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
    ratio : {ndarray, sparse matrix}, default=None
        :func:`model_ratio` of ``(X, W, H)`` if already computed (KL only).

    Returns
    -------
    W_new : ndarray of shape (m, r)
        Entries ``>= EPSILON``.
    """
    if beta == 1:
        if ratio is None:
            ratio = model_ratio(X, W, H)
        numerator = safe_sparse_dot(ratio, H.T)
        denominator = H.sum(axis=1)[np.newaxis, :]
    else:
        numerator = safe_sparse_dot(X, H.T)
        denominator = W @ (H @ H.T)
    numerator = np.asarray(numerator)
    return np.maximum(
        penalized_step(W, numerator, denominator, alpha, penalty, beta), EPSILON
    )


def update_H(X, W, H, beta, alpha, penalty, ratio=None):
    """One multiplicative (MM) update of ``H`` with ``W`` fixed.

    The update of ``W`` applied to the transposed problem
    :math:`X^\\top \\approx H^\\top W^\\top`; see :func:`update_W`.
    """
    if beta == 1 and ratio is None:
        ratio = model_ratio(X, W, H)
    ratio_T = None if ratio is None else ratio.T
    return update_W(X.T, H.T, W.T, beta, alpha, penalty, ratio=ratio_T).T


def balance(W, H, alpha_W, alpha_H, penalty_W, penalty_H):
    """Optimal rescaling of the components ``(W[:, q], H[q])`` above the floor.

    The scales of :func:`skfactor._balance.balance_factors` applied to
    ``[W, H.T]``, clipped so that no entry falls below ``EPSILON``: the
    penalty is convex in the log of the scale, so the clipped scale is the
    best one that keeps the factors feasible (it is the unclipped one unless
    a factor has entries at the floor). The product ``W @ H`` is unchanged
    and the penalty does not increase. Components left without a minimizer
    (a zero weight) keep their scale.
    """
    _, scales = balance_factors([W, H.T], [alpha_W, alpha_H], [penalty_W, penalty_H])
    lowest = np.finfo(np.float64).tiny
    low = EPSILON / np.maximum(W.min(axis=0), lowest)
    high = np.maximum(H.min(axis=1), lowest) / EPSILON
    scale = np.minimum(np.maximum(scales[0], np.minimum(low, 1.0)), np.maximum(high, 1.0))
    return W * scale[np.newaxis, :], H / scale[:, np.newaxis]


def _scaled_fit(X, W, H, beta):
    """``t -> D_beta(X | t W H)`` up to an additive constant."""
    if beta == 1:
        return kl_scale_fit(float(X.sum()), float(W.sum(axis=0) @ H.sum(axis=1)))
    data = X.data if sp.issparse(X) else X
    fit = frobenius_scale_fit(
        float(np.dot(data.ravel(), data.ravel())),
        float(np.sum(W * safe_sparse_dot(X, H.T))),
        float(np.sum((W.T @ W) * (H @ H.T))),
    )
    return lambda t: 0.5 * fit(t)


def rescale_init(X, W, H, beta, alpha_W, alpha_H, penalty_W, penalty_H, fit_H=True):
    r"""Initialization of the seed's meta-algorithm: best scalar scaling, then balancing.

    Solves :math:`\min_{\eta > 0} D_\beta(X \mid \eta^2 WH) + \eta^{p_W}
    \alpha_W g_W(W) + \eta^{p_H} \alpha_H g_H(H)` with
    :func:`skfactor._balance.optimal_initial_scale`, scales both factors by
    :math:`\eta` and balances the components. With ``fit_H=False``
    (``H`` fixed, as in ``transform``) only ``W`` is scaled:
    :math:`\min_\eta D_\beta(X \mid \eta WH) + \eta^{p_W}\alpha_W g_W(W)`.

    Returns
    -------
    W, H : ndarray
        Rescaled copies.
    """
    fit = _scaled_fit(X, W, H, beta)
    totals = [alpha_W * penalty_values(W, penalty_W).sum()]
    degrees = [penalty_degree(penalty_W)]
    if not fit_H:
        return W * optimal_initial_scale(fit, totals, degrees), H
    totals.append(alpha_H * penalty_values(H.T, penalty_H).sum())
    degrees.append(penalty_degree(penalty_H))
    eta = optimal_initial_scale(fit, totals, degrees)
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
    args = (beta, alpha_W, alpha_H, penalty_W, penalty_H)
    W, H = np.maximum(W, EPSILON), np.maximum(H, EPSILON)  # feasible start
    ratio = model_ratio(X, W, H) if beta == 1 else None
    monitor.start(objective(X, W, H, *args, ratio=ratio))
    while True:
        for _ in range(n_inner):
            W = update_W(X, W, H, beta, alpha_W, penalty_W, ratio=ratio)
            ratio = None
        if fit_H:
            for _ in range(n_inner):
                H = update_H(X, W, H, beta, alpha_H, penalty_H)
            if balance_every:
                W, H = balance(W, H, alpha_W, alpha_H, penalty_W, penalty_H)
        ratio = model_ratio(X, W, H) if beta == 1 else None
        if monitor.update(objective(X, W, H, *args, ratio=ratio)):
            break
    return W, H, monitor

