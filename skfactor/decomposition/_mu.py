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

Kullback-Leibler updates run in compiled sweeps over the nonzeros of
:math:`X` (numba; dense data are swept over their nonzeros too). One sweep
updates the rows of :math:`W` and, on the way, accumulates the numerator of
the next update of :math:`H`, since both need the ratio :math:`X / (WH)`
and the update of a row of :math:`W` involves no other row; the ratio it
computes for the current factors also gives their objective, so
:func:`fit_mu` gets the objective of each iterate from the first sweep of
the next iteration instead of a separate pass over the data (its
logarithms are taken by numpy, vectorized, for a batch of iterations at a
time).

All public functions are pure: they return new arrays.
"""

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.special import xlogy
from sklearn.utils.extmath import safe_sparse_dot

from .._balance import (
    column_penalties,
    frobenius_scale_fit,
    kl_optimal_initial_scale,
    optimal_initial_scale,
    penalty_degree,
    penalty_values,
    scales_of_penalties,
)
from ..utils._monitor import ConvergenceMonitor

#: Lower bound of every factor entry after an update (seed 002 uses 1e-16).
EPSILON = 1e-16
_TINY = np.finfo(np.float64).tiny
# Nonzeros per block when evaluating WH at the support of a sparse X, to
# bound the memory of the (block, n_components) temporaries.
_BLOCK = 1 << 16

# Compiled KL iterations run in batches of at most _BATCH, recording the
# iterates and the ratios X / WH (at most _RECORDED floats in all), so that
# the monitor can stop inside a batch.
_BATCH = 10
_RECORDED = 1 << 16

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
    arrays = [np.asarray(a, dtype=np.float64) for a in (F, numerator, denominator)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    # flat contiguous arrays (copies only where broadcast or strided)
    F, numerator, denominator = (
        np.ascontiguousarray(
            a if a.shape == shape else np.broadcast_to(a, shape)
        ).reshape(-1)
        for a in arrays
    )
    out = np.empty(F.shape)
    degree = penalty_degree(penalty)
    _steps(F, numerator, denominator, float(alpha), degree, float(beta), out)
    return out.reshape(shape)


@njit(cache=True)
def _step(f, numerator, denominator, alpha, degree, beta):
    """:func:`penalized_step` at one entry (the formula, written once)."""
    if alpha == 0.0 or degree == 1.0:
        return f * numerator / (denominator + alpha)
    if beta == 1.0:
        s = f * numerator
        root = np.sqrt(denominator * denominator + 8.0 * alpha * s)
        return 2.0 * s / (denominator + root)
    return f * numerator / (denominator + 2.0 * alpha * f)


@njit(cache=True)
def _steps(F, numerator, denominator, alpha, degree, beta, out):
    for i in range(F.size):
        out[i] = _step(F[i], numerator[i], denominator[i], alpha, degree, beta)


def _csr_arrays(X):
    """``(indptr, indices, data)`` of the nonzeros of X, row by row.

    Canonical (sorted, no duplicates) int64/float64 arrays whatever the input
    format, so that the compiled sweeps have a single signature; dense X is
    never copied whole, only its nonzeros.
    """
    if sp.issparse(X):
        X = X.tocsr()
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        return (
            X.indptr.astype(np.int64),
            X.indices.astype(np.int64),
            X.data.astype(np.float64),
        )
    X = np.asarray(X, dtype=np.float64)
    rows, cols = np.nonzero(X)
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=X.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64), X[rows, cols]


# Compiled code below uses scalar loops only and passes no constant flags
# to compiled callees: array expressions and literal arguments (each a
# separate specialization) multiply the compilation time.


# reassociation lets LLVM vectorize the sums over the components and the
# nonzeros (about 20% faster on 30 x 30, 10% on digits); results change at
# the rounding level only, and stay deterministic
@njit(cache=True, fastmath={"reassoc", "contract"})
def _kl_sweep(indptr, indices, data, W, Ht, alpha, degree, W_out, numerator_T, ratios):
    r"""One pass over the nonzeros of X for the KL fit of ``X ~ W Ht^T``.

    Unless ``W_out`` is empty, writes the multiplicative update of every row
    of W into ``W_out`` (the rows are independent) and the ratios
    :math:`x / y` at the incoming W into ``ratios`` (1 where x is 0, so that
    :math:`\sum x \log(x / y)` is ``data @ log(ratios)``); unless
    ``numerator_T`` is empty, writes into it the numerator
    :math:`((X / WH)^\top W)` of the update of ``H = Ht^T``, for the
    updated W (or W itself without update).

    The logarithms are left to numpy, whose vectorized ``log`` is an order
    of magnitude faster than a compiled scalar loop.
    """
    m, r = W.shape
    update = W_out.shape[0] > 0
    accumulate = numerator_T.shape[0] > 0
    h_sum = np.zeros(r)
    for j in range(Ht.shape[0]):
        for k in range(r):
            h_sum[k] += Ht[j, k]
    numerator = np.empty(r)
    row = np.empty(r)
    if accumulate:
        for j in range(numerator_T.shape[0]):
            for k in range(r):
                numerator_T[j, k] = 0.0
    for i in range(m):
        start, stop = indptr[i], indptr[i + 1]
        for k in range(r):
            row[k] = W[i, k]
        if update:
            for k in range(r):
                numerator[k] = 0.0
            for p in range(start, stop):
                j = indices[p]
                y = 0.0
                for k in range(r):
                    y += row[k] * Ht[j, k]
                ratio = data[p] / max(y, _TINY)
                ratios[p] = ratio if data[p] != 0.0 else 1.0
                for k in range(r):
                    numerator[k] += ratio * Ht[j, k]
            for k in range(r):
                row[k] = max(
                    _step(row[k], numerator[k], h_sum[k], alpha, degree, 1.0), EPSILON
                )
                W_out[i, k] = row[k]
        if accumulate:
            for p in range(start, stop):
                j = indices[p]
                y = 0.0
                for k in range(r):
                    y += row[k] * Ht[j, k]
                ratio = data[p] / max(y, _TINY)
                for k in range(r):
                    numerator_T[j, k] += ratio * row[k]


@njit(cache=True)
def _kl_objective_rest(data_sum, W, Ht, alpha_W, degree_W, alpha_H, degree_H):
    r""":func:`objective` for KL but its term :math:`\sum x \log(x / y)`."""
    r = W.shape[1]
    w_sum = np.zeros(r)
    for i in range(W.shape[0]):
        for k in range(r):
            w_sum[k] += W[i, k]
    h_sum = np.zeros(r)
    for j in range(Ht.shape[0]):
        for k in range(r):
            h_sum[k] += Ht[j, k]
    g_W = column_penalties(W, degree_W)
    g_H = column_penalties(Ht, degree_H)
    value = -data_sum
    for k in range(r):
        value += w_sum[k] * h_sum[k] + alpha_W * g_W[k] + alpha_H * g_H[k]
    return value


@njit(cache=True)
def _kl_update_columns(W, Ht, numerator_T, alpha, degree):
    """Multiplicative update of ``H = Ht^T`` in place from its numerator."""
    r = W.shape[1]
    w_sum = np.zeros(r)
    for i in range(W.shape[0]):
        for k in range(r):
            w_sum[k] += W[i, k]
    for j in range(Ht.shape[0]):
        for k in range(r):
            step = _step(Ht[j, k], numerator_T[j, k], w_sum[k], alpha, degree, 1.0)
            Ht[j, k] = max(step, EPSILON)


@njit(cache=True)
def _balance_in_place(W, Ht, alpha_W, degree_W, alpha_H, degree_H):
    """:func:`balance` of ``(W, Ht^T)``, in place."""
    m, r = W.shape
    n = Ht.shape[0]
    a = np.empty((2, r))
    g_W = column_penalties(W, degree_W)
    g_H = column_penalties(Ht, degree_H)
    degrees = np.empty(2)
    degrees[0], degrees[1] = degree_W, degree_H
    for k in range(r):
        a[0, k] = alpha_W * g_W[k]
        a[1, k] = alpha_H * g_H[k]
    scales = scales_of_penalties(a, degrees)
    for k in range(r):
        w_min, h_min = np.inf, np.inf
        for i in range(m):
            w_min = min(w_min, W[i, k])
        for j in range(n):
            h_min = min(h_min, Ht[j, k])
        low = EPSILON / max(w_min, _TINY)
        high = max(h_min, _TINY) / EPSILON
        scale = min(max(scales[0, k], min(low, 1.0)), max(high, 1.0))
        for i in range(W.shape[0]):
            W[i, k] *= scale
        for j in range(Ht.shape[0]):
            Ht[j, k] /= scale


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
        W = np.ascontiguousarray(W, dtype=np.float64)
        W_new = np.empty_like(W)
        csr = _csr_arrays(X)
        _kl_sweep(
            *csr,
            W,
            np.ascontiguousarray(H.T, dtype=np.float64),
            float(alpha),
            penalty_degree(penalty),
            W_new,
            np.empty((0, 0)),
            np.empty(csr[2].size),
        )
        return W_new
    numerator = np.asarray(safe_sparse_dot(X, H.T))
    denominator = W @ (H @ H.T)
    return np.maximum(
        penalized_step(W, numerator, denominator, alpha, penalty, beta), EPSILON
    )


def update_H(X, W, H, beta, alpha, penalty, XT=None):
    r"""One multiplicative (MM) update of ``H`` with ``W`` fixed.

    The update of ``W`` applied to the transposed problem
    :math:`X^\top \approx H^\top W^\top`; see :func:`update_W`. ``XT``
    is ``X.T`` (as CSR for sparse X) when the caller keeps it across
    updates, to save transposing X every time.
    """
    return update_W(X.T if XT is None else XT, H.T, W.T, beta, alpha, penalty).T


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
    W = np.array(W, dtype=np.float64, order="C")
    Ht = np.array(H.T, dtype=np.float64, order="C")
    _balance_in_place(
        W,
        Ht,
        float(alpha_W),
        penalty_degree(penalty_W),
        float(alpha_H),
        penalty_degree(penalty_H),
    )
    return W, Ht.T


def _frobenius_scaled_fit(X, W, H):
    """``t -> D_2(X | t W H)`` up to an additive constant."""
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
    \alpha_W g_W(W) + \eta^{p_H} \alpha_H g_H(H)` (in closed form for
    Kullback-Leibler, :func:`skfactor._balance.kl_optimal_initial_scale`,
    otherwise by :func:`skfactor._balance.optimal_initial_scale`), scales
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
        eta = optimal_initial_scale(_frobenius_scaled_fit(X, W, H), totals, degrees)
    if not fit_H:
        return W * eta, H
    return balance(eta * W, eta * H, alpha_W, alpha_H, penalty_W, penalty_H)


@njit(cache=True)
def _copy(source, target):
    for i in range(source.shape[0]):
        for k in range(source.shape[1]):
            target[i, k] = source[i, k]


@njit(cache=True)
def _kl_iterations(
    indptr,
    indices,
    data,
    data_sum,
    W,
    W_next,
    Ht,
    numerator_T,
    alpha_W,
    degree_W,
    alpha_H,
    degree_H,
    fit_H,
    balance_every,
    n_inner,
    advance,
    values,
    ratios,
    W_history,
    Ht_history,
):
    """``values.size`` iterations from the iterate ``(W, Ht^T)``, in place.

    On entry and exit, ``W_next`` holds the ``n_inner`` W-updates of the
    current iterate and, with ``fit_H``, ``numerator_T`` the numerator of
    the first H-update at ``W_next``. An iteration moves to the next
    iterate (W from ``W_next``, the H-updates, balancing), then sweeps for
    its objective and W-updates. Recorded for each iteration: the objective
    but its log term in ``values``, the ratios that give the log term in
    ``ratios`` (see :func:`_kl_sweep`), and the iterate in ``W_history`` and
    ``Ht_history``. With ``advance=False`` (the start), only the sweeps of
    the current iterate are done.
    """
    m, r = W.shape
    no_array = np.empty((0, r))
    W_inner = np.empty((m, r))
    scratch = np.empty(data.size)
    for step in range(values.size):
        if advance and fit_H:
            _copy(W_next, W)
            for inner in range(n_inner):
                if inner > 0:
                    _kl_sweep(
                        indptr,
                        indices,
                        data,
                        W,
                        Ht,
                        alpha_W,
                        degree_W,
                        no_array,
                        numerator_T,
                        scratch,
                    )
                _kl_update_columns(W, Ht, numerator_T, alpha_H, degree_H)
            if balance_every:
                _balance_in_place(W, Ht, alpha_W, degree_W, alpha_H, degree_H)
        elif advance:
            _copy(W_next, W)
        source = W
        for inner in range(n_inner):
            if inner > 0:
                _copy(W_next, W_inner)
                source = W_inner
            last = inner == n_inner - 1
            _kl_sweep(
                indptr,
                indices,
                data,
                source,
                Ht,
                alpha_W,
                degree_W,
                W_next,
                numerator_T if fit_H and last else no_array,
                ratios[step] if inner == 0 else scratch,
            )
        values[step] = _kl_objective_rest(
            data_sum, W, Ht, alpha_W, degree_W, alpha_H, degree_H
        )
        _copy(W, W_history[step])
        _copy(Ht, Ht_history[step])


@njit(cache=True, fastmath={"reassoc", "contract"})
def _add_weighted_sums(values, rows, weights):
    """``values += rows @ weights``, with a summation order that depends only
    on the length of the rows (so an objective does not depend on where its
    iteration falls in a batch)."""
    for step in range(values.size):
        total = 0.0
        for p in range(weights.size):
            total += weights[p] * rows[step, p]
        values[step] += total


class _KLSweeps:
    """Kullback-Leibler iterations by compiled sweeps over the nonzeros of X.

    Holds ``Ht = H.T`` (C-contiguous, a row per column of X), the current W
    and its W-update ``W_next``. Iterations run in compiled batches, each
    iterate recorded so that the monitor can stop inside a batch; small
    problems get batches of up to ``_BATCH`` iterations (the call and
    bookkeeping of an iteration cost as much as its arithmetic on a 30 x 30
    matrix), large ones single iterations (recording them would cost
    memory and copies).
    """

    def __init__(
        self,
        X,
        W,
        H,
        alpha_W,
        alpha_H,
        penalty_W,
        penalty_H,
        fit_H,
        balance_every,
        n_inner,
    ):
        self.csr = _csr_arrays(X)
        self.data_sum = float(self.csr[2].sum())
        self.W = np.array(W, dtype=np.float64, order="C")
        self.W_next = np.empty_like(self.W)
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self.numerator_T = np.zeros(self.Ht.shape if fit_H else (0, 0))
        self.weights = (
            float(alpha_W),
            penalty_degree(penalty_W),
            float(alpha_H),
            penalty_degree(penalty_H),
        )
        self.fit_H = fit_H
        self.balance_every = balance_every
        self.n_inner = n_inner
        size = self.W.size + self.Ht.size + self.csr[2].size
        self.batch = int(min(_BATCH, max(1, _RECORDED // size)))

    def _run(self, n_steps, advance):
        values = np.empty(n_steps)
        ratios = np.empty((n_steps, self.csr[2].size))
        self.W_history = np.empty((n_steps,) + self.W.shape)
        self.Ht_history = np.empty((n_steps,) + self.Ht.shape)
        _kl_iterations(
            *self.csr,
            self.data_sum,
            self.W,
            self.W_next,
            self.Ht,
            self.numerator_T,
            *self.weights,
            self.fit_H,
            self.balance_every,
            self.n_inner,
            advance,
            values,
            ratios,
            self.W_history,
            self.Ht_history,
        )
        # sum x log(x / y), the logarithms of the whole batch at once
        _add_weighted_sums(values, np.log(ratios, out=ratios), self.csr[2])
        return values

    def start(self):
        return self._run(1, False)[0]

    def iterate(self, n_steps):
        return self._run(min(n_steps, self.batch), True)

    def keep(self, step):
        """Make the ``step``-th iterate of the last batch the current one."""
        self.W, self.Ht = self.W_history[step], self.Ht_history[step]

    def factors(self):
        return self.W, np.ascontiguousarray(self.Ht.T)


class _NumpyUpdates:
    """Iterations by the array updates :func:`update_W` and :func:`update_H`."""

    def __init__(
        self,
        X,
        W,
        H,
        beta,
        alpha_W,
        alpha_H,
        penalty_W,
        penalty_H,
        fit_H,
        balance_every,
        n_inner,
    ):
        self.X, self.W, self.H = X, W, H
        self.XT = X.T.tocsr() if sp.issparse(X) else X.T
        self.args = (beta, alpha_W, alpha_H, penalty_W, penalty_H)
        self.fit_H = fit_H
        self.balance_every = balance_every
        self.n_inner = n_inner

    def start(self):
        return objective(self.X, self.W, self.H, *self.args)

    def iterate(self, n_steps):
        """One iteration (whatever ``n_steps``); its objective."""
        beta, alpha_W, alpha_H, penalty_W, penalty_H = self.args
        for _ in range(self.n_inner):
            self.W = update_W(self.X, self.W, self.H, beta, alpha_W, penalty_W)
        if self.fit_H:
            for _ in range(self.n_inner):
                self.H = update_H(
                    self.X, self.W, self.H, beta, alpha_H, penalty_H, XT=self.XT
                )
            if self.balance_every:
                self.W, self.H = balance(self.W, self.H, *self.args[1:])
        return [objective(self.X, self.W, self.H, *self.args)]

    def keep(self, step):
        pass

    def factors(self):
        return self.W, self.H


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
    penalties = (alpha_W, alpha_H, penalty_W, penalty_H)
    if beta == 1:
        state = _KLSweeps(X, W, H, *penalties, **options)
    else:
        state = _NumpyUpdates(X, W, H, beta, *penalties, **options)
    monitor.start(state.start())
    while True:
        values = state.iterate(max_iter - monitor.n_iter)
        stop = next((k for k, v in enumerate(values) if monitor.update(v)), None)
        if stop is not None:
            state.keep(stop)
            break
    W, H = state.factors()
    return W, H, monitor
