r"""Top-down spectral partition of the features (``hierarchy="auto"``).

The hierarchy is grown one level at a time: level 0 is one group, and every
group of a level is split into its children (two or more) to make the next
level.

A binary split of group :math:`a`, with standardized data :math:`Y_a` (one row per
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
   split no longer changes (a few times at most). The first split of a
   group is made from several starts of :math:`P` (with 0 to ``rank`` more
   residual directions removed), and the one whose sides share the least
   (step 5's measure) is kept (:func:`_first_split`).
5. *Children.* Each part is split again (steps 1-3, with the same shared
   directions). Two parts of one child share the child's own factors, two
   different children share nothing beyond :math:`P`: the new split is kept
   when the smaller of the two shares of each side's residual energy in the
   other side's leading residual directions (as many as the factors of a
   child and below it) is under a threshold (parts of one child hold
   their own factors' share of the variance, parts of two children about
   the number of directions over the number of samples: ``SIBLING_SHARE``,
   or a margin above that chance share for few samples), and each side has
   more features than those directions. Children that the binary cuts
   separated are merged back by the same test, pair by pair.
6. *Reassignment.* Every feature goes to the sibling child whose residual
   subspace holds the largest share of its residual energy, the subspaces
   refitted until no feature moves (k-subspaces, :func:`_k_subspaces`); a
   child too small to estimate its directions is dissolved into the others.
7. *Passing down.* A child's shared directions are its parent's :math:`P`
   and the top principal directions of its own residual, one per factor of
   its level: the ancestors' factors are estimated from all the features
   that load on them, not from the child's alone.

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
# Two parts each holding at least this share of its residual energy in the
# other's leading residual directions share factors of their own: they are
# one child (see _sibling_threshold for few samples).
SIBLING_SHARE = 0.08
# Margin above the chance share that also makes them one child.
SIBLING_MARGIN = 0.025
# Most children of a group in a learned hierarchy.
MAX_CHILDREN = 8


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


def _bipartition(Ya, n_shared, k, rng, n_refine, shared=None):
    """:func:`spectral_bipartition` and the shared directions it ends with.

    ``shared``, when given, is an orthonormal basis (n_samples, n_shared)
    of the sample-space directions of the shared factors to start from
    (those passed down by the parent's split) instead of the top principal
    directions of ``Ya``. Returns ``(side, P)``, ``P`` None when nothing is
    shared.
    """
    m, n_samples = Ya.shape
    k = max(1, min(k, _MAX_EMBEDDING))
    none = np.zeros(m, dtype=bool)
    if m < 2 or n_shared >= min(m, n_samples):
        return none, None
    scale = np.linalg.norm(Ya)
    P = None
    if n_shared:
        P = shared if shared is not None else truncated_svd(Ya, n_shared, rng)[2].T
        side = _normalized_cut(_residual(Ya, P), k, rng, scale)
    else:
        side = _normalized_cut(Ya, k, rng, scale)
    if side is None:
        return none, P
    for _ in range(n_refine if n_shared else 0):
        if side.all() or not side.any():
            break
        refined = _shared_directions(Ya, side, n_shared, k, rng)
        if refined is None:
            break
        P = refined
        new = _normalized_cut(_residual(Ya, P), k, rng, scale)
        if new is None or np.array_equal(new, side) or np.array_equal(new, ~side):
            break
        side = new
    return (~side if side[0] else side), P


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
    return _bipartition(Ya, n_shared, k, rng, n_refine)[0]


def _residual(part, P):
    """``part`` with the shared sample-space directions ``P`` removed."""
    return part - (part @ P) @ P.T if P is not None else part


def _overlap(first, second, q, rng):
    """Share of each part's residual energy in the other's top ``q`` directions.

    The smaller of the two shares: parts of one child both hold the child's
    own factors (a share of the order of their part of the features'
    variance), parts of two different children only noise (about ``q`` over
    the number of samples). A few features of the wrong child in a part move
    its share little, unlike its leading directions.
    """
    shares = []
    for source, target in ((first, second), (second, first)):
        q_source = min(q, *source.shape)
        energy = float(np.sum(target * target))
        if q_source < 1 or energy <= 0:
            return 0.0
        basis = truncated_svd(source, q_source, rng)[2].T
        projected = target @ basis
        shares.append(float(np.sum(projected * projected)) / energy)
    return min(shares)


def _sibling_threshold(q, n_samples, P):
    r"""Share of :func:`_overlap` from which two parts are one child.

    Parts of two different children share only chance: residual rows in
    the :math:`N' = N - \dim P` sample-space directions left hold about
    :math:`q / N'` of their energy in any other :math:`q` of them. The
    threshold is ``SIBLING_SHARE`` or ``SIBLING_MARGIN`` above that chance,
    whichever is larger: with 300 samples the first for every ``q`` up to
    16, with few samples and many directions the second (at 150 samples and
    ``q = 16``, chance alone is 0.108, above ``SIBLING_SHARE``, and no group
    could be split).
    """
    free = n_samples - (0 if P is None else P.shape[1])
    if free <= 0:
        return SIBLING_SHARE
    return max(SIBLING_SHARE, min(q, free) / free + SIBLING_MARGIN)


def _share_own_factors(A, B, P, rank, below, rng):
    """Whether two parts share factors of their own beyond the shared ``P``.

    Two parts of one child share the child's own factors (``rank`` of them,
    ``below`` more under the child): see :func:`_overlap` and
    :func:`_sibling_threshold`.
    """
    q = rank + below
    share = _overlap(_residual(A, P), _residual(B, P), q, rng)
    return share >= _sibling_threshold(q, A.shape[1], P)


def _merge_children(Ya, labels, P, q, rng):
    """Merge sibling children that share factors of their own, closest first.

    The halves of a child can end up on different sides of the first cut;
    every pair of children is tested as in :func:`_share_own_factors`.
    """
    residual = _residual(Ya, P)
    threshold = _sibling_threshold(q, Ya.shape[1], P)
    while labels.max() > 0:
        best, pair = threshold, None
        for a in range(labels.max() + 1):
            for b in range(a + 1, labels.max() + 1):
                share = _overlap(residual[labels == a], residual[labels == b], q, rng)
                if share >= best:
                    best, pair = share, (a, b)
        if pair is None:
            break
        labels = np.where(labels == pair[1], pair[0], labels)
        labels[labels > pair[1]] -= 1
    return labels


def _first_split(Ya, n_shared, rank, k, below, rng, shared):
    """The first binary split of a group and its shared ``P``, from
    ``rank + 1`` starts.

    The start of the shared directions is ``shared`` (or the top
    ``n_shared`` principal directions of ``Ya``) and, for ``j = 1 .. rank``,
    the same with the top ``j`` principal directions of the residual added.
    When a large child's own factors carry as much variance as the shared
    ones (strong signal, unequal children), they lead the residual and the
    cut splits that child instead of separating the children; removing them
    at the start lets the refinement of :func:`_bipartition` find the
    shared directions. Kept: the split whose sides share the least beyond
    their ``P`` (:func:`_overlap` with the ``rank + below`` directions of a
    child), among those whose sides both have more features than that,
    after a subspace reassignment (:func:`_k_subspaces`) of a split whose
    sides still share too much; the first start when none has. Every start
    is tried: a first split that already passes the sibling test can still
    hide a small child in a large one (a child of 26 features in one of 170
    at snr 10), which the split of least overlap separates.
    """
    q = rank + below
    base = shared
    if base is None and n_shared:
        base = truncated_svd(Ya, min(n_shared, *Ya.shape), rng)[2].T
    n_starts = rank + 1 if base is not None else 1
    residual = _residual(Ya, base) if n_starts > 1 else None

    def share_of(side, P):
        return _overlap(_residual(Ya[side], P), _residual(Ya[~side], P), q, rng)

    best, best_share = None, np.inf
    for extra in range(n_starts):
        start = base
        if extra:
            if extra > min(residual.shape) - base.shape[1]:
                break
            start = np.hstack([base, truncated_svd(residual, extra, rng)[2].T])
        side, P = _bipartition(Ya, n_shared, k, rng, 5, start)
        if best is None:
            best = side, P
        if min(np.count_nonzero(side), np.count_nonzero(~side)) <= q:
            continue
        share = share_of(side, P)
        if share >= _sibling_threshold(q, Ya.shape[1], P):
            # a few features on the wrong side raise the share: reassign them
            # by subspace (as the children are later) and measure again
            refined = _k_subspaces(_residual(Ya, P), side, q, rng, 10, 2 * q + 2)
            if refined is not None:
                side = refined.astype(bool)
                side = ~side if side[0] else side  # as _bipartition returns it
                share = share_of(side, P)
        if share < best_share:
            best, best_share = (side, P), share
    return best


def _children(Ya, n_shared, rank, k, below, rng, shared, max_children):
    """Split a group into its children: labels (0, 1, ...) and the shared ``P``.

    A binary split first (:func:`_first_split`); then every part is split
    again with the same shared directions, and the new split is kept when
    its two sides share no factor of their own (they are two children, not
    two subgroups of one child) and each side has more features than the
    ``rank + below`` directions that describe a child, up to
    ``max_children`` children.
    """
    side, P = _first_split(Ya, n_shared, rank, k, below, rng, shared)
    labels = side.astype(np.intp)
    if not side.any() or rank == 0:
        return labels, P
    pending = [0, 1]
    n_children = 2
    while pending and n_children < max_children:
        child = pending.pop(0)
        members = np.flatnonzero(labels == child)
        sub, _ = _bipartition(Ya[members], n_shared, k, rng, 0, P)
        smaller = min(np.count_nonzero(sub), np.count_nonzero(~sub))
        # a child's own and lower directions need more features than them
        if smaller <= rank + below or _share_own_factors(
            Ya[members[~sub]], Ya[members[sub]], P, rank, below, rng
        ):
            continue
        labels[members[sub]] = n_children
        pending += [child, n_children]
        n_children += 1
    labels = _merge_children(Ya, labels, P, rank + below, rng)
    labels = _refine_children(Ya, labels, P, rank + below, rng)
    return labels, P


def _k_subspaces(R, labels, q, rng, n_iter, min_size):
    """Reassign the rows of ``R`` among groups by the subspace they lie in.

    k-subspaces: every group spans the top ``q`` right singular vectors of
    its rows (sample-space directions); each row goes to the group whose
    subspace holds the largest share of its energy, and the subspaces are
    refitted, until no row moves or after ``n_iter`` reassignments. A group
    of fewer than ``min_size`` rows (too few to estimate its directions) is
    dissolved before the subspaces are fitted, its rows going to the others.

    Parameters
    ----------
    R : ndarray of shape (n_rows, n_samples)
        Residual rows (the directions shared by all the groups removed).
    labels : ndarray of shape (n_rows,), dtype int
        Initial groups, 0, 1, ...
    q : int
        Dimension of every group's subspace, ``q < min_size``.
    rng : RandomState
        For the randomized SVDs.
    n_iter : int
        Most reassignments.
    min_size : int
        Fewest rows of a group that keeps its subspace.

    Returns
    -------
    labels : ndarray of shape (n_rows,) or None
        The new groups, renumbered 0, 1, ... when a group was dissolved or
        emptied; None when fewer than two groups have ``min_size`` rows, at
        the start of a reassignment or at the end.
    """
    labels = np.asarray(labels)
    for _ in range(n_iter):
        counts = np.bincount(labels)
        kept = np.flatnonzero(counts >= min_size)
        if kept.size < 2:
            return None
        captured = np.empty((R.shape[0], kept.size))
        for column, group in enumerate(kept):
            basis = truncated_svd(R[labels == group], q, rng)[2].T
            projected = R @ basis
            captured[:, column] = np.einsum("ij,ij->i", projected, projected)
        new = np.argmax(captured, axis=1)  # groups renumbered 0, 1, ...
        if kept.size == counts.size and np.array_equal(new, labels):
            break
        labels = new
    if np.count_nonzero(np.bincount(labels) >= min_size) < 2:
        return None
    return labels


def _refine_children(Ya, labels, P, q, rng, n_iter=10):
    """Reassign features among sibling children by the subspace they lie in.

    Every child spans, beyond the shared ``P``, the ``q`` sample-space
    directions of its own factors and of those below it: the children's
    residuals are refined by :func:`_k_subspaces`, a child of fewer than
    ``2 q + 2`` features (too few to estimate its directions) dissolved into
    the others. When fewer than two children are that large, the group is
    not split (one child).
    """
    refined = _k_subspaces(_residual(Ya, P), labels, q, rng, n_iter, 2 * q + 2)
    return np.zeros_like(labels) if refined is None else refined


def _passed_down(Yb, P, rank, rng):
    """Shared directions of a child: the parent's ``P`` and the child's own.

    The child's own factors (``rank`` of them) are the top principal
    directions of its data once the parent's shared directions are removed;
    they are orthogonal to ``P``.
    """
    if P is None or rank == 0:
        return P
    residual = _residual(Yb, P)
    q = min(rank, *residual.shape)
    if q < rank:
        return None
    Q = truncated_svd(residual, rank, rng)[2].T
    return np.hstack([P, Q])


def spectral_hierarchy(Yt, ranks, random_state=None):
    """Nested partition of the features by recursive spectral splits.

    Parameters
    ----------
    Yt : ndarray of shape (n_features, n_samples)
        Centered, standardized data, one row per feature.
    ranks : tuple of int
        Ranks of the levels; the hierarchy has ``len(ranks)`` levels, every
        group at most ``MAX_CHILDREN`` children.
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
    # shared directions of every group of the current level (None: top
    # principal directions of the group's own data)
    shared = [None]
    for level in range(1, n_levels):
        n_shared = sum(ranks[:level])
        # factors of the levels below (embedding of a binary split)
        k = sum(2 ** (j - level + 1) * ranks[j] for j in range(level, n_levels))
        new = np.empty_like(labels)
        children_shared = []
        order = np.argsort(labels, kind="stable")
        groups = np.split(order, np.cumsum(np.bincount(labels))[:-1])
        for members, P in zip(groups, shared):
            split, P = _children(
                Yt[members],
                n_shared,
                ranks[level],
                max(k, 2),
                k // 2 - ranks[level],
                rng,
                P,
                MAX_CHILDREN,
            )
            for child in range(split.max() + 1):
                part = members[split == child]
                new[part] = len(children_shared)
                children_shared.append(_passed_down(Yt[part], P, ranks[level], rng))
        labels = new
        shared = children_shared
        hierarchy.append(labels)
    return hierarchy
