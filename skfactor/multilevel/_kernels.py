r"""Per-level block products of multilevel low-rank matrices.

Every operation of an MLR matrix on a block of vectors reduces to two
products over the groups :math:`a` of one level, each group a contiguous
range of rows :math:`s_a:e_a` (canonical order):

.. math::

    \text{gram:}\quad T_a = A_a^T B_a, \qquad
    \text{product:}\quad O_a \mathrel{+}= \sigma\, A_a T_a,

with :math:`A_a` the rows of the group of an ``(n, r_l)`` factor,
:math:`B_a` of an ``(n, m)`` block and :math:`T_a` an ``(r_l, m)`` matrix per
group. A level of few large groups loops over
its groups with BLAS; a level of many small groups (where a call per group
costs more than its arithmetic) runs one compiled loop over all its rows, so
the cost is :math:`O(n r_l m)` either way with no per-group Python overhead.
"""

import numpy as np
from numba import njit


# A level whose groups have at least this many rows on average uses BLAS per
# group; below, one compiled loop over the rows.
_BLAS_MIN_ROWS = 96
# The loops may reassociate sums (vectorized), but keep inf and NaN semantics.
_FAST = {"reassoc", "contract", "nsz"}


@njit(cache=True, fastmath=_FAST)
def _accumulate(out, coefficients, X, rows, sign):
    """``out += sign * sum_k coefficients[k] * X[rows[k]]``, four rows at a time.

    One load and store of ``out`` per four products instead of one per
    product: the loops are bound by the stores otherwise.
    """
    count, width = coefficients.size, out.size
    k = 0
    while k + 4 <= count:
        a0, a1 = sign * coefficients[k], sign * coefficients[k + 1]
        a2, a3 = sign * coefficients[k + 2], sign * coefficients[k + 3]
        x0, x1, x2, x3 = X[rows[k]], X[rows[k + 1]], X[rows[k + 2]], X[rows[k + 3]]
        for t in range(width):
            out[t] += a0 * x0[t] + a1 * x1[t] + a2 * x2[t] + a3 * x3[t]
        k += 4
    while k < count:
        a, x = sign * coefficients[k], X[rows[k]]
        for t in range(width):
            out[t] += a * x[t]
        k += 1


@njit(cache=True, fastmath=_FAST)
def _add_dots(x, X, rows, out):
    """``out[k] += x . X[rows[k]]`` for every ``k < out.size``, four at a time.

    One load of ``x`` per four products (the loops are bound by the loads).
    """
    count, width = out.size, x.size
    k = 0
    while k + 4 <= count:
        x0, x1, x2, x3 = X[rows[k]], X[rows[k + 1]], X[rows[k + 2]], X[rows[k + 3]]
        s0 = s1 = s2 = s3 = 0.0
        for t in range(width):
            v = x[t]
            s0 += v * x0[t]
            s1 += v * x1[t]
            s2 += v * x2[t]
            s3 += v * x3[t]
        out[k] += s0
        out[k + 1] += s1
        out[k + 2] += s2
        out[k + 3] += s3
        k += 4
    while k < count:
        y = X[rows[k]]
        total = 0.0
        for t in range(width):
            total += x[t] * y[t]
        out[k] += total
        k += 1


@njit(cache=True, fastmath=_FAST)
def _accumulate_pair(out0, out1, coefficients0, coefficients1, X, rows, sign):
    """:func:`_accumulate` into two rows at once, from the same rows of ``X``.

    Each row of ``X`` is loaded once for both (the loops are bound by the
    loads).
    """
    count, width = coefficients0.size, out0.size
    k = 0
    while k + 4 <= count:
        a0, a1 = sign * coefficients0[k], sign * coefficients0[k + 1]
        a2, a3 = sign * coefficients0[k + 2], sign * coefficients0[k + 3]
        b0, b1 = sign * coefficients1[k], sign * coefficients1[k + 1]
        b2, b3 = sign * coefficients1[k + 2], sign * coefficients1[k + 3]
        x0, x1, x2, x3 = X[rows[k]], X[rows[k + 1]], X[rows[k + 2]], X[rows[k + 3]]
        for t in range(width):
            v0, v1, v2, v3 = x0[t], x1[t], x2[t], x3[t]
            out0[t] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
            out1[t] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
        k += 4
    while k < count:
        a, b, x = sign * coefficients0[k], sign * coefficients1[k], X[rows[k]]
        for t in range(width):
            out0[t] += a * x[t]
            out1[t] += b * x[t]
        k += 1


