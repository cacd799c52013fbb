r"""Weighted ridge regression in closed form, the exact P-step of the squared loss.

For one regime with sample weights :math:`w`, the weighted least squares
with an l2 penalty :math:`\alpha\|\beta\|^2` (intercept unpenalized) is
solved from the weighted moments of the augmented design
:math:`A = [1, X, Y]`: :math:`A^T \operatorname{diag}(w) A` holds the Gram
matrix, the right-hand sides and the weighted sums needed to center. Used by
:class:`~skfactor.switching._pstep.ClosedFormPStep`, which computes the
moments of every regime in one matrix product when the column products of
:math:`A` fit in :data:`PRODUCTS_BUDGET`.
"""

import numpy as np

from ..utils._linalg import ridge_solve


# Largest ``n_samples * n_moments`` for which ClosedFormPStep keeps the
# products of the columns of [1, X, Y] (the moments of every regime are then
# one matrix product per iteration); beyond it, one pass over the data per
# regime. 4M floats is 32 MB.
PRODUCTS_BUDGET = 4_000_000


def augmented_design(X, Y):
    """Columns :math:`[1, X, Y]` whose weighted moments give the normal equations."""
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    return np.hstack([np.ones((X.shape[0], 1)), X, Y2])


def column_products(A):
    r"""Products :math:`a_{ti} a_{tj}`, :math:`i \le j`, of the columns of ``A``.

    Returns the products, shape (n_samples, d (d + 1) / 2), and the indices
    (rows, columns) of the upper triangle they fill.
    """
    upper = np.triu_indices(A.shape[1])
    return A[:, upper[0]] * A[:, upper[1]], upper


def weighted_moments(A, W, products=None):
    r"""Weighted moment matrices :math:`M_k = \sum_t w_{tk} a_t a_t^\top`.

    Parameters
    ----------
    A : ndarray of shape (n_samples, d)
    W : ndarray of shape (n_samples, K)
        Nonnegative weights, one column per regime.
    products : tuple, default=None
        :func:`column_products` of ``A``: the moments of all regimes are
        then one matrix product (cheaper for small ``d``); otherwise one
        pass over ``A`` per regime.

    Returns
    -------
    ndarray of shape (K, d, d), symmetric.
    """
    K, d = W.shape[1], A.shape[1]
    if products is None:
        return np.stack([(A * W[:, k, None]).T @ A for k in range(K)])
    values, (rows, cols) = products
    M = np.empty((K, d, d))
    flat = W.T @ values
    M[:, rows, cols] = flat
    M[:, cols, rows] = flat
    return M


def ridge_from_moments(M, n_features, alpha, fit_intercept):
    r"""Weighted ridge regression from the moments of :math:`[1, X, Y]`.

    Minimizes :math:`\sum_t w_t \|y_t - \beta^\top x_t - b\|^2 +
    \alpha \|\beta\|^2` given :math:`M = \sum_t w_t a_t a_t^\top`,
    :math:`a_t = (1, x_t, y_t)`. With an intercept, the normal equations of
    the weighted-centered data, :math:`X^\top W X - s\, \bar x \bar
    x^\top` (:math:`s = \sum_t w_t`), follow from the moments, which is
    well conditioned when ``X`` and ``Y`` are roughly centered (as
    :class:`ClosedFormPStep` ensures once per fit). A singular system
    (fewer weighted samples than features and ``alpha=0``) gets the
    minimum-norm solution.

    Returns
    -------
    coef : ndarray of shape (n_features, n_outputs)
    intercept : ndarray of shape (n_outputs,)
    """
    x, y = slice(1, 1 + n_features), slice(1 + n_features, None)
    gram = M[x, x].copy()
    rhs = M[x, y].copy()
    if fit_intercept:
        total = M[0, 0]
        x_mean = M[0, x] / total
        y_mean = M[0, y] / total
        gram -= total * np.outer(x_mean, x_mean)
        rhs -= total * np.outer(x_mean, y_mean)
    coef = ridge_solve(gram, rhs, alpha)
    if fit_intercept:
        intercept = y_mean - x_mean @ coef
    else:
        intercept = np.zeros(rhs.shape[1])
    return coef, intercept


def weighted_ridge(X, Y, w, alpha, fit_intercept):
    r"""Minimize :math:`\sum_i w_i \|y_i - x_i^T \beta - b\|^2 + \alpha \|\beta\|^2`.

    One regime of :class:`ClosedFormPStep`, by :func:`ridge_from_moments`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    w : ndarray of shape (n_samples,)
        Nonnegative weights, not all zero.
    alpha : float
    fit_intercept : bool

    Returns
    -------
    coef : ndarray of shape (n_features,) or (n_features, n_outputs)
    intercept : float or ndarray of shape (n_outputs,)
    """
    M = weighted_moments(augmented_design(X, Y), w[:, None])[0]
    coef, intercept = ridge_from_moments(M, X.shape[1], alpha, fit_intercept)
    if Y.ndim == 1:
        return coef[:, 0], float(intercept[0])
    return coef, intercept
