r"""Refinement of a learned hierarchy by the fitted factors (path reassignment).

The spectral partition (:mod:`._partition`) decides every split from the
group's data alone, level by level; a feature sent to the wrong side of an
early split never comes back. Once a model is fitted on the learned
hierarchy, the posterior means of its factors :math:`\bar z` (one series
per factor, over the samples) describe every group, and a feature can be
sent to the group whose factors explain it best.

Every finest group :math:`g` (leaf) has a *path*: its own factors and those
of its ancestors. Feature :math:`i`, centred and standardized data
:math:`y_i \in \mathbb{R}^N`, moves as a whole path to the leaf

.. math::

    g(i) = \arg\max_g \lVert Q_g^T y_i \rVert^2,

:math:`Q_g` an orthonormal basis of the posterior factor means of the path
of :math:`g` (the least-squares regression of :math:`y_i` on the path's
factors leaves the smallest residual); its groups at every level are the
ancestors of :math:`g`, so the new labels are nested by construction.

The bases are orthonormalized along the tree (Gram-Schmidt, root first):
the basis :math:`Q_a` of group :math:`a` spans its factors' means minus
their projection on its ancestors' bases, so that
:math:`\lVert Q_g^T y_i \rVert^2 = \sum_{a \text{ on the path}}
\lVert Q_a^T y_i \rVert^2`. One product of the data with every group's basis
(:math:`O(n N r_\text{total})`, :math:`r_\text{total}` the number of
factors of the model) scores all the leaves; the features are processed in
blocks, so the memory beyond the data is that of a block.

:func:`split_merge_leaves` changes the number of leaves, which reassignment
cannot: given the ancestors' factors, the leaves are independent, and a leaf
is split in two, or two sibling leaves merged, when factor analyses of the
residuals say so (log-likelihood of the halves against that of the union).
:func:`merge_siblings` proposes the merges of two sibling groups above the
finest level (a group the spectral partition cut in two), the pairs where
one group's factors capture more than chance of the other's data beyond
their ancestors' factors.

:func:`refine_hierarchy` alternates short EM fits with reassignments, and
with a split/merge step whenever a reassignment moves nothing or is
rejected; when these stop, it tries the sibling merges, and after a kept
merge starts the reassignments again. A new hierarchy is kept only when its
fit has a higher training log-likelihood than the current one, so the
refinement never makes the fit (of the short EM) worse.
"""

import warnings

import numpy as np
from sklearn.decomposition import FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._em import posterior, rank_mask
from ._hierarchy import check_hierarchy
from ._mlr import MLRMatrix
from ._partition import _k_subspaces, _residual, spectral_bipartition

# Entries of the per-block temporaries of the reassignment (32 MB of float64).
_BLOCK_ENTRIES = 1 << 22
# Rounds of reassignment and refit of a learned hierarchy.
REFINE_ROUNDS = 8
# EM iterations of the intermediate fits of the refinement.
REFINE_ITER = 30
# Folds of the cross-fitted reassignment.
REFINE_FOLDS = 5
# Sibling merges above the finest level fitted when the rounds stop, of the
# pairs whose share is at least MERGE_ABOVE_CHANCE times chance.
MERGE_CANDIDATES = 2
MERGE_ABOVE_CHANCE = 3.0
# Times a kept sibling merge restarts the rounds of reassignment.
MERGE_PHASES = 2


def _orthonormal(A, tol=1e-10):
    """Orthonormal basis of the column span of ``A`` (rank-revealing)."""
    if A.shape[1] == 0:
        return A
    U, S, _ = np.linalg.svd(A, full_matrices=False)
    if S.size == 0 or S[0] == 0:
        return U[:, :0]
    return U[:, S > tol * max(S[0], 1.0) * max(A.shape)]