@njit(cache=True, fastmath=_FAST)
def _add_dots_pair(x, y, X, rows, out_x, out_y):
    """:func:`_add_dots` for two vectors at once, against the same rows of ``X``."""
    count, width = out_x.size, x.size
    k = 0
    while k + 4 <= count:
        x0, x1, x2, x3 = X[rows[k]], X[rows[k + 1]], X[rows[k + 2]], X[rows[k + 3]]
        s0 = s1 = s2 = s3 = 0.0
        u0 = u1 = u2 = u3 = 0.0
        for t in range(width):
            v, w = x[t], y[t]
            s0 += v * x0[t]
            s1 += v * x1[t]
            s2 += v * x2[t]
            s3 += v * x3[t]
            u0 += w * x0[t]
            u1 += w * x1[t]
            u2 += w * x2[t]
            u3 += w * x3[t]
        out_x[k] += s0
        out_x[k + 1] += s1
        out_x[k + 2] += s2
        out_x[k + 3] += s3
        out_y[k] += u0
        out_y[k + 1] += u1
        out_y[k + 2] += u2
        out_y[k + 3] += u3
        k += 4
    while k < count:
        z = X[rows[k]]
        s = u = 0.0
        for t in range(width):
            s += x[t] * z[t]
            u += y[t] * z[t]
        out_x[k] += s
        out_y[k] += u
        k += 1


@njit(cache=True, fastmath=_FAST)
def _gram_loop(A, B, bounds, out):
    """``out[k] = A[s:e].T @ B[s:e]`` for the ranges of ``bounds`` (loops)."""
    local = np.empty(B.shape[0], dtype=np.intp)  # row numbers within a leaf
    for k in range(local.size):
        local[k] = k
    for k in range(bounds.size - 1):
        acc = out[k]
        acc[:] = 0.0
        first, last = bounds[k], bounds[k + 1]
        for j in range(A.shape[1]):
            _accumulate(acc[j], A[first:last, j], B[first:last], local, 1.0)


@njit(cache=True, fastmath=_FAST)
def _product_loop(A, T, bounds, out, sign):
    """``out[s:e] += sign * A[s:e] @ T[k]`` for the ranges of ``bounds`` (loops)."""
    rank, width = A.shape[1], T.shape[2]
    for k in range(bounds.size - 1):
        block = T[k]
        for i in range(bounds[k], bounds[k + 1]):
            row = out[i]
            for j in range(rank):
                a = sign * A[i, j]
                for t in range(width):
                    row[t] += a * block[j, t]


def _blas(bounds):
    n_groups = bounds.size - 1
    return n_groups <= 1 or bounds[-1] >= _BLAS_MIN_ROWS * n_groups


def group_gram(A, B, bounds):
    """Per-group Gram matrices ``A[s:e].T @ B[s:e]``, shape ``(n_groups, r, m)``.

    Parameters
    ----------
    A : ndarray of shape (n, r)
    B : ndarray of shape (n, m)
    bounds : ndarray of int of shape (n_groups + 1,)
        Offsets of the contiguous row ranges of the groups.
    """
    n_groups = bounds.size - 1
    out = np.zeros((n_groups, A.shape[1], B.shape[1]))
    if A.shape[1] == 0 or B.shape[1] == 0:
        return out
    if _blas(bounds):
        for k in range(n_groups):
            start, stop = bounds[k], bounds[k + 1]
            np.matmul(A[start:stop].T, B[start:stop], out=out[k])
    else:
        _gram_loop(A, B, bounds, out)
    return out


