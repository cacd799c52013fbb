r"""EM for the multilevel factor model, with the MLR inverse.

Model: :math:`y = F z + e`, :math:`z \sim \mathcal{N}(0, I_s)`,
:math:`e \sim \mathcal{N}(0, D)`, where :math:`F` has the multilevel block
structure of :mod:`skfactor.multilevel._mlr`, so that
:math:`\Sigma = F F^T + D` is an MLR matrix. Every function here works on the
canonical (permuted) row order and on the data transposed, ``Yt`` of shape
``(n_features, n_samples)``, so that a group is a contiguous block of rows.

E-step. The posterior of :math:`z` given :math:`y` has mean
:math:`F^T \Sigma^{-1} y` and covariance :math:`I - F^T \Sigma^{-1} F`.
With the structured inverse :math:`\Sigma^{-1} = D^{-1} - H H^T`, one pass
over the data gives :math:`T_a = H_a^T Y` for every group :math:`a` and the
quadratic forms :math:`y^T \Sigma^{-1} y = y^T D^{-1} y - \sum_a
\|H_a^T y\|^2`. The means need no further pass: given the factors
:math:`z_{\text{anc}}` of its ancestors, the factors of group :math:`c`
depend on the data of its rows only, with mean
:math:`F_c^T (A^{(l)}_c)^{-1} (y_c - F_{\text{anc}} z_{\text{anc}}) =
L_c^{-T} H_c^T (y_c - F_{\text{anc}} z_{\text{anc}})` (notation of
:mod:`._mlr`), and :math:`H_c^T F_{\text{anc}} = L_c^{-1} P_c^{[c, :R]}`,
so that, top-down (tower property),

.. math::

    \bar z_c = L_c^{-T} T_c - \Psi_c^{[c, :R]} \bar z_{\text{anc}},

in :math:`O(r_l R N)` per group, independent of its size. Feature
:math:`i` only loads on the factors of the groups on its path to the root,
so the M-step only needs, for every finest group :math:`g`, the posterior
covariance :math:`V_g` of the factors of its path. With :math:`\Psi_a` the
Gram matrices of the Sherman-Morrison-Woodbury recursion
(:meth:`~skfactor.multilevel.MLRMatrix._smw_recursion`) and :math:`R` the
total rank of the levels above group :math:`c` (child of :math:`a`),

.. math::

    V_{\text{root}} = I - \Psi_{\text{root}}, \quad
    V_c = \begin{pmatrix} V_a & -V_a X_c \\ -X_c^T V_a &
    I - \Psi_c^{cc} + X_c^T V_a X_c \end{pmatrix}, \quad
    X_c = \Psi_c^{[:R],\,c},

top-down in :math:`O(r^3)` per group (a Schur-complement argument on the
split :math:`\Sigma = \Sigma^{(l+1)} + U U^T`, :math:`U` the factors of the
levels above).

M-step. The expected complete log-likelihood separates over the features:
with :math:`\bar z_t` the posterior means of the path factors,
:math:`C_g = N V_g + \sum_t \bar z_t \bar z_t^T` and
:math:`b_i = \sum_t y_{ti} \bar z_t`,

.. math::

    f_i = C_g^{-1} b_i, \qquad
    d_i = \max\Big(\tfrac{1}{N}\big(\textstyle\sum_t y_{ti}^2 - f_i^T b_i\big),
    \ \text{floor}\Big).

The floor keeps the M-step of :math:`d_i` exact under the constraint
:math:`d_i \ge \text{floor}` (the expected log-likelihood is unimodal in
:math:`d_i`), so the log-likelihood still never decreases.

Per iteration: two passes over the data of :math:`O(n N r)` each
(:math:`T = H^T Y` per group, with the quadratic forms; :math:`B = Y Z_p^T`),
run by the compiled per-row kernels of :mod:`._kernels` for the levels of
small groups and by one BLAS product per block of rows for the levels of
large groups, :math:`O(S R N)` for the posterior means and the products
:math:`\sum_t \bar z_t \bar z_t^T` (``S`` factors in all, ``R`` per path),
and :math:`O(n r^2 + \text{groups} \cdot r^3)` for the structured inverse
and the per-group Cholesky factors of :math:`C_g` — linear in the number of
features :math:`n`.
"""

