r"""Initial factors of the multilevel factor model.

``init="svd"`` fits the levels coarsest first: the block of group :math:`a`
of level :math:`l` is the rank-:math:`\min(r_l, n_a)` truncated SVD
:math:`U S V^T` of the residual :math:`R_a = Y_a - \sum_{l' < l} F_{a,l'} Z_{l'}`
of its standardized data once its ancestors' fit is removed,

.. math::

    F_a = U S / \sqrt{N}, \qquad Z_a = \sqrt{N} V^T,

so that the factors have unit variance, and the noise variances are the
variances of the final residual, :math:`d_i = \|r_i\|^2 / N`, floored.
``init="random"`` draws Gaussian factors scaled to explain half of the unit
variance of every feature, :math:`d_i = 1/2`.
"""

import numpy as np
from sklearn.utils import check_random_state

from ..utils._linalg import truncated_svd
from ._hierarchy import rank_offsets


def _residual_sq_norms(R, U, S, Vt):
    """Row-wise squared norms of ``R - U diag(S) Vt``, in row chunks."""
    out = np.empty(R.shape[0])
    US = U * S
    for start in range(0, R.shape[0], 4096):
        stop = min(start + 4096, R.shape[0])
        residual = R[start:stop] - US[start:stop] @ Vt
        out[start:stop] = np.einsum("ij,ij->i", residual, residual)
    return out


def init_svd(Yt, h, ranks, mask, floor, random_state):
    """Initial factors by truncated SVDs of the residuals, coarsest level first.

    The block of group ``a`` of level ``l`` is the top
    ``min(r_l, n_a)`` principal directions of the data of group ``a`` minus
    the fit of its ancestors, scaled so that the factors have unit variance;
    the noise variances are the variances of the final residual.
    """
    rng = check_random_state(random_state)
    n_features, n_samples = Yt.shape
    off = rank_offsets(ranks)
    F = np.zeros((n_features, off[-1]))
    d = np.empty(n_features)
    scores = []
    # ancestors[l][a] of every group a of the current level, per coarser level.
    level_ancestors = []
    for level, rank in enumerate(ranks):
        if level == 0:
            level_ancestors = [np.arange(h.n_groups[0])]
        else:
            parent = h.parent[level]
            level_ancestors = [anc[parent] for anc in level_ancestors]
            level_ancestors.append(np.arange(h.n_groups[level]))
        level_scores = np.zeros((h.n_groups[level], rank, n_samples))
        bounds = h._bounds_list[level]
        for group in range(h.n_groups[level]):
            start, stop = bounds[group], bounds[group + 1]
            R = Yt[start:stop]
            if level > 0:
                path = np.concatenate(
                    [scores[lev][level_ancestors[lev][group]] for lev in range(level)]
                )
                # the residual in the product's buffer: one temporary of the
                # group's size (0.6 GB per 250,000 features of 300 samples)
                fit = F[start:stop, : off[level]] @ path
                R = np.subtract(R, fit, out=fit)
            k = min(rank, stop - start, n_samples)
            U, S, Vt = truncated_svd(R, k, rng)
            F[start:stop, off[level] : off[level] + k] = U * (S / np.sqrt(n_samples))
            level_scores[group, :k] = Vt * np.sqrt(n_samples)
            if level == len(ranks) - 1:
                d[start:stop] = _residual_sq_norms(R, U, S, Vt) / n_samples
            # freed before the next group's residual and SVD are allocated
            R = fit = U = S = Vt = None
        scores.append(level_scores)
    F *= mask
    return F, np.maximum(d, floor)


def init_random(n_features, ranks, mask, floor, random_state):
    """Random Gaussian factors explaining half of the unit variance of each feature."""
    rng = check_random_state(random_state)
    F = rng.standard_normal((n_features, sum(ranks))) * mask
    norms = np.einsum("ij,ij->i", F, F)
    F /= np.sqrt(2.0 * np.maximum(norms, np.finfo(float).tiny))[:, None]
    d = np.full(n_features, 0.5)
    return F, np.maximum(d, floor)
