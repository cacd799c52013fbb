r"""Objective of penalized NMF with the beta-divergence, and the data layout.

The objective is

.. math::

    D_\beta(X \mid WH) + \alpha_W g_W(W) + \alpha_H g_H(H),

with :math:`D_1` the generalized Kullback-Leibler divergence
:math:`\sum_{ij} x_{ij}\log(x_{ij}/y_{ij}) - x_{ij} + y_{ij}`,
:math:`D_2 = \frac12\|X - Y\|_F^2`, and :math:`g` either the entrywise
:math:`\ell_1` norm :math:`\sum |f|` or the squared Frobenius norm
:math:`\sum f^2` (ridge).

Sparse data (CSR) never get densified: for Kullback-Leibler the ratio
:math:`X / (WH)` is needed only at the nonzeros of :math:`X`, where
:math:`WH` is evaluated by row-wise dot products
(:func:`model_at_support`), and :math:`\sum_{ij} (WH)_{ij}` is the product
of the column sums of :math:`W` and the row sums of :math:`H`. For
Frobenius, :math:`\|WH\|_F^2 = \langle W^\top W, HH^\top\rangle`.

:func:`csr_arrays` gives the nonzeros of dense or sparse data in the one
layout the compiled solvers take.
"""

from collections import namedtuple

import numpy as np
import scipy.sparse as sp
from numba import njit

from ..utils._log import abnormal, exact_weighted_log_sum, log, weighted_log_sum
from ..utils._penalties import entry_penalty, penalty_values

#: Lower bound of every factor entry after an update (Cohen and Leplat use
#: 1e-16).
EPSILON = 1e-16
_TINY = np.finfo(np.float64).tiny
# Nonzeros per block when evaluating WH at the support of a sparse X, to
# bound the memory of the (block, n_components) temporaries.
_BLOCK = 1 << 16

BETA = {"kullback-leibler": 1, "frobenius": 2}
#: The Frobenius fit from Gram matrices (:func:`frobenius_fit_from_gram`) is
#: replaced by the residual's below this fraction of 1/2 ||X||^2.
GRAM_CANCELLATION = 1e-6

#: The nonzeros of X row by row (CSR arrays), as passed to compiled kernels.
Nonzeros = namedtuple("Nonzeros", ["indptr", "indices", "data"])


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


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def kl_log_term(x, y, ratio):  # pragma: no cover (compiled)
    r""":math:`\sum x \log(x / y)` over the nonzeros of ``x`` (flat arrays),
    ``y`` floored at the smallest normal number; writes ``x / y`` into
    ``ratio`` in the same pass. The pass is vectorized only when ``ratio``
    does not overlap ``y`` (LLVM's alias check)."""
    total = 0.0
    n_abnormal = 0
    for p in range(y.size):
        value = x[p] / max(y[p], _TINY)
        ratio[p] = value
        value = value if x[p] != 0.0 else 1.0  # log 1 = 0
        n_abnormal += abnormal(value)
        total += x[p] * log(value)
    if n_abnormal:
        return exact_weighted_log_sum(x, ratio)
    return total


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
        # sum(WH) from the column sums: never forms WH for sparse X
        model_sum = float(W.sum(axis=0) @ H.sum(axis=1))
        # the logarithms by the compiled, vectorized log: on dense X, 0.48
        # (200 x 120) and 0.15 (1000 x 500) of the time of scipy's xlogy on
        # the support; x log(x / y) is 0 where x is
        if ratio is None and not sp.issparse(X):
            x = np.ascontiguousarray(X, dtype=np.float64).reshape(-1)
            y = np.ascontiguousarray(W @ H, dtype=np.float64).reshape(-1)
            log_term = kl_log_term(x, y, np.empty_like(y))
            return log_term - float(x.sum()) + model_sum
        if ratio is None:
            ratio = model_ratio(X, W, H)
        if sp.issparse(X):
            x, r = X.data, ratio.data
        else:
            x, r = X.reshape(-1), np.asarray(ratio).reshape(-1)
        x = np.ascontiguousarray(x, dtype=np.float64)
        r = np.ascontiguousarray(r, dtype=np.float64)
        return float(weighted_log_sum(x, r)) - float(x.sum()) + model_sum
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