import numpy as np
from ..utils._monitor import ConvergenceMonitor
from ._hierarchy import rank_offsets
from ._kernels import (
    _blas,
    group_product,
    path_dot,
    path_gram,
    path_columns,
    path_index,
    representatives,
    row_blocks,
    square_sums,
)
from ._stacked import (
    leaf_matrices,
    leaf_solve,
    path_covariance_rows,
    path_cross_gram,
    path_mean_rows,
)
from ._mlr import MLRMatrix, gaussian_log_density


def rank_mask(h, ranks):
    """Active factor columns: a group of ``n_a`` features uses ``min(r_l, n_a)``.

    Returns
    -------
    mask : ndarray of shape (n_features, sum(ranks)), dtype bool
        True where the compressed factor entry is free, False where it is
        held at zero (in canonical row order).
    active : list of ndarray of shape (n_groups_l, r_l), dtype bool
        Active factors of every group of every level.
    """
    off = rank_offsets(ranks)
    mask = np.zeros((h.n_features, off[-1]), dtype=bool)
    active = []
    for level, rank in enumerate(ranks):
        sizes = h.group_sizes(level)
        level_active = np.arange(rank)[None, :] < sizes[:, None]
        active.append(level_active)
        mask[:, off[level] : off[level + 1]] = np.repeat(level_active, sizes, axis=0)
    return mask, active


def posterior_covariances(psi, h, ranks):
    """Posterior covariance of the path factors of every finest group, stacked.

    Parameters
    ----------
    psi : list of ndarray
        Own columns of the Gram matrices of :meth:`MLRMatrix._smw_recursion`
        of the covariance.
    h : _Hierarchy
    ranks : tuple of int

    Returns
    -------
    V : ndarray of shape (S, sum(ranks))
        The covariance ``V_g`` of the factors of the groups on the path from
        the root to the finest group ``g`` (levels in order) has its row
        ``j`` in row ``path[g, j]`` of ``V``, columns up to the last of
        ``j``'s level (:func:`._kernels.path_index`): the row is the same
        for all the finest groups below ``j``'s group.
    """
    off = rank_offsets(ranks)
    path, base = path_index(h, ranks)
    leaves, starts = representatives(h)
    V = np.zeros((base[-1], off[-1]))
    for level in range(len(ranks)):
        first = leaves[starts[level] : starts[level + 1]]
        path_covariance_rows(psi[level], path, first, off[level], V)
    return V


def posterior_means(T, psi, solve, h, ranks):
    """Posterior means of the factors of every group, stacked, top-down.

    Parameters
    ----------
    T : ndarray of shape (S, n_samples)
        :math:`H^T Y`, stacked (:func:`._kernels.path_index`), ``H`` the
        factor of the inverse of the covariance.
    psi, solve : list of ndarray, ndarray
        From :meth:`MLRMatrix._smw_recursion` of the covariance.
    h : _Hierarchy
    ranks : tuple of int

    Returns
    -------
    Z : ndarray of shape (S, n_samples)
        See :func:`._stacked.path_mean_rows`.
    """
    off = rank_offsets(ranks)
    path, _ = path_index(h, ranks)
    leaves, starts = representatives(h)
    Z = np.empty_like(T)
    for level in range(len(ranks)):
        first = leaves[starts[level] : starts[level + 1]]
        path_mean_rows(T, solve, psi[level], path, first, off[level], Z)
    return Z


