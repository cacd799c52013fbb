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
:func:`gram_svd` gives the leading triplets of a dense, very wide (or tall)
matrix several times faster, from the eigendecomposition of its smaller Gram
matrix, when an error estimate guarantees that they are those of the exact
SVD; the caller falls back to :func:`truncated_svd` otherwise.
:func:`low_rank_projection` is the same range finder without the SVD: a
sketch :math:`QQ^\top A` of :math:`A` in factored form (the Frobenius start
of Kullback-Leibler NMF fits it instead of :math:`A`).

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
from sklearn.utils.extmath import (
    randomized_range_finder,
    randomized_svd,
    safe_sparse_dot,
)

# Smallest ratio of the squared Cholesky pivots (smallest over largest) for
# which ridge_solve trusts a direct solve: a lower bound on the condition
# number of about 1e10, where a solve still has ~6 correct digits.
WELL_POSED = 1e-10
#: Largest first-order bound on the error of a singular vector (and on the
#: relative error of a singular value) for which :func:`gram_svd` answers.
GRAM_SVD_RTOL = 1e-6

__all__ = ["column_signs", "column_sums", "gram_svd", "ridge_solve", "truncated_svd"]


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


def low_rank_projection(A, size, *, n_iter, random_state=None):
    """``(Q, B)`` with ``Q @ B`` the projection of ``A`` on a randomized
    approximation of its range (Halko, Martinsson and Tropp, 2011).

    Parameters
    ----------
    A : ndarray or sparse matrix of shape (m, n)
    size : int
        Columns of ``Q``, ``size <= min(m, n)``.
    n_iter : int
        Power iterations of the range finder.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    Q : ndarray of shape (m, size)
        Orthonormal columns.
    B : ndarray of shape (size, n)
        ``Q.T @ A``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.outer([1.0, -2.0, 2.0], [3.0, 4.0, 0.0, 1.0])
    >>> Q, B = low_rank_projection(A, 1, n_iter=2, random_state=0)
    >>> bool(np.allclose(Q @ B, A))
    True
    """
    Q = randomized_range_finder(
        A, size=size, n_iter=n_iter, random_state=check_random_state(random_state)
    )
    return Q, np.ascontiguousarray(safe_sparse_dot(A.T, Q).T)


def gram_svd(A, k, rtol=GRAM_SVD_RTOL):
    r"""Leading ``k`` singular triplets from the smaller Gram matrix, if accurate.

    With :math:`A` of shape :math:`(m, n)`, :math:`m \le n` (otherwise
    :math:`A^\top` is used and the roles of the factors swap), the
    eigenvectors of :math:`AA^\top = U \Lambda U^\top` are the left singular
    vectors, :math:`s_j = \sqrt{\lambda_j}` and
    :math:`v_j = A^\top u_j / s_j`: a product of :math:`m^2 n` and an
    :math:`m \times m` eigendecomposition instead of the SVD of :math:`A`.

    Squaring :math:`A` squares its condition, so the triplets are returned
    only when a first-order error bound allows: forming and diagonalizing
    the Gram matrix perturbs it by at most
    :math:`\delta = (m + n)\,\epsilon\,\lambda_1` (:math:`\epsilon` the
    machine precision), which moves :math:`u_j` by at most
    :math:`\delta / g_j`, :math:`g_j` the distance from :math:`\lambda_j`
    to the other eigenvalues (Davis-Kahan), and :math:`v_j` by at most
    :math:`s_1 / s_j` times that. When this bound exceeds ``rtol`` for some
    :math:`j \le k` (close or repeated singular values, a rank below
    :math:`k`), the answer is ``None``.

    Parameters
    ----------
    A : ndarray of shape (m, n)
        Dense.
    k : int
        Number of triplets, ``1 <= k <= min(m, n)``.
    rtol : float, default=GRAM_SVD_RTOL
        Largest error bound accepted.

    Returns
    -------
    triplets : tuple (U, S, Vt) or None
        As returned by :func:`truncated_svd` (same shapes and sign
        convention), or ``None`` when the bound exceeds ``rtol``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[4.0, 3.0], [-5.0, -9.0], [6.0, 8.0]])
    >>> U, S, Vt = gram_svd(A, 2)
    >>> np.allclose(S, np.linalg.svd(A, compute_uv=False)), np.allclose(U * S @ Vt, A)
    (True, True)
    >>> gram_svd(np.outer([1.0, 2.0], [1.0, 1.0, 1.0]), 2) is None  # rank 1
    True
    """
    A = np.asarray(A, dtype=np.float64)
    wide = A.shape[0] <= A.shape[1]
    small = A if wide else A.T  # (p, q) with p <= q
    p, q = small.shape
    if not 1 <= k <= p:
        raise ValueError(f"k must be in [1, min(A.shape)] = [1, {p}]; got {k}.")
    # squaring entries beyond 2^±256 could overflow or underflow: such a
    # matrix is first scaled by the exact power of two that brings its
    # largest entry near 1 (which changes no digit)
    exponent = int(np.frexp(np.abs(small).max())[1])
    if abs(exponent) > 256:
        small = np.ldexp(small, -exponent)
    else:
        exponent = 0
    values, vectors = np.linalg.eigh(small @ small.T)
    values, vectors = values[::-1], vectors[:, ::-1]
    delta = (p + q) * np.finfo(np.float64).eps * values[0]
    if not values[k - 1] > delta:
        return None
    steps = values[:-1] - values[1:]
    gaps = np.minimum(np.r_[np.inf, steps][:k], np.r_[steps, np.inf][:k])
    if not np.all(gaps > 0):
        return None
    bounds = delta / gaps * np.sqrt(values[0] / values[:k])
    if not np.all(bounds <= rtol):
        return None
    S = np.sqrt(values[:k])
    left = vectors[:, :k]
    right = (left.T @ small) / S[:, None]
    U, Vt = (left, right) if wide else (right.T, left.T)
    signs = column_signs(U)
    return U * signs, np.ldexp(S, exponent), Vt * signs[:, None]


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
