r"""Small dense solves inside compiled kernels.

:func:`cholesky_solve_in_place` overwrites :math:`B` with :math:`S^{-1} B` for
a small symmetric positive definite :math:`S = L L^\top` (Cholesky, forward
and back substitution), without allocating: the Newton systems of the
switching F-step (block tridiagonal elimination) and of the exact W-step of
NMF (regularized Hessian of the free variables) call it from their loops.
"""

import numpy as np
from numba import njit

__all__ = ["cholesky_solve_in_place"]


@njit(cache=True)
def cholesky_solve_in_place(S, rhs):  # pragma: no cover (numba)
    """Overwrite ``rhs`` with ``S^{-1} rhs`` for a small SPD ``S`` (destroyed)."""
    d = S.shape[0]
    for j in range(d):  # S = L L^T, L in the lower triangle of S
        acc = S[j, j]
        for k in range(j):
            acc -= S[j, k] * S[j, k]
        S[j, j] = np.sqrt(acc)
        for i in range(j + 1, d):
            acc = S[i, j]
            for k in range(j):
                acc -= S[i, k] * S[j, k]
            S[i, j] = acc / S[j, j]
    for c in range(rhs.shape[1]):
        for i in range(d):  # L x = b
            acc = rhs[i, c]
            for k in range(i):
                acc -= S[i, k] * rhs[k, c]
            rhs[i, c] = acc / S[i, i]
        for i in range(d - 1, -1, -1):  # L^T x = y
            acc = rhs[i, c]
            for k in range(i + 1, d):
                acc -= S[k, i] * rhs[k, c]
            rhs[i, c] = acc / S[i, i]
