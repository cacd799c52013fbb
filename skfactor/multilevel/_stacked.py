r"""Compiled kernels on the stacked factors of all the groups.

The factors of every group of every level are stacked in ``S`` rows
(:func:`._kernels.path_index`); the ``r`` factors a finest group's features
load on are the rows ``path[g]``. The E-step's posterior means and
covariances and the M-step's Gram matrices and per-leaf solves work on these
rows, in :math:`O(S R)` per sample (``R`` the factors of a path) whatever
the number of features: top-down over the levels, every group given by one
finest group inside it (:func:`._kernels.representatives`).
"""

import numpy as np
from numba import njit

from ._kernels import _FAST, _accumulate, _accumulate_pair, _add_dots, _add_dots_pair


@njit(cache=True, fastmath=_FAST)
def path_mean_rows(T, solve, psi, path, representatives, R, Z):
    r"""Posterior means of the factors of one level's groups, given their ancestors'.

    For group ``c`` of this level (given by a finest group ``g`` inside it,
    ``representatives[c]``), whose ancestors' factors are the stacked rows
    ``path[g, :R]`` (already in ``Z``) and its own ``path[g, R:R + r_l]``:

    .. math::

        \bar z_c = L_c^{-T} T_c - \Psi_c^{[R:, :R]} \bar z_{\text{anc}},

    ``T`` :math:`= H^T Y` stacked, ``solve`` the rows of :math:`L_c^{-1}`
    (columns ``R:R + r_l``, :meth:`MLRMatrix._smw_recursion`) and ``psi``
    of shape ``(n_groups, R + r_l, r_l)``, the columns :math:`R:` of
    :math:`\Psi_c`.
    """
    rank = psi.shape[2]
    coefficients = np.empty((2, R + rank))
    for c in range(psi.shape[0]):
        leaf = path[representatives[c]]
        for j in range(rank):
            out = Z[leaf[R + j]]
            out[:] = 0.0
            for k in range(j, rank):  # (L^{-T})[j, k] = (L^{-1})[k, j]
                coefficients[0, k - j] = solve[leaf[R + k], R + j]
            _accumulate(out, coefficients[0, : rank - j], T, leaf[R + j :], 1.0)
        # the ancestors' part two factors at a time (their rows loaded once)
        for j in range(0, rank - 1, 2):
            for m in range(R):
                coefficients[0, m] = psi[c, m, j]
                coefficients[1, m] = psi[c, m, j + 1]
            out0, out1 = Z[leaf[R + j]], Z[leaf[R + j + 1]]
            first, second = coefficients[0, :R], coefficients[1, :R]
            _accumulate_pair(out0, out1, first, second, Z, leaf, -1.0)
        if rank % 2:
            for m in range(R):
                coefficients[0, m] = psi[c, m, rank - 1]
            _accumulate(Z[leaf[R + rank - 1]], coefficients[0, :R], Z, leaf, -1.0)


@njit(cache=True, fastmath=_FAST)
def path_cross_gram(Z, path, representatives, starts, column_offsets, out):
    """Add the products of the posterior means of every factor with those of its path.

    For every group ``b`` of level ``l``, given by a finest group ``g`` inside
    it (``representatives[starts[l]:starts[l + 1]]``), and every column ``j``
    of level ``l``: ``out[path[g, j], c] += Z[path[g, j]] . Z[path[g, c]]``
    for the columns ``c < column_offsets[l + 1]`` of the levels up to ``l``.
    Every product of two factors on a common path is computed once.
    """
    for level in range(starts.size - 1):
        stop = column_offsets[level + 1]
        for position in range(starts[level], starts[level + 1]):
            g = representatives[position]
            start = column_offsets[level]
            for j in range(start, stop - 1, 2):  # two at a time, see _add_dots_pair
                own, next_ = path[g, j], path[g, j + 1]
                row, next_row = out[own, :stop], out[next_, :stop]
                _add_dots_pair(Z[own], Z[next_], Z, path[g], row, next_row)
            if (stop - start) % 2:
                own = path[g, stop - 1]
                _add_dots(Z[own], Z, path[g], out[own, :stop])


