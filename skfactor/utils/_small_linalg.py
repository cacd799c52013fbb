r"""Small dense solves inside compiled kernels.

:func:`cholesky_in_place` factors a small symmetric positive definite
:math:`S = L L^\top`, :func:`cholesky_substitute` solves
:math:`L L^\top x = b` by forward and back substitution in place, and
:func:`cholesky_solve_in_place` does both for several right-hand sides: the
Newton systems of the switching F-step (block tridiagonal elimination) and of
the exact W-step of NMF (regularized Hessian of the free variables), the
loading M-step of the multilevel factor model (one factorization per leaf
group, a substitution per feature) and its Sherman-Morrison-Woodbury
recursion (one factorization per group), call them from their loops.
"""

import numpy as np
from numba import njit

__all__ = ["cholesky_in_place", "cholesky_solve_in_place", "cholesky_substitute"]


@njit(cache=True)
def cholesky_in_place(S):  # pragma: no cover (numba)
    """Overwrite the lower triangle of a small SPD ``S`` with ``L``, ``S = L L^T``.

    Returns False (``S`` partly overwritten) if ``S`` is not numerically
    positive definite. The strict upper triangle is left as it was.
    """
    d = S.shape[0]
    for j in range(d):
        acc = S[j, j]
        for k in range(j):
            acc -= S[j, k] * S[j, k]
        if not acc > 0.0:
            return False
        S[j, j] = np.sqrt(acc)
        for i in range(j + 1, d):
            acc = S[i, j]
            for k in range(j):
                acc -= S[i, k] * S[j, k]
            S[i, j] = acc / S[j, j]
    return True


@njit(cache=True)
def cholesky_substitute(L, x):  # pragma: no cover (numba)
    """Overwrite the 1-D ``x`` with the solution of ``L L^T z = x``.

    ``L`` is read from the lower triangle (from :func:`cholesky_in_place`);
    both substitutions run in place, so nothing is allocated.
    """
    d = L.shape[0]
    for i in range(d):  # L y = x
        acc = x[i]
        for k in range(i):
            acc -= L[i, k] * x[k]
        x[i] = acc / L[i, i]
    for i in range(d - 1, -1, -1):  # L^T z = y
        acc = x[i]
        for k in range(i + 1, d):
            acc -= L[k, i] * x[k]
        x[i] = acc / L[i, i]


@njit(cache=True)
def cholesky_solve_in_place(S, rhs):  # pragma: no cover (numba)
    """Overwrite ``rhs`` (d, c) with ``S^{-1} rhs`` for a small SPD ``S`` (destroyed).

    A matrix that is not numerically positive definite gives NaN.
    """
    if not cholesky_in_place(S):
        rhs[:] = np.nan
        return
    for c in range(rhs.shape[1]):
        cholesky_substitute(S, rhs[:, c])