def posterior(Yt, sigma, means=True, covariances=True, stacked=False):
    """E-step quantities of centered data under the covariance ``sigma``.

    Parameters
    ----------
    Yt : ndarray of shape (n_features, n_samples)
        Centered data, transposed, canonical row order.
    sigma : MLRMatrix
        The model covariance :math:`F F^T + D`.
    means : bool, default=True
        Whether to compute the posterior means of the factors.
    covariances : bool, default=True
        Whether to compute the path posterior covariances.
    stacked : bool, default=False
        Return ``Z`` as one ``(S, n_samples)`` array, the levels' groups'
        factors stacked (:func:`._kernels.path_index`), as :func:`m_step`
        uses it.

    Returns
    -------
    quad : ndarray of shape (n_samples,)
        :math:`y_t^T \\Sigma^{-1} y_t` for every sample.
    logdet : float
        :math:`\\log\\det\\Sigma`.
    Z : list of ndarray of shape (n_groups_l, r_l, n_samples) or None
        Posterior means of the factors of every group (one stacked array
        if ``stacked``).
    V : ndarray of shape (S, sum(ranks)) or None
        See :func:`posterior_covariances`.
    """
    psi, solve, logdet = sigma._smw_recursion()
    inverse = sigma.inv()
    h = sigma._h
    path, base = sigma._paths()
    n_coarse, blocks = sigma._blocks()
    Yt = np.ascontiguousarray(Yt, dtype=np.float64)
    H = inverse._F
    # T = H^T Y per group: fine levels by the path kernel, coarse levels by
    # one BLAS product per block of rows.
    T = np.zeros((base[-1], Yt.shape[1]))
    fine = path_columns(h, sigma.ranks, n_coarse)
    path_gram(H[:, n_coarse:], Yt, h.bounds[-1], fine, T)
    # y^T Sigma^{-1} y = y^T D^{-1} y - sum_b |H_b^T y|^2, the first term
    # block by block (the blocks cover every row) while a block is in cache
    quad = np.zeros(Yt.shape[1])
    for start, stop, first, _, _ in blocks:
        rows = slice(start, stop)
        if n_coarse:
            T[path[first, :n_coarse]] += H[rows, :n_coarse].T @ Yt[rows]
        square_sums(Yt[rows], inverse._d[rows], quad)
    square_sums(T, np.full(T.shape[0], -1.0), quad)
    Z = posterior_means(T, psi, solve, h, sigma.ranks) if means else None
    Z = Z if Z is None or stacked else sigma._unstack(Z)
    V = posterior_covariances(psi, h, sigma.ranks) if covariances else None
    return quad, logdet, Z, V


def _solve_by_lstsq(G, path, stops, B, bounds):
    """Fallback of :func:`leaf_solve` when rounding breaks positive definiteness."""
    F = np.zeros_like(B)
    for g, C in enumerate(leaf_matrices(G, path, stops)):
        rows = slice(bounds[g], bounds[g + 1])
        F[rows] = np.linalg.lstsq(C, B[rows].T, rcond=None)[0].T
    return F