@njit(cache=True)
def path_covariance_rows(psi, path, representatives, R, out):
    r"""Rows of the path posterior covariances of the groups of one level.

    Stacked like :func:`path_cross_gram`: the covariance :math:`V_c` of the
    factors on the path of group ``c`` of this level (given by a finest group
    ``g`` inside it, ``representatives[c]``) has the rows of its ancestors
    already in ``out`` (row ``path[g, k]``, columns up to ``k``'s level) and
    gets its own rows ``path[g, R + j]``, columns ``:R + r_l``:

    .. math::

        V_c^{[R + j, :R]} = -(V_a X_c)_{:, j}, \qquad
        V_c^{[R + j, R + i]} = \delta_{ji} - \Psi_c^{R + j, R + i}
        + (X_c^T V_a X_c)_{ji}, \qquad X_c = \Psi_c^{[:R], R:},

    ``psi`` of shape ``(n_groups, R + r_l, r_l)``, the columns :math:`R:` of
    :math:`\\Psi_c`, :math:`V_a` the parent's covariance read from its rows
    (symmetric).
    """
    rank = psi.shape[2]
    parent = np.empty((R, R))  # V_a, dense, refilled when the parent changes
    VXt = np.empty((rank, R))
    previous = -1
    for c in range(psi.shape[0]):
        g = representatives[c]
        if R and path[g, R - 1] != previous:
            previous = path[g, R - 1]
            for m in range(R):
                source = out[path[g, m]]
                for k in range(m + 1):
                    parent[m, k] = source[k]
                    parent[k, m] = source[k]
        for j in range(rank):  # (V_a X_c)^T, rows of V_a symmetric
            VXt[j, :] = 0.0
            for m in range(R):
                x = psi[c, m, j]
                for k in range(R):
                    VXt[j, k] += x * parent[m, k]
        for j in range(rank):
            row = out[path[g, R + j]]
            for k in range(R):
                row[k] = -VXt[j, k]
            for i in range(rank):
                total = -psi[c, R + j, i]
                for k in range(R):
                    total += psi[c, k, j] * VXt[i, k]
                row[R + i] = total
            row[R + j] += 1.0


@njit(cache=True)
def leaf_matrices(G, path, stops):
    """``C_g`` of every finest group from its stacked rows (see :func:`leaf_solve`)."""
    size = path.shape[1]
    C = np.empty((path.shape[0], size, size))
    for g in range(path.shape[0]):
        for j in range(size):
            row = path[g, j]
            for c in range(stops[j]):
                value = G[row, c]
                C[g, j, c] = value
                C[g, c, j] = value
    return C


@njit(cache=True, fastmath=_FAST)
def leaf_solve(G, path, stops, B, bounds, out):
    """M-step of the loadings: ``f_i = C_g^{-1} b_i`` for the rows of every leaf.

    ``C_g = N V_g + Zp_g Zp_g^T`` is read from its stacked rows ``G`` (row
    ``path[g, j]``, columns ``:stops[j]``, the path columns of column
    ``j``'s level; see :func:`path_cross_gram`). The leading block of
    ``C_g`` over the columns of a group's ancestors is the same for all the
    leaves below it, and the leaves come in hierarchy order: each ``C_g`` is
    refilled, and the inverse of its Cholesky factor recomputed, only from
    the first column whose group differs from the previous leaf's; every row
    is solved by two triangular products with that inverse. Returns False
    (leaving ``out`` partly written) if some ``C_g`` is not numerically
    positive definite.
    """
    size = path.shape[1]
    C = np.empty((size, size))  # lower triangle
    inverse = np.zeros((size, size))  # L^{-1}, zero above the diagonal
    transposed = np.zeros((size, size))
    columns = np.empty(size, dtype=np.intp)
    for k in range(size):
        columns[k] = k
    y = np.empty(size)
    y_next = np.empty(size)
    for g in range(bounds.size - 1):
        start = 0
        if g > 0:
            while start < size and path[g, start] == path[g - 1, start]:
                start += 1
        for j in range(start, size):
            row = path[g, j]
            for c in range(stops[j]):
                C[j, c] = G[row, c]
        # Rows start: of L^{-1} (C = L L^T): row i of L is l = L_{<i}^{-1} c_{<i},
        # L_ii = sqrt(C_ii - l.l), and row i of the inverse is
        # -l^T L_{<i}^{-1} / L_ii: dot products with the rows of the inverse
        # and of its transpose, no chains of dependent divisions.
        for i in range(start, size):
            factor_row = y[:i]
            factor_row[:] = 0.0
            _add_dots(C[i, :i], inverse, columns, factor_row)
            pivot = C[i, i]
            for k in range(i):
                pivot -= factor_row[k] * factor_row[k]
            if not pivot > 0.0:
                return False
            pivot = 1.0 / np.sqrt(pivot)
            row = inverse[i, :i]
            row[:] = 0.0
            _add_dots(factor_row, transposed, columns, row)
            for j in range(i):
                row[j] *= -pivot
                transposed[j, i] = row[j]
            inverse[i, i] = pivot
            transposed[i, i] = pivot
        # f_i = L^{-T} (L^{-1} b_i) by dot products with full rows (zero
        # above the diagonal): no chains of dependent divisions; two rows
        # per load of the inverse
        first, last = bounds[g], bounds[g + 1]
        out[first:last] = 0.0
        for i in range(first, last - 1, 2):
            y[:] = 0.0
            y_next[:] = 0.0
            _add_dots_pair(B[i], B[i + 1], inverse, columns, y, y_next)
            _add_dots_pair(y, y_next, transposed, columns, out[i], out[i + 1])
        if (last - first) % 2:
            y[:] = 0.0
            _add_dots(B[last - 1], inverse, columns, y)
            _add_dots(y, transposed, columns, out[last - 1])
    return True
