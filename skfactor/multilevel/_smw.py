r"""Compiled kernels of the recursive Sherman-Morrison-Woodbury inverse.

The recursion of :meth:`~skfactor.multilevel.MLRMatrix._smw_recursion` works
on one small Gram matrix per group, :math:`O(r^3)` each; with hundreds of
groups a numpy call per level and step costs more than the arithmetic, so
every level is one compiled loop over its groups (:func:`smw_level`), and the
only pass over the ``n`` rows is the finest groups' Gram matrices
(:func:`leaf_gram`).

The factor :math:`H` of the inverse :math:`D^{-1} - s H H^T` then needs no
further Gram matrices: for a group :math:`b` of level :math:`l'` and a
coarser level :math:`l`, :math:`H_b^T F_l = Q_b^{[:, l]}` with
:math:`Q_b = L_b^{-1} P_b^{[l', :]}` a by-product of the recursion
(:math:`P_b` the Gram matrix :math:`E_b^T (A^{(l'+1)}_b)^{-1} E_b` whose
block :math:`M_b = I + s P_b^{[l', l']} = L_b L_b^T` is factored). Row
:math:`i` of :math:`H`, finest level first, is then

.. math::

    H_l[i] = \Big(F_l[i] / d_i - s \sum_{l' > l} H_{l'}[i]\,
    Q_{b_{l'}(i)}^{[:, l]}\Big) L_{b_l(i)}^{-T},

:math:`b_{l'}(i)` the level-:math:`l'` group of feature :math:`i`
(:func:`inverse_rows`): :math:`O(r^2)` per row, one pass.
"""

import numpy as np
from numba import njit

from ..utils._small_linalg import cholesky_in_place
from ._kernels import _FAST


@njit(cache=True, fastmath=_FAST)
def _leaf_gram(F, d, first, last, out):
    """``out = sum_i F[i]^T F[i] / d[i]`` over rows ``first:last`` (lower triangle)."""
    rank = F.shape[1]
    for j in range(rank):
        for k in range(j + 1):
            out[j, k] = 0.0
    for i in range(first, last):
        f = F[i]
        scale = 1.0 / d[i]
        for j in range(rank):
            a = f[j] * scale
            row = out[j]
            for k in range(j + 1):
                row[k] += a * f[k]


@njit(cache=True)
def _invert_lower(L, out):
    """``out = L^{-1}`` for a lower-triangular ``L`` (forward substitution)."""
    size = L.shape[0]
    out[:] = 0.0
    for j in range(size):
        out[j, j] = 1.0 / L[j, j]
        for i in range(j + 1, size):
            total = 0.0
            for k in range(j, i):
                total -= L[i, k] * out[k, j]
            out[i, j] = total / L[i, i]


@njit(cache=True, inline="always")
def _lower(A, i, j):
    """``A[i, j]`` of a symmetric matrix stored in its lower triangle."""
    return A[i, j] if j <= i else A[j, i]


@njit(cache=True)
def _smw_group(block, R, sign, M, inverse, Q, parent, border, solve):
    r"""One group's step of the recursion: :math:`\log\det M_a` (NaN if not PD).

    ``block`` is :math:`P_a` (lower triangle read), its own ``r_l`` factors
    last: :math:`M_a = I + s P_a^{[R:, R:]} = L_a L_a^T`,
    :math:`Q_a = L_a^{-1} P_a^{[R:, :]}` and
    :math:`\Psi_a = P_a - s Q_a^T Q_a`, whose block over the ancestors'
    columns (lower triangle) is added to ``parent`` and whose own columns
    ``[:, R:]`` go to ``border``. Row ``j`` of ``solve`` gets
    :math:`Q_a^{[j, :R]}` in its first ``R`` columns and row ``j`` of
    :math:`L_a^{-1}` in the next ``r_l`` (see :func:`inverse_rows`).
    ``M``, ``inverse`` and ``Q`` are workspaces.
    """
    size = block.shape[0]
    rank = size - R
    for j in range(rank):
        for k in range(j + 1):
            M[j, k] = sign * block[R + j, R + k]
        M[j, j] += 1.0
    if not cholesky_in_place(M):
        return np.nan
    logdet = 0.0
    for j in range(rank):
        logdet += 2.0 * np.log(M[j, j])
    _invert_lower(M, inverse)
    Q[:] = 0.0
    for k in range(rank):  # Q = L^{-1} P^{[R:, :]}, by rows of P
        for c in range(R + k + 1):
            value = block[R + k, c]
            for j in range(k, rank):
                Q[j, c] += inverse[j, k] * value
        for c in range(R + k + 1, size):
            value = block[c, R + k]
            for j in range(k, rank):
                Q[j, c] += inverse[j, k] * value
    for c in range(R):
        row = parent[c]
        for e in range(c + 1):
            row[e] += block[c, e]
        for k in range(rank):  # rank-one updates along contiguous rows
            a = sign * Q[k, c]
            q = Q[k]
            for e in range(c + 1):
                row[e] -= a * q[e]
    for j in range(rank):
        for c in range(size):
            total = 0.0
            for k in range(rank):
                total += Q[k, c] * Q[k, R + j]
            border[c, j] = _lower(block, c, R + j) - sign * total
    for j in range(rank):
        row = solve[j]
        for c in range(R):
            row[c] = Q[j, c]
        for k in range(rank):
            row[R + k] = inverse[j, k]
    return logdet