def frobenius_fit_from_gram(X, half_norm, product, factor, gram_W, gram_H, W, Ht):
    r""":math:`\frac12\|X - WH\|_F^2` without forming :math:`WH`.

    .. math::

        \tfrac12\|X - WH\|_F^2 = \tfrac12\|X\|_F^2 - \langle A, F\rangle
        + \tfrac12\langle W^\top W, HH^\top\rangle,

    with :math:`\langle A, F\rangle = \langle X, WH\rangle` given by a
    product the solvers have anyway: ``product`` :math:`XH^\top` with
    ``factor`` :math:`W`, or :math:`X^\top W` with :math:`H^\top`. Its
    absolute error is a few :math:`\epsilon\|X\|_F^2`; when the result is
    below ``GRAM_CANCELLATION`` times ``half_norm`` (a relative error above
    about :math:`10^{-9}`: a near-exact fit), the residual itself is summed
    (:func:`beta_divergence`).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (m, n)
    half_norm : float
        :math:`\frac12\|X\|_F^2`.
    product, factor : ndarray of the same shape
    gram_W, gram_H : ndarray of shape (r, r)
        :math:`W^\top W` and :math:`HH^\top`.
    W : ndarray of shape (m, r)
    Ht : ndarray of shape (n, r)
        :math:`H^\top`.

    Returns
    -------
    fit : float

    Examples
    --------
    >>> import numpy as np
    >>> X, W, Ht = np.array([[1.0, 2.0]]), np.ones((1, 1)), np.ones((2, 1))
    >>> A = X @ Ht
    >>> float(frobenius_fit_from_gram(X, 2.5, A, W, W.T @ W, Ht.T @ Ht, W, Ht))
    0.5
    """
    fit = gram_fit(half_norm, product, factor, gram_W, gram_H)
    return exact_if_cancelled(fit, X, half_norm, W, Ht)


@njit(cache=True, fastmath={"reassoc", "contract"})
def gram_fit(half_norm, product, factor, gram_W, gram_H):  # pragma: no cover
    """The Gram identity of :func:`frobenius_fit_from_gram`, compiled (any
    memory layout), without its fallback."""
    cross = 0.0
    for i in range(product.shape[0]):
        for k in range(product.shape[1]):
            cross += product[i, k] * factor[i, k]
    energy = 0.0
    for k in range(gram_W.shape[0]):
        for q in range(gram_W.shape[1]):
            energy += gram_W[k, q] * gram_H[k, q]
    return half_norm - cross + 0.5 * energy


def exact_if_cancelled(fit, X, half_norm, W, Ht):
    """``fit`` from :func:`gram_fit`, or the residual's own value when it is
    below ``GRAM_CANCELLATION`` times ``half_norm`` (too few digits left)."""
    if fit <= GRAM_CANCELLATION * half_norm:
        return beta_divergence(X, W, Ht.T, 2)
    return float(fit)


@njit(cache=True)
def exact_if_cancelled_dense(fit, X, half_norm, W, Ht):
    """:func:`exact_if_cancelled` for dense ``X``, compiled: the residual
    :math:`\\frac12\\|X - W H\\|_F^2` summed entry by entry below the
    cancellation threshold."""
    if fit > GRAM_CANCELLATION * half_norm:
        return fit
    total = 0.0
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            value = X[i, j]
            for k in range(W.shape[1]):
                value -= W[i, k] * Ht[j, k]
            total += value * value
    return 0.5 * total