def group_product(A, T, bounds, out, sign=1.0):
    """Accumulate ``out[s:e] += sign * A[s:e] @ T[k]`` over the groups, in place.

    Parameters
    ----------
    A : ndarray of shape (n, r)
    T : ndarray of shape (n_groups, r, m)
    bounds : ndarray of int of shape (n_groups + 1,)
    out : ndarray of shape (n, m)
        Updated in place (may be a column slice of a larger array).
    sign : float, default=1.0
    """
    if A.shape[1] == 0 or T.shape[2] == 0:
        return out
    if _blas(bounds):
        for k in range(bounds.size - 1):
            start, stop = bounds[k], bounds[k + 1]
            product = A[start:stop] @ T[k]
            if sign > 0:
                out[start:stop] += product
            else:
                out[start:stop] -= product
    else:
        _product_loop(A, np.ascontiguousarray(T), bounds, out, float(sign))
    return out


# ---------------------------------------------------------------- path kernels
#
# The factors of every group of every level are stacked in one array of
# ``S = sum_l p_l r_l`` rows: factor ``k`` of group ``a`` of level ``l`` is row
# ``base_l + a r_l + k``. Feature ``i`` of the finest group ``g`` loads on the
# ``r`` factors of the groups on the path from the root to ``g``, whose stacked
# rows are ``path[g]`` (one per column of the compressed factor). One pass
# over the rows then serves all the levels at once.


def memoized(h, key, build):
    """``build()`` computed once per hierarchy and ``key`` (read-only result).

    The index arrays below depend only on the hierarchy (immutable) and the
    ranks; an EM iteration asks for them several times.
    """
    memo = h.__dict__.setdefault("_memo", {})
    if key not in memo:
        memo[key] = build()
    return memo[key]


def path_index(h, ranks):
    """Stacked rows of the path factors of every finest group.

    Returns
    -------
    path : ndarray of shape (n_finest_groups, r), dtype intp
    base : list of int
        First stacked row of every level, and the total ``S`` last.
    """
    return memoized(h, ("path", tuple(ranks)), lambda: _path_index(h, ranks))


def path_columns(h, ranks, start):
    """``path_index(h, ranks)[0][:, start:]``, contiguous (built once).

    The kernels then always get the same array layout (one compilation).
    """
    key = ("path", tuple(ranks), start)
    build = lambda: np.ascontiguousarray(path_index(h, ranks)[0][:, start:])  # noqa: E731
    return memoized(h, key, build)


def _path_index(h, ranks):
    base = [0]
    for level, rank in enumerate(ranks):
        base.append(base[-1] + h.n_groups[level] * rank)
    leaf = h.n_levels - 1
    columns = []
    for level, rank in enumerate(ranks):
        ancestor = h.group_ancestors[leaf][level]
        columns.append(base[level] + ancestor[:, None] * rank + np.arange(rank))
    path = np.hstack(columns) if columns else np.zeros((h.n_groups[leaf], 0))
    return np.ascontiguousarray(path, dtype=np.intp), base


def row_blocks(h, ranks, chunk=4096):
    """Blocks of rows for the mixed BLAS / compiled passes over the data.

    The leading ("coarse") levels whose groups have at least
    ``_BLAS_MIN_ROWS`` rows on average are handled by one BLAS product per
    block, their columns of every row of a block sharing the same groups;
    the other ("fine") levels by the compiled path kernels.

    Returns
    -------
    n_coarse : int
        Number of coarse columns, ``r_1 + ... + r_c``.
    blocks : list of tuple
        ``(start, stop, first_leaf, last_leaf, leaf_bounds)``: rows
        ``start:stop`` (at most ``chunk``) lie in one group of every coarse
        level and overlap the finest groups ``first_leaf:last_leaf``, whose
        row ranges clipped to the block and relative to ``start`` are
        ``leaf_bounds``.
    """
    key = ("blocks", tuple(ranks), chunk, _BLAS_MIN_ROWS)
    return memoized(h, key, lambda: _row_blocks(h, ranks, chunk))