@njit(cache=True)
def smw_level(P, R, sign, child_bounds, parents, border, solve):
    r"""One level of the recursion, all its groups: returns :math:`\sum_a \log\det M_a`.

    ``P[a]`` (lower triangles) of the groups ``a`` of the level, stacked
    parent by parent: the children of parent ``k`` are
    ``child_bounds[k]:child_bounds[k + 1]``. Fills ``parents[k]`` (lower
    triangle, zeroed first) with the sum of its children's
    :math:`\Psi^{[:R, :R]}`, ``border[a]`` with :math:`\Psi_a^{[:, R:]}` and
    rows ``a r_l : (a + 1) r_l`` of ``solve`` (:func:`_smw_group`). Returns
    NaN, leaving the outputs partly written, if some :math:`M_a` is not
    numerically positive definite.
    """
    size = P.shape[1]
    rank = size - R
    M = np.empty((rank, rank))
    inverse = np.empty((rank, rank))
    Q = np.empty((rank, size))
    parents[:] = 0.0
    logdet = 0.0
    for k in range(child_bounds.size - 1):
        for a in range(child_bounds[k], child_bounds[k + 1]):
            rows = solve[a * rank : (a + 1) * rank]
            logdet += _smw_group(
                P[a], R, sign, M, inverse, Q, parents[k], border[a], rows
            )
    return logdet


@njit(cache=True, fastmath=_FAST)
def smw_leaves(F, d, bounds, R, sign, child_bounds, parents, border, solve):
    """:func:`smw_level` for the finest level, its Gram matrices made on the fly.

    ``P[g]`` is :math:`E_g^T D^{-1} E_g` over the rows of leaf ``g``
    (``bounds``), all levels' columns: one leaf at a time, never stored.
    """
    size = F.shape[1]
    rank = size - R
    P = np.empty((size, size))
    M = np.empty((rank, rank))
    inverse = np.empty((rank, rank))
    Q = np.empty((rank, size))
    parents[:] = 0.0
    logdet = 0.0
    for k in range(child_bounds.size - 1):
        for g in range(child_bounds[k], child_bounds[k + 1]):
            _leaf_gram(F, d, bounds[g], bounds[g + 1], P)
            rows = solve[g * rank : (g + 1) * rank]
            logdet += _smw_group(P, R, sign, M, inverse, Q, parents[k], border[g], rows)
    return logdet


@njit(cache=True, fastmath=_FAST)
def inverse_rows(F, d, solve, path, bounds, column_offsets, sign, H):
    r"""Rows of the factor :math:`H` of the inverse :math:`D^{-1} - s H H^T`.

    ``solve`` is stacked like the factors (:func:`._kernels.path_index`):
    row ``path[g, j]`` (factor ``j`` of its group, of level ``l``) holds the
    row of :math:`Q` over the coarser levels' columns and the row of
    :math:`L^{-1}` in level ``l``'s columns (:func:`smw_level`). Every row of
    ``H`` is computed from the finest level to the coarsest, by the formula
    of the module docstring.
    """
    n_levels = column_offsets.size - 1
    y = np.empty(F.shape[1])
    for g in range(bounds.size - 1):
        leaf = path[g]
        for i in range(bounds[g], bounds[g + 1]):
            h = H[i]
            scale = 1.0 / d[i]
            for j in range(F.shape[1]):
                y[j] = F[i, j] * scale
            for level in range(n_levels - 1, -1, -1):
                lo, hi = column_offsets[level], column_offsets[level + 1]
                # y of this level is complete: h = L^{-1} y ...
                for j in range(lo, hi):
                    inverse = solve[leaf[j]]
                    total = 0.0
                    for k in range(lo, j + 1):
                        total += inverse[k] * y[k]
                    h[j] = total
                # ... and its terms of the coarser levels' y leave
                for j in range(lo, hi):
                    a = sign * h[j]
                    cross = solve[leaf[j]]
                    for k in range(lo):
                        y[k] -= a * cross[k]