def path_bases(h, Z):
    """Orthonormal basis of every group, orthogonal to its ancestors' bases.

    Parameters
    ----------
    h : _Hierarchy
    Z : list of ndarray of shape (n_groups_l, r_l, n_samples)
        Posterior means of the factors of every group (:func:`._em.posterior`).

    Returns
    -------
    bases : list of list of ndarray of shape (n_samples, q_a)
        ``bases[l][a]``: ``q_a <= r_l`` orthonormal columns spanning the
        factors of group ``a`` of level ``l`` beyond those of its ancestors.
    """
    bases, paths = [], []
    for level, z in enumerate(Z):
        level_bases, level_paths = [], []
        for group in range(h.n_groups[level]):
            columns = z[group].T
            above = paths[-1][h.parent[level][group]] if level else None
            if above is not None and above.shape[1]:
                columns = columns - above @ (above.T @ columns)
            basis = _orthonormal(columns)
            if above is not None and above.shape[1]:
                # a second pass removes what rounding left of the ancestors
                basis = _orthonormal(basis - above @ (above.T @ basis))
            level_bases.append(basis)
            level_paths.append(basis if above is None else np.hstack([above, basis]))
        bases.append(level_bases)
        paths.append(level_paths)
    return bases


def _best_leaves(Yt, rows, h, Z):
    """Leaf whose path basis captures most of each row of ``Yt[rows]``."""
    bases = path_bases(h, Z)
    ancestors = h.leaf_ancestors
    # per level: all the groups' bases side by side, and each group's first
    # column (groups without columns capture nothing)
    stacked, starts, nonempty = [], [], []
    for level_bases in bases:
        widths = np.array([b.shape[1] for b in level_bases])
        stacked.append(np.hstack(level_bases))
        starts.append(np.concatenate([[0], np.cumsum(widths)[:-1]])[widths > 0])
        nonempty.append(np.flatnonzero(widths > 0))
    width = max(sum(s.shape[1] for s in stacked), h.n_groups[-1], Yt.shape[1])
    block = max(1, _BLOCK_ENTRIES // width)
    leaf = np.empty(rows.size, dtype=np.intp)
    for start in range(0, rows.size, block):
        chunk = Yt[rows[start : start + block]]
        captured = np.zeros((chunk.shape[0], h.n_groups[-1]))
        for level, basis in enumerate(stacked):
            if not nonempty[level].size:
                continue
            projected = chunk @ basis
            projected *= projected
            energy = np.zeros((chunk.shape[0], h.n_groups[level]))
            energy[:, nonempty[level]] = np.add.reduceat(
                projected, starts[level], axis=1
            )
            captured += energy[:, ancestors[level]]
        leaf[start : start + chunk.shape[0]] = np.argmax(captured, axis=1)
    return leaf


def reassign_paths(Yt, h, F, d, ranks, n_folds=5, random_state=None):
    """Every feature to the leaf whose path of factors captures most of it.

    The factors' posterior means of a feature's own fit include the
    feature's noise, which draws it to the group it is in. With
    ``n_folds > 1`` the features are split at random into folds, and the
    features of each fold are scored against the posterior means of the
    factors given the other features only (cross-fitting): the model's
    marginal on them, its loadings of the fold's features set to zero, so
    neither the data nor the hierarchy is copied.

    Parameters
    ----------
    Yt : ndarray of shape (n_features, n_samples)
        Centred data (standardized or not: the choice of each feature does
        not depend on its scale), one row per feature, in the canonical
        order of ``h``.
    h : _Hierarchy
        The hierarchy the model was fitted on.
    F : ndarray of shape (n_features, sum(ranks))
        Compressed loadings of the fit, canonical order.
    d : ndarray of shape (n_features,)
        Noise variances of the fit.
    ranks : tuple of int
    n_folds : int, default=5
        Folds of the cross-fitting (1: every feature against the factors of
        the whole fit).
    random_state : int, RandomState instance or None
        For the folds.

    Returns
    -------
    hierarchy : list of ndarray of shape (n_features,)
        New group labels of every level, in the original feature order (that
        of ``h.labels``), nested by construction (every level follows from
        the leaf); a group that keeps no feature disappears (labels are
        ``h``'s group indices, not renumbered: pass them to
        :func:`check_hierarchy`).
    leaf : ndarray of shape (n_features,)
        New leaf of every feature, canonical order of ``h``.
    """
    n_features = Yt.shape[0]
    n_folds = max(1, min(n_folds, n_features))
    fold = check_random_state(random_state).permutation(n_features) % n_folds
    leaf = np.empty(n_features, dtype=np.intp)
    for k in range(n_folds):
        rows = np.flatnonzero(fold == k)
        F_rest = F.copy() if n_folds > 1 else F
        if n_folds > 1:
            F_rest[rows] = 0.0
        sigma = MLRMatrix._from_permuted(h, F_rest, d, ranks, 1)
        with np.errstate(over="ignore", invalid="ignore"):
            _, _, Z, _ = posterior(Yt, sigma, covariances=False)
        leaf[rows] = _best_leaves(Yt, rows, h, Z)
    hierarchy = [ancestors[leaf][h.iperm] for ancestors in h.leaf_ancestors]
    return hierarchy, leaf


def _factor_loglike(R, rank):
    """Log-likelihood of the rows of ``R`` (features x samples) under a factor
    analysis of ``rank`` factors (a Gaussian per feature when too few rows)."""
    if R.shape[0] <= rank + 1:
        variance = np.maximum(R.var(axis=1), np.finfo(np.float64).tiny)
        return -0.5 * R.shape[1] * float(np.sum(np.log(2 * np.pi * variance) + 1))
    fa = FactorAnalysis(rank, tol=1e-4, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return float(fa.fit(R.T).score(R.T)) * R.shape[1]


def split_merge_leaves(Yt, h, F, d, ranks, random_state=None):
    """Split leaves that hold two groups, merge sibling leaves that are one.

    Path reassignment moves features but never changes the number of
    groups. Given the posterior means of the ancestors' factors, the leaves
    are independent: a leaf's residual (its data minus their least-squares
    projection on the ancestors' factors) follows a factor analysis of the
    leaf's rank. A leaf is split in two (spectral cut of its residual, then
    two-subspace refinement) when the two halves' factor analyses have a
    higher log-likelihood than the leaf's; two sibling leaves are merged
    (each leaf with the sibling whose residual subspace is closest to its
    own, leaves not split) when one factor analysis of their union has a
    higher log-likelihood than the two. Both models have about the same
    number of parameters (every feature keeps ``r`` loadings).

    Parameters
    ----------
    Yt, h, F, d, ranks, random_state : see :func:`reassign_paths`.

    Returns
    -------
    hierarchy : list of ndarray of shape (n_features,)
        New labels, original feature order (levels above the finest
        unchanged).
    n_moves : int
        Number of splits and merges.
    """
    rng = check_random_state(random_state)
    rank, last = ranks[-1], h.n_levels - 1
    n_leaves = h.n_groups[-1]
    if rank == 0 or last == 0:
        return [labels.copy() for labels in h.labels], 0
    sigma = MLRMatrix._from_permuted(h, F, d, ranks, 1)
    with np.errstate(over="ignore", invalid="ignore"):
        _, _, Z, _ = posterior(Yt, sigma, covariances=False)
    bounds = h.bounds[-1]

    def residual(leaf):
        rows = Yt[bounds[leaf] : bounds[leaf + 1]]
        ancestors = [Z[level][h.leaf_ancestors[level][leaf]] for level in range(last)]
        return _residual(rows, _orthonormal(np.vstack(ancestors).T))

    leaf = h.labels[-1][h.perm].copy()
    loglike, bases, split = np.empty(n_leaves), [], np.zeros(n_leaves, dtype=bool)
    n_moves = 0
    for g in range(n_leaves):
        R = residual(g)
        loglike[g] = _factor_loglike(R, rank)
        bases.append(np.linalg.svd(R, full_matrices=False)[2][:rank].T)
        if R.shape[0] < 4 * (rank + 1):
            continue
        side = spectral_bipartition(R, 0, 2 * rank, rng)
        # two-sided k-subspaces refinement of the cut; None: a side too small
        halves = _k_subspaces(R, side.astype(np.intp), rank, rng, 5, rank + 2)
        if halves is None:
            continue
        side = halves == 1
        gain = (
            _factor_loglike(R[~side], rank)
            + _factor_loglike(R[side], rank)
            - loglike[g]
        )
        if gain > 0:
            leaf[bounds[g] + np.flatnonzero(side)] = n_leaves + n_moves
            split[g] = True
            n_moves += 1
    # merges: every unsplit leaf with its closest unsplit sibling
    parent = h.parent[-1]
    candidates = {}
    for a in np.flatnonzero(~split):
        siblings = [b for b in np.flatnonzero((parent == parent[a]) & ~split) if b != a]
        if siblings:
            overlap = [np.sum((bases[a].T @ bases[b]) ** 2) for b in siblings]
            b = siblings[int(np.argmax(overlap))]
            candidates[(min(a, b), max(a, b))] = None
    gains = []
    for a, b in candidates:
        union = np.vstack([residual(a), residual(b)])
        gain = _factor_loglike(union, rank) - loglike[a] - loglike[b]
        if gain > 0:
            gains.append((gain, a, b))
    merged = set()
    for _, a, b in sorted(gains, reverse=True):
        if a not in merged and b not in merged:
            leaf[bounds[b] : bounds[b + 1]] = a
            merged.update((a, b))
            n_moves += 1
    # a split leaf's new half lies in the same parent: the levels above are
    # those of the leaf it came from
    hierarchy = [labels.copy() for labels in h.labels[:-1]] + [leaf[h.iperm]]
    return hierarchy, n_moves


def merge_siblings(Yt, h, F, d, ranks):
    """Candidate merges of two sibling groups above the finest level.

    The spectral partition may cut a group of level :math:`l` in two; the
    halves then share their own factors, which neither reassignment (it
    keeps the groups) nor :func:`split_merge_leaves` (finest level only)
    can undo. Every group of an intermediate level with a nonzero rank is
    paired with each of its siblings. A pair is scored by the share of one
    group's energy beyond its ancestors' factors that the other group's own
    factors (:func:`path_bases`) capture, the larger of the two ways. For
    independent siblings this is about chance, :math:`q / (N - p)` (a
    random subspace of the :math:`q` own factors among the :math:`N - p`
    sample directions the :math:`p` ancestors' factors leave); the halves
    of one group share far more (each holds the factors of the other). Only
    a group's own features load on its factors, so the other group's noise
    enters their posterior means only through the ancestors' factors. Pairs
    below ``MERGE_ABOVE_CHANCE`` times chance are not proposed. The merge of
    a pair makes the children of both the children of one group.

    Parameters
    ----------
    Yt, h, F, d, ranks : see :func:`reassign_paths`.

    Returns
    -------
    candidates : list of (float, list of ndarray)
        The pair's share, in [0, 1], and the merged hierarchy's labels,
        original feature order, largest share first.
    """
    levels = [level for level in range(1, h.n_levels - 1) if ranks[level] > 0]
    if not levels:
        return []
    sigma = MLRMatrix._from_permuted(h, F, d, ranks, 1)
    with np.errstate(over="ignore", invalid="ignore"):
        _, _, Z, _ = posterior(Yt, sigma, covariances=False)
    bases = path_bases(h, Z)
    pairs = {}
    for level in levels:
        parent, own = h.parent[level], bases[level]
        bounds = h.bounds[level]
        # energy of every group's data beyond its ancestors' factors
        above = [
            np.hstack([bases[c][h.group_ancestors[level][c][g]] for c in range(level)])
            for g in range(h.n_groups[level])
        ]
        rows = [Yt[bounds[g] : bounds[g + 1]] for g in range(h.n_groups[level])]
        left = [np.sum(R**2) - np.sum((R @ A) ** 2) for R, A in zip(rows, above)]

        def captured(a, b):
            # share of a's energy beyond the ancestors in b's own factors
            return np.sum((rows[a] @ own[b]) ** 2) / max(left[a], 1e-300)

        for a in range(h.n_groups[level]):
            for b in np.flatnonzero(parent == parent[a]):
                if b > a and own[a].shape[1] and own[b].shape[1]:
                    share = max(captured(a, b), captured(b, a))
                    # a random subspace of q of the N - p directions left by
                    # the p ancestors' factors holds q / (N - p) of them
                    free = max(Yt.shape[1] - above[a].shape[1], 1)
                    chance = max(own[a].shape[1], own[b].shape[1]) / free
                    if share >= MERGE_ABOVE_CHANCE * chance:
                        pairs[(level, a, int(b))] = float(share)
    candidates = []
    for (level, a, b), share in sorted(pairs.items(), key=lambda item: -item[1]):
        labels = [lab.copy() for lab in h.labels]
        labels[level][labels[level] == b] = a
        candidates.append((share, labels))
    return candidates


def refine_hierarchy(
    Yt,
    h,
    ranks,
    em,
    rng,
    n_rounds=REFINE_ROUNDS,
    n_iter=REFINE_ITER,
    n_folds=REFINE_FOLDS,
):
    """Alternate short EM fits and moves of the features of a learned hierarchy.

    Rounds of path reassignment (:func:`reassign_paths`), a split/merge of
    leaves (:func:`split_merge_leaves`) after a reassignment that moved
    nothing or was rejected, until a split/merge is rejected too or
    ``n_rounds`` rounds are done; then the first ``MERGE_CANDIDATES``
    sibling merges (:func:`merge_siblings`) are fitted, the best kept if it
    raises the fit, and the rounds start again (at most ``MERGE_PHASES``
    times).

    Parameters
    ----------
    Yt : ndarray of shape (n_features, n_samples)
        Standardized data, original feature order.
    h : _Hierarchy
        The learned hierarchy.
    ranks : tuple of int
    em : callable
        ``em(Yt, h, ranks, mask, rng, max_iter, verbose)`` returns
        ``(F, d, monitor)`` (``MultilevelFactorModel._em``); ``Yt`` in the
        canonical order of ``h``.
    rng : RandomState
    n_rounds : int
        Most rounds of reassignment or split/merge between sibling merges.
    n_iter : int
        EM iterations of every fit.
    n_folds : int
        Folds of :func:`reassign_paths`.

    Returns
    -------
    h : _Hierarchy
        The last hierarchy whose fit raised the training log-likelihood over
        that of the hierarchy it came from (``h`` itself when none did).
    history : list of float
        Training log-likelihood (standardized data, ``n_iter`` EM
        iterations) of the starting hierarchy and of every accepted one,
        increasing.
    """

    def fit(h):
        Yp = Yt[h.perm]
        mask, _ = rank_mask(h, ranks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            F, d, monitor = em(Yp, h, ranks, mask, rng, n_iter, 0)
        return Yp, F, d, monitor.history[-1]

    _, F, d, loglike = fit(h)
    history = [loglike]

    def best_of(proposals):
        """The proposal whose fit beats the current one most, or None."""
        best = None
        for labels in proposals:
            new = check_hierarchy(labels)
            _, F_new, d_new, new_loglike = fit(new)
            if new_loglike > (loglike if best is None else best[3]):
                best = new, F_new, d_new, new_loglike
        return best

    for phase in range(MERGE_PHASES + 1):
        stalled = False  # the last reassignment moved nothing or was rejected
        for _ in range(n_rounds):
            Yp = Yt[h.perm]
            if stalled:
                labels, n_moves = split_merge_leaves(Yp, h, F, d, ranks, rng)
            else:
                labels, leaf = reassign_paths(Yp, h, F, d, ranks, n_folds, rng)
                n_moves = np.count_nonzero(leaf != h.labels[-1][h.perm])
            del Yp  # one permuted copy of the data at a time
            best = best_of([labels] if n_moves else [])
            if best is not None:
                h, F, d, loglike = best
                history.append(loglike)
            elif stalled:
                break
            stalled = best is None
        if phase == MERGE_PHASES:
            break
        Yp = Yt[h.perm]
        merges = merge_siblings(Yp, h, F, d, ranks)[:MERGE_CANDIDATES]
        del Yp
        best = best_of([labels for _, labels in merges])
        if best is None:
            break
        h, F, d, loglike = best
        history.append(loglike)
    return h, history