@njit(cache=True, fastmath={"reassoc", "contract"})
def factor_penalty(F, weight):
    """:math:`\alpha g(F)` of a C-contiguous factor, ``weight`` its
    :class:`~._mm_steps.Penalty`, compiled: one vectorized pass over the
    entries (a third of the time of column sums on 200 x 8)."""
    alpha, degree = weight
    total = 0.0
    for value in F.reshape(-1):
        total += entry_penalty(value, degree)
    return alpha * total


@njit(cache=True)
def penalty_value(W, Ht, penalties):
    """:math:`\alpha_W g_W(W) + \alpha_H g_H(H)` of C-contiguous ``(W,
    Ht^T)``, compiled; ``penalties`` a :class:`~._mm_steps.Penalties`."""
    return factor_penalty(W, penalties.W) + factor_penalty(Ht, penalties.H)


@njit(cache=True)
def kl_objective_rest(data_sum, W, Ht, penalties):
    r"""The KL objective of ``(W, Ht^T)`` but its term :math:`\sum x \log(x / y)`:
    :math:`-\sum x + \sum_k (\sum_i w_{ik})(\sum_j h_{kj})` plus the
    penalty (``data_sum`` is :math:`\sum x`)."""
    r = W.shape[1]
    w_sum = np.zeros(r)
    for i in range(W.shape[0]):
        for k in range(r):
            w_sum[k] += W[i, k]
    h_sum = np.zeros(r)
    for j in range(Ht.shape[0]):
        for k in range(r):
            h_sum[k] += Ht[j, k]
    value = -data_sum
    for k in range(r):
        value += w_sum[k] * h_sum[k]
    return value + penalty_value(W, Ht, penalties)


def dense_kl_objective(X, W, Ht, data_sum, penalties, model, ratio):
    """The Kullback-Leibler objective of a dense ``X`` at ``(W, Ht^T)``,
    leaving :math:`WH` in ``model`` and :math:`X / WH` in ``ratio``
    (C-contiguous buffers of X's shape)."""
    np.matmul(W, Ht.T, out=model)
    log_term = kl_log_term(X.reshape(-1), model.reshape(-1), ratio.reshape(-1))
    return log_term + kl_objective_rest(data_sum, W, Ht, penalties)


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


def n_nonzeros(X):
    """Number of nonzero entries of X, dense or sparse.

    >>> import numpy as np
    >>> n_nonzeros(np.array([[0.0, 2.0], [3.0, 0.0]]))
    2
    """
    return int(X.count_nonzero() if sp.issparse(X) else np.count_nonzero(X))


def csr_arrays(X):
    """:class:`Nonzeros` ``(indptr, indices, data)`` of X, row by row.

    Canonical (sorted, no duplicates) int64/float64 arrays whatever the input
    format, so that the compiled sweeps have a single signature; dense X is
    never copied whole, only its nonzeros.
    """
    if sp.issparse(X):
        X = X.tocsr()
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        return Nonzeros(
            X.indptr.astype(np.int64),
            X.indices.astype(np.int64),
            X.data.astype(np.float64),
        )
    return Nonzeros(*_dense_nonzeros(np.ascontiguousarray(X, dtype=np.float64)))


@njit(cache=True)
def _dense_nonzeros(X):  # pragma: no cover (compiled)
    """CSR arrays of a C-contiguous dense X: one pass counts the nonzeros
    of each row, a second copies them (0.12 of the time of ``np.nonzero``
    and fancy indexing at 200 x 120, 0.04 at 1000 x 500)."""
    m, n = X.shape
    indptr = np.zeros(m + 1, dtype=np.int64)
    for i in range(m):
        count = 0
        for j in range(n):
            count += X[i, j] != 0.0
        indptr[i + 1] = indptr[i] + count
    indices = np.empty(indptr[m], dtype=np.int64)
    data = np.empty(indptr[m])
    p = 0
    for i in range(m):
        for j in range(n):
            if X[i, j] != 0.0:
                indices[p] = j
                data[p] = X[i, j]
                p += 1
    return indptr, indices, data
