r"""Truncated SVD and the sign convention of singular vectors.

Every solver that starts from, or reads its structure off, the leading
singular triplets of a matrix (NNDSVD and SVD starts of :math:`X \approx WH`,
HOSVD starts of CP decompositions, the multilevel factor model's fits and
partitions) calls :func:`truncated_svd`, so the choice between an exact and a
randomized decomposition, and the signs of the vectors, are made once:

.. math::

    A \approx U_k \operatorname{diag}(s_k) V_k^\top, \qquad
    s_1 \ge \dots \ge s_k \ge 0,

exact (LAPACK thin SVD) when :math:`\min(m, n)` is small compared with
:math:`k`, otherwise by the randomized range finder of Halko, Martinsson and
Tropp (scikit-learn's :func:`~sklearn.utils.extmath.randomized_svd`, with
power iterations). :func:`column_signs` is the sign convention: the entry of
largest magnitude of every left singular vector is positive.

:func:`ridge_solve` is the one solver of ridge normal equations
:math:`(G + \alpha I) x = b` (ALS steps of CP decompositions, weighted least
squares of switching regressions): Cholesky when :math:`\alpha > 0` makes the
system positive definite, the minimum-norm least-squares solution when it is
singular. :func:`column_sums` sums the columns of a tall, narrow array (the
regime weights of the switching models) by one matrix-vector product, which
numpy's strided reduction ``A.sum(axis=0)`` is about twenty times slower at.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils.extmath import randomized_svd

# Smallest ratio of the squared Cholesky pivots (smallest over largest) for
# which ridge_solve trusts a direct solve: a lower bound on the condition
# number of about 1e10, where a solve still has ~6 correct digits.
WELL_POSED = 1e-10

__all__ = ["column_signs", "column_sums", "ridge_solve", "truncated_svd"]


def column_sums(A):
    """Column sums of a 2-D float array, ``A.sum(axis=0)``, by one BLAS product.

    Examples
    --------
    >>> import numpy as np
    >>> column_sums(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    array([ 9., 12.])
    """
    return np.ones(A.shape[0], dtype=A.dtype) @ A


def column_signs(matrix):
    """Signs making the entry of largest magnitude of every column positive.

    Parameters
    ----------
    matrix : array-like of shape (m, k)

    Returns
    -------
    signs : ndarray of shape (k,)
        ``+1.0`` or ``-1.0`` per column (``+1.0`` for a zero column).

    Examples
    --------
    >>> import numpy as np
    >>> column_signs(np.array([[1.0, -3.0], [-2.0, 0.5]]))
    array([-1., -1.])
    """
    matrix = np.asarray(matrix)
    if matrix.shape[1] == 0:
        return np.ones(0)
    pivot = matrix[np.argmax(np.abs(matrix), axis=0), np.arange(matrix.shape[1])]
    return np.where(pivot < 0, -1.0, 1.0)


def truncated_svd(A, k, random_state=None, *, n_oversamples=10, n_iter=4):
    """Leading ``k`` singular triplets, exact when small, randomized otherwise.

    Parameters
    ----------
    A : ndarray or sparse matrix of shape (m, n)
        A sparse matrix is densified only on the exact path (small sizes).
    k : int
        Number of triplets, ``0 <= k <= min(m, n)``.
    random_state : int, RandomState instance or None, default=None
        Seed of the randomized range finder (unused by the exact path).
    n_oversamples : int, default=10
        Extra random directions of the range finder.
    n_iter : int, default=4
        Power iterations of the range finder.

    Returns
    -------
    U : ndarray of shape (m, k)
    S : ndarray of shape (k,)
        Nonincreasing singular values.
    Vt : ndarray of shape (k, n)
        Signs follow :func:`column_signs` of ``U`` (and ``Vt`` flips with it,
        so ``U * S @ Vt`` is unchanged).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.outer([1.0, -2.0, 2.0], [3.0, 4.0])
    >>> U, S, Vt = truncated_svd(A, 1)
    >>> S.round(6), np.allclose(U * S @ Vt, A)
    (array([15.]), True)
    """
    if not sp.issparse(A):
        A = np.asarray(A)
    m, n = A.shape
    if not 0 <= k <= min(m, n):
        raise ValueError(f"k must be in [0, min(A.shape)] = [0, {min(m, n)}]; got {k}.")
    if k == 0:
        return (
            np.zeros((m, 0), A.dtype),
            np.zeros(0, A.dtype),
            np.zeros((0, n), A.dtype),
        )
    if min(m, n) <= 4 * k + 20:
        dense = A.toarray() if sp.issparse(A) else A
        U, S, Vt = np.linalg.svd(dense, full_matrices=False)
        U, S, Vt = U[:, :k], S[:k], Vt[:k]
    else:
        U, S, Vt = randomized_svd(
            A,
            k,
            n_oversamples=n_oversamples,
            n_iter=n_iter,
            flip_sign=False,
            random_state=check_random_state(random_state),
        )
    signs = column_signs(U)
    return U * signs, S, Vt * signs[:, None]


def ridge_solve(gram, rhs, alpha):
    r"""Solve the ridge normal equations :math:`(G + \alpha I) x = b`.

    Parameters
    ----------
    gram : ndarray of shape (r, r)
        :math:`G`, symmetric positive semidefinite (not modified).
    rhs : ndarray of shape (r,) or (r, m)
        :math:`b`, one right-hand side per column.
    alpha : float
        Ridge weight, ``>= 0``.

    Returns
    -------
    x : ndarray of the shape of ``rhs``
        By a solve when a Cholesky factorization certifies that the system
        is positive definite with squared pivots within a factor
        ``WELL_POSED`` of each other (a lower bound on its condition
        number); otherwise, or if the solution is not finite, the
        minimum-norm least-squares solution (which covers a rank-deficient
        :math:`G`, e.g. a component that is exactly zero, or fewer samples
        than features).

    Examples
    --------
    >>> import numpy as np
    >>> ridge_solve(np.array([[1.0]]), np.array([4.0]), alpha=1.0)
    array([2.])
    >>> ridge_solve(np.zeros((2, 2)), np.zeros(2), alpha=0.0)
    array([0., 0.])
    """
    system = np.array(gram, dtype=np.float64, copy=True)
    system.flat[:: system.shape[0] + 1] += alpha
    try:
        # The Cholesky factorization certifies positive definiteness, and
        # its pivots bound the conditioning from below; numpy's LAPACK calls
        # cost a fraction of scipy's wrappers on the small systems solved
        # here at every iteration.
        pivots = np.diagonal(np.linalg.cholesky(system)) ** 2
        if pivots.min() > WELL_POSED * pivots.max():
            x = np.linalg.solve(system, rhs)
            if np.all(np.isfinite(x)):
                return x
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(system, rhs, rcond=1e-12)[0]
