r"""Top-down spectral bi-partition of the features (``hierarchy="auto"``).

The hierarchy is grown one level at a time: level 0 is one group, and every
group of a level is split in two to make the next level.

Splitting group :math:`a`, with standardized data :math:`Y_a` (one row per
feature) and :math:`R` factors shared by all its features (those of the
group and of its ancestors):

1. *Shared part.* The :math:`R` sample-space directions of the shared factors
   are removed, :math:`Y_a \leftarrow Y_a (I - P P^T)`. At first :math:`P`
   is the top :math:`R` principal directions of :math:`Y_a`.
2. *Spectral embedding.* Feature :math:`i` is embedded by its loadings
   :math:`e_i \in \mathbb{R}^k` on the top :math:`k` components of the
   residual (scaled by the singular values), :math:`k` the number of factors
   of the levels below, so that :math:`e_i^T e_j` approximates the residual
   covariance of features :math:`i, j`.
3. *Normalized cut.* The affinity :math:`w_{ij} = (e_i^T e_j)^2` does not
   depend on the signs of the loadings. The relaxed normalized cut (Shi and
   Malik) splits the group by the sign of :math:`D^{-1/2} u`, :math:`u` the
   leading eigenvector of :math:`D^{-1/2} W D^{-1/2}` orthogonal to
   :math:`D^{1/2}\mathbf{1}`, :math:`D = \operatorname{diag}(W\mathbf{1})`.
   :math:`W` is never formed for large groups:
   :math:`(W v)_i = e_i^T (E^T \operatorname{diag}(v) E) e_i` costs
   :math:`O(n_a k^2)`.
4. *Refinement.* The top principal directions mix the shared factors with
   the factors of a large subgroup. Given a split, the shared factors are
   exactly what the two halves have in common: :math:`P` becomes the
   :math:`R` leading principal vectors between the sample-space subspaces of
   the two halves (principal angles), and steps 1-3 are repeated until the
   split no longer changes (a few times at most).

Everything is linear in the number of features.
"""

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh
from sklearn.utils import check_random_state

from ..utils._linalg import truncated_svd

# Groups up to this size get a dense affinity matrix; larger ones the
# matrix-free operator.
_DENSE_MAX = 1000
# Largest spectral embedding dimension (beyond it, only noise is added).
_MAX_EMBEDDING = 32


def _normalized_cut(Y, k, rng, scale):
    """Sign of the normalized-cut Fiedler vector of ``w_ij = (e_i . e_j)^2``.

    Returns a boolean array, or None when the residual has no structure left
    (top singular value at most ``1e-10 * scale``).
    """
    m, n_samples = Y.shape
    k = min(k, m, n_samples)
    if m < 2 or k < 1:
        return None
    U, S, _ = truncated_svd(Y, k, rng)
    if S[0] <= 1e-10 * scale or S[0] == 0:
        return None
    E = U * S
    gram = E.T @ E
    degree = np.einsum("ij,jk,ik->i", E, gram, E)
    connected = degree > 1e-12 * degree.max()
    if np.count_nonzero(connected) < 2:
        return None
    E = E[connected]
    root_degree = np.sqrt(degree[connected])
    trivial = root_degree / np.linalg.norm(root_degree)
    if E.shape[0] <= _DENSE_MAX:
        W = (E @ E.T) ** 2
        A = W / np.outer(root_degree, root_degree) - np.outer(trivial, trivial)
        u = np.linalg.eigh(A)[1][:, -1]
    else:
        # (e_i . e_j)^2 / sqrt(deg_i deg_j) = (en_i . en_j)^2, en_i = e_i / deg_i^(1/4)
        En = E / np.sqrt(root_degree)[:, None]

        def matvec(v):
            v = np.ravel(v)
            M = En.T @ (En * v[:, None])
            return np.einsum("ij,jk,ik->i", En, M, En) - trivial * (trivial @ v)

        operator = LinearOperator((E.shape[0],) * 2, matvec=matvec, dtype=np.float64)
        start = rng.uniform(-1, 1, E.shape[0])
        u = eigsh(operator, k=1, which="LA", v0=start, tol=1e-8)[1][:, 0]
    side = np.zeros(m, dtype=bool)
    side[connected] = u / root_degree > 0
    return side


def _shared_directions(Y, side, n_shared, k, rng):
    """The ``n_shared`` sample-space directions common to both halves, or None."""
    bases = []
    for part in (~side, side):
        q = min(n_shared + k, np.count_nonzero(part), Y.shape[1])
        if q < n_shared:
            return None
        bases.append(truncated_svd(Y[part], q, rng)[2].T)
    left, _, _ = np.linalg.svd(bases[0].T @ bases[1])
    return bases[0] @ left[:, :n_shared]


def spectral_bipartition(Ya, n_shared, k, random_state=None, n_refine=5):
    """Split the rows of ``Ya`` (features x samples) in two.

    Parameters
    ----------
    Ya : ndarray of shape (n_features_a, n_samples)
        Standardized data of the group, one row per feature.
    n_shared : int
        Number of factors shared by all the features of the group.
    k : int
        Dimension of the spectral embedding (number of factors below).
    random_state : int, RandomState instance or None
        For the randomized SVDs and the eigensolver of large groups.
    n_refine : int, default=5
        Maximum number of refinements of the shared directions.

    Returns
    -------
    side : ndarray of shape (n_features_a,), dtype bool
        The second part of the split (all False when the group cannot be
        split: fewer than two features or no residual structure). The first
        feature is always on the False side.
    """
    rng = check_random_state(random_state)
    m, n_samples = Ya.shape
    k = max(1, min(k, _MAX_EMBEDDING))
    if m < 2 or n_shared >= min(m, n_samples):
        return np.zeros(m, dtype=bool)
    scale = np.linalg.norm(Ya)
    if n_shared:
        P = truncated_svd(Ya, n_shared, rng)[2].T
        side = _normalized_cut(Ya - (Ya @ P) @ P.T, k, rng, scale)
    else:
        side = _normalized_cut(Ya, k, rng, scale)
    if side is None:
        return np.zeros(m, dtype=bool)
    for _ in range(n_refine if n_shared else 0):
        if side.all() or not side.any():
            break
        P = _shared_directions(Ya, side, n_shared, k, rng)
        if P is None:
            break
        new = _normalized_cut(Ya - (Ya @ P) @ P.T, k, rng, scale)
        if new is None or np.array_equal(new, side) or np.array_equal(new, ~side):
            break
        side = new
    return ~side if side[0] else side


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
    n_levels = len(ranks)
    for level in range(1, n_levels):
        n_shared = sum(ranks[:level])
        # factors of the levels below, for a binary tree
        k = sum(2 ** (j - level + 1) * ranks[j] for j in range(level, n_levels))
        new = np.empty_like(labels)
        n_groups = 0
        order = np.argsort(labels, kind="stable")
        for members in np.split(order, np.cumsum(np.bincount(labels))[:-1]):
            side = spectral_bipartition(Yt[members], n_shared, max(k, 2), rng)
            new[members[~side]] = n_groups
            n_groups += 1
            if side.any():
                new[members[side]] = n_groups
                n_groups += 1
        labels = new
        hierarchy.append(labels)
    return hierarchy
