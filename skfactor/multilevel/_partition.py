r"""Top-down spectral bi-partition of the features (``hierarchy="auto"``).

The hierarchy is grown one level at a time: level 0 is one group, and every
group of a level is split in two to make the next level.

Splitting group :math:`a` of level :math:`l`, with standardized data
:math:`Y_a` (features by samples):

1. the :math:`R = r_0 + \dots + r_l` leading principal components of
   :math:`Y_a` are what the factors of the group and of its ancestors
   explain; they are removed;
2. feature :math:`i` is embedded by its loadings
   :math:`e_i \in \mathbb{R}^k` on the next :math:`k = 2\max(r_{l+1}, 1)`
   components, scaled by their singular values, so that :math:`e_i^T e_j`
   approximates the residual covariance of features :math:`i` and :math:`j`;
3. the affinity :math:`w_{ij} = (e_i^T e_j)^2` does not depend on the signs
   of the loadings and has the explicit feature map
   :math:`q_i = \operatorname{vec}(e_i e_i^T)`, :math:`W = Q Q^T`;
4. the normalized-cut relaxation (Shi and Malik) splits the group by the sign
   of the Fiedler vector :math:`D^{-1/2} u`, :math:`u` the leading
   eigenvector of :math:`D^{-1/2} W D^{-1/2}` orthogonal to
   :math:`D^{1/2} \mathbf{1}`, :math:`D = \operatorname{diag}(W \mathbf{1})`;
   with the feature map this is a singular value decomposition of an
   :math:`n_a \times k(k+1)/2` matrix.

Everything is linear in the number of features; no feature-by-feature
matrix is formed.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._em import truncated_svd


def spectral_bipartition(Ya, n_remove, k, random_state=None):
    """Split the rows of ``Ya`` (features x samples) in two.

    Parameters
    ----------
    Ya : ndarray of shape (n_features_a, n_samples)
        Standardized data of the group, one row per feature.
    n_remove : int
        Number of leading principal components to remove first.
    k : int
        Dimension of the spectral embedding.
    random_state : int, RandomState instance or None
        For the randomized SVD of large groups.

    Returns
    -------
    side : ndarray of shape (n_features_a,), dtype bool
        The second part of the split (all False when the group cannot be
        split: fewer than two features, or no residual structure left). The
        first feature is always on the False side.
    """
    m, n_samples = Ya.shape
    side = np.zeros(m, dtype=bool)
    n_comp = min(n_remove + k, m, n_samples)
    if m < 2 or n_comp <= n_remove:
        return side
    U, S, _ = truncated_svd(Ya, n_comp, random_state)
    if S[n_remove] <= 1e-10 * max(S[0], np.finfo(float).tiny):
        return side
    E = U[:, n_remove:] * S[n_remove:]
    rows, cols = np.triu_indices(E.shape[1])
    weights = np.where(rows == cols, 1.0, np.sqrt(2.0))
    Q = E[:, rows] * E[:, cols] * weights
    degree = Q @ Q.sum(axis=0)
    connected = degree > 1e-12 * degree.max()
    if np.count_nonzero(connected) < 2:
        return side
    root_degree = np.sqrt(degree[connected])
    Qn = Q[connected] / root_degree[:, None]
    trivial = root_degree / np.linalg.norm(root_degree)
    Qn -= np.outer(trivial, trivial @ Qn)
    u = np.linalg.svd(Qn, full_matrices=False)[0][:, 0]
    side[connected] = u / root_degree > 0
    if side[0]:
        side = ~side
    return side


def spectral_hierarchy(Yt, ranks, random_state=None):
    """Nested partition of the features by recursive spectral bi-partition.

    Parameters
    ----------
    Yt : ndarray of shape (n_features, n_samples)
        Centered, standardized data, one row per feature.
    ranks : tuple of int
        Ranks of the levels; the hierarchy has ``len(ranks)`` levels, level
        ``l`` at most ``2**l`` groups.
    random_state : int, RandomState instance or None

    Returns
    -------
    hierarchy : list of ndarray of shape (n_features,)
        Group labels of every level, coarsest first.
    """
    rng = check_random_state(random_state)
    n_features = Yt.shape[0]
    labels = np.zeros(n_features, dtype=np.intp)
    hierarchy = [labels]
    for level in range(1, len(ranks)):
        n_remove = sum(ranks[:level])
        k = 2 * max(ranks[level], 1)
        new = np.empty_like(labels)
        n_groups = 0
        order = np.argsort(labels, kind="stable")
        for members in np.split(order, np.cumsum(np.bincount(labels))[:-1]):
            side = spectral_bipartition(Yt[members], n_remove, k, rng)
            new[members[~side]] = n_groups
            n_groups += 1
            if side.any():
                new[members[side]] = n_groups
                n_groups += 1
        labels = new
        hierarchy.append(labels)
    return hierarchy