def _row_blocks(h, ranks, chunk):
    n_levels = 0
    for bound in h.bounds:
        if bound[-1] < _BLAS_MIN_ROWS * (bound.size - 1):
            break
        n_levels += 1
    n_coarse = int(sum(ranks[:n_levels]))
    edges = h.bounds[n_levels - 1] if n_levels else np.array([0, h.n_features])
    leaf = h.bounds[-1]
    blocks = []
    for k in range(edges.size - 1):
        for start in range(int(edges[k]), int(edges[k + 1]), chunk):
            stop = min(start + chunk, int(edges[k + 1]))
            first = int(np.searchsorted(leaf, start, side="right")) - 1
            last = int(np.searchsorted(leaf, stop, side="left"))
            bounds = np.clip(leaf[first : last + 1], start, stop) - start
            blocks.append((start, stop, first, last, bounds))
    return n_coarse, blocks


def representatives(h):
    """First finest group of every group of every level, flattened.

    Returns
    -------
    leaves : ndarray of intp
        ``leaves[starts[l] + k]`` is the first finest group inside group
        ``k`` of level ``l``.
    starts : ndarray of intp of shape (n_levels + 1,)
    """
    return memoized(h, ("representatives",), lambda: _representatives(h))


def _representatives(h):
    leaves = [np.searchsorted(h.bounds[-1], bound[:-1]) for bound in h.bounds]
    starts = np.concatenate(([0], np.cumsum([leaf.size for leaf in leaves])))
    return np.concatenate(leaves).astype(np.intp), starts.astype(np.intp)


@njit(cache=True, fastmath=_FAST)
def path_gram(A, B, bounds, path, out):
    """``out[path[g, j]] += A[i, j] * B[i]`` over the rows ``i`` of every leaf ``g``."""
    local = np.empty(B.shape[0], dtype=np.intp)  # row numbers within a leaf
    for k in range(local.size):
        local[k] = k
    rank = A.shape[1]
    for g in range(bounds.size - 1):
        first, last = bounds[g], bounds[g + 1]
        rows = B[first:last]
        for j in range(0, rank - 1, 2):  # two columns per load of the rows
            out0, out1 = out[path[g, j]], out[path[g, j + 1]]
            a0, a1 = A[first:last, j], A[first:last, j + 1]
            _accumulate_pair(out0, out1, a0, a1, rows, local, 1.0)
        if rank % 2:
            _accumulate(
                out[path[g, rank - 1]], A[first:last, rank - 1], rows, local, 1.0
            )


@njit(cache=True, fastmath=_FAST)
def path_product(A, T, bounds, path, out, sign):
    """``out[i] += sign * sum_j A[i, j] T[path[g, j]]`` over the rows of every leaf."""
    for g in range(bounds.size - 1):
        for i in range(bounds[g], bounds[g + 1]):
            _accumulate(out[i], A[i], T, path[g], 1.0 * sign)


@njit(cache=True, fastmath=_FAST)
def path_dot(Y, Z, bounds, path, out):
    """``out[i, j] = Y[i] . Z[path[g, j]]`` for the rows of every finest group."""
    for g in range(bounds.size - 1):
        first, last = bounds[g], bounds[g + 1]
        out[first:last] = 0.0
        for i in range(first, last - 1, 2):  # two rows per load of the factors
            _add_dots_pair(Y[i], Y[i + 1], Z, path[g], out[i], out[i + 1])
        if (last - first) % 2:
            _add_dots(Y[last - 1], Z, path[g], out[last - 1])


@njit(cache=True, fastmath=_FAST)
def square_sums(Y, weights, out):
    """``out[t] += sum_i weights[i] * Y[i, t] ** 2``, four rows at a time."""
    count, width = weights.size, out.size
    i = 0
    while i + 4 <= count:
        y0, y1, y2, y3 = Y[i], Y[i + 1], Y[i + 2], Y[i + 3]
        w0, w1, w2, w3 = weights[i], weights[i + 1], weights[i + 2], weights[i + 3]
        for t in range(width):
            out[t] += (
                w0 * y0[t] * y0[t]
                + w1 * y1[t] * y1[t]
                + w2 * y2[t] * y2[t]
                + w3 * y3[t] * y3[t]
            )
        i += 4
    while i < count:
        y, w = Y[i], weights[i]
        for t in range(width):
            out[t] += w * y[t] * y[t]
        i += 1