def m_step(Yt, sumsq, Z, V, h, ranks, floor, mask, out=None):
    """New factors and noise variances (canonical row order).

    Parameters
    ----------
    Yt : ndarray of shape (n_features, n_samples)
    sumsq : ndarray of shape (n_features,)
        :math:`\\sum_t y_{ti}^2`.
    Z, V : output of :func:`posterior` (``Z`` stacked or not).
    h : _Hierarchy
    ranks : tuple of int
    floor : float or ndarray of shape (n_features,)
        Lower bound of the noise variances.
    mask : ndarray of shape (n_features, sum(ranks))
        Entries held at zero (see :func:`rank_mask`).
    out : ndarray of shape (n_features, sum(ranks)), default=None
        Buffer of the new factors (its values are not read), e.g. the
        previous iteration's; a new array when None.

    Returns
    -------
    F : ndarray of shape (n_features, sum(ranks))
        ``out`` when given (unless the fallback solve ran).
    d : ndarray of shape (n_features,)
    """
    n_features, n_samples = Yt.shape
    off = rank_offsets(ranks)
    n_levels = len(ranks)
    F = np.zeros((n_features, off[-1])) if out is None else out
    d = sumsq / n_samples
    if off[-1]:
        # B = Y Zp^T, level by level: row i of level l's columns is
        # y_i Z_a^T, a the level-l group of feature i.
        B = np.empty((n_features, off[-1]))
        if isinstance(Z, np.ndarray):  # posterior(..., stacked=True)
            stacked = Z
        else:
            stacked = np.concatenate([z.reshape(-1, n_samples) for z in Z])
        path, _ = path_index(h, ranks)
        n_coarse, blocks = row_blocks(h, ranks)
        fine_path = path_columns(h, ranks, n_coarse)
        # one block of rows at a time (the blocks cover every row), so that
        # the fine levels' columns need no temporary of the size of B
        rows_max = max(block[1] - block[0] for block in blocks)
        fine = np.empty((rows_max, off[-1] - n_coarse))
        for start, stop, first, last, bounds in blocks:
            rows = slice(start, stop)
            part = fine[: stop - start]
            path_dot(Yt[rows], stacked, bounds, fine_path[first:last], part)
            B[rows, n_coarse:] = part
            if n_coarse:
                B[rows, :n_coarse] = Yt[rows] @ stacked[path[first, :n_coarse]].T
        leaf = h.bounds[-1]
        # C_g = N V_g + Zp Zp^T for every finest group g, stacked like V:
        # the products of two factors on a common path, computed once per pair.
        offsets = np.asarray(off, dtype=np.intp)
        G = V * n_samples
        leaves, starts = representatives(h)
        path_cross_gram(stacked, path, leaves, starts, offsets, G)
        stops = offsets[np.repeat(np.arange(n_levels), ranks) + 1]
        if _blas(leaf):  # large finest groups: batched inverses, then BLAS
            if out is not None:
                F.fill(0.0)  # group_product accumulates
            try:
                group_product(B, np.linalg.inv(leaf_matrices(G, path, stops)), leaf, F)
            except np.linalg.LinAlgError:
                F = _solve_by_lstsq(G, path, stops, B, leaf)
        elif not leaf_solve(G, path, stops, B, leaf, F):
            F = _solve_by_lstsq(G, path, stops, B, leaf)
        # Masked entries stay exactly zero by themselves (their factor has
        # zero posterior mean and is uncorrelated with the others); the mask
        # only guards against rounding.
        F *= mask
        d -= np.einsum("ij,ij->i", F, B) / n_samples
    return F, np.maximum(d, floor)


def fit_em(Yt, F, d, h, ranks, floor, mask, max_iter, tol, verbose=0):
    """Run EM from ``(F, d)`` until the relative log-likelihood gain is below ``tol``.

    ``F`` is overwritten: every iteration's new factors reuse its buffer.

    Returns
    -------
    F, d : ndarray
        Final parameters (canonical row order).
    monitor : ConvergenceMonitor
        ``monitor.history`` holds the total log-likelihood of ``Yt`` at the
        initialization and after every iteration.
    """
    n_features = Yt.shape[0]
    sumsq = np.einsum("ij,ij->i", Yt, Yt)
    monitor = ConvergenceMonitor(
        tol,
        max_iter,
        verbose=verbose,
        name="MultilevelFactorModel",
        objective_name="log-likelihood (standardized data)",
    )
    sigma = MLRMatrix._from_permuted(h, F, d, ranks, 1)
    quad, logdet, Z, V = posterior(Yt, sigma, stacked=True)
    monitor.start(np.sum(gaussian_log_density(quad, logdet, n_features)))
    while True:
        # The M-step reads the posterior only: the covariance and its inverse
        # (an n x r factor array each) are freed first, and the new factors
        # overwrite the old ones, so that an iteration holds two n x r arrays
        # (F and H in the E-step; F and B in the M-step) besides the data.
        sigma = None
        F, d = m_step(Yt, sumsq, Z, V, h, ranks, floor, mask, out=F)
        sigma = MLRMatrix._from_permuted(h, F, d, ranks, 1)
        quad, logdet, Z, V = posterior(Yt, sigma, stacked=True)
        if monitor.update(np.sum(gaussian_log_density(quad, logdet, n_features))):
            break
    return F, d, monitor
