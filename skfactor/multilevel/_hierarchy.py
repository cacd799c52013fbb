r"""Nested partitions of the features and per-level ranks, validated.

A hierarchy of ``L`` levels is a list of label arrays, coarsest first; level
:math:`l` partitions the ``n`` features into :math:`p_l` groups, and every
group of level :math:`l` lies inside a single group of level :math:`l - 1`
(the partitions are nested). :func:`check_hierarchy` validates the labels and
builds the canonical order used everywhere in :mod:`skfactor.multilevel`: the
stable lexicographic sort of the labels, coarsest level as the primary key,
in which every group of every level is a contiguous range of rows
``bounds[l][k]:bounds[l][k + 1]``. :func:`check_ranks` validates the rank
:math:`r_l` of every level; the compressed factor array of an MLR matrix has
:math:`r = r_1 + \dots + r_L` columns, level :math:`l` at the column offsets
:math:`r_1 + \dots + r_{l-1}` of :func:`rank_offsets`.
"""

from itertools import accumulate
from numbers import Integral

import numpy as np

__all__ = ["check_hierarchy", "check_ranks", "rank_offsets"]


class _Hierarchy:
    """A validated nested partition of ``n_features`` items.

    Build it with :func:`check_hierarchy`. Attributes (``p_l`` groups at
    level ``l``):

    - ``perm``: canonical order, ``perm[j]`` is the original index of the
      ``j``-th row; ``iperm`` its inverse;
    - ``bounds[l]``: ``p_l + 1`` offsets, group ``k`` of level ``l`` is the
      permuted range ``bounds[l][k]:bounds[l][k + 1]``;
    - ``parent[l]``: for ``l >= 1``, the level ``l - 1`` group of each group;
    - ``child_bounds[l]``: for ``l < L - 1``, the children of group ``k`` are
      the level ``l + 1`` groups ``child_bounds[l][k]:child_bounds[l][k + 1]``;
    - ``leaf_ancestors[l]``: the level ``l`` group containing each group of
      the finest level; ``group_ancestors[l][c]`` the level ``c <= l`` group
      containing each group of level ``l``;
    - ``labels[l]``: canonical group index of every feature, original order.
    """

    def __init__(self, labels, perm, bounds, parent):
        self.labels = labels
        self.perm = perm
        self.iperm = np.empty_like(perm)
        self.iperm[perm] = np.arange(perm.size)
        self.bounds = bounds
        self.parent = parent
        self.n_features = int(perm.size)
        self.n_levels = len(bounds)
        self.n_groups = [len(b) - 1 for b in bounds]
        self.child_bounds = [
            np.searchsorted(bounds[level + 1], bounds[level])
            for level in range(self.n_levels - 1)
        ]
        leaf = self.n_levels - 1
        ancestors = [None] * self.n_levels
        ancestors[leaf] = np.arange(self.n_groups[leaf])
        for level in range(leaf, 0, -1):
            ancestors[level - 1] = parent[level][ancestors[level]]
        self.leaf_ancestors = ancestors
        # group_ancestors[level][coarse]: the level ``coarse`` group containing
        # every group of ``level`` (coarse <= level).
        self.group_ancestors = []
        for level in range(self.n_levels):
            own = np.arange(self.n_groups[level])
            chain = [own]
            for coarse in range(level, 0, -1):
                chain.append(parent[coarse][chain[-1]])
            self.group_ancestors.append(chain[::-1])
        # Python lists for the loops over groups (faster indexing).
        self._bounds_list = [b.tolist() for b in bounds]
        self._ancestors_list = [a.tolist() for a in ancestors]

    def group_sizes(self, level):
        """Number of features of every group of ``level``."""
        return np.diff(self.bounds[level])


def check_hierarchy(hierarchy, n_features=None):
    """Validate per-level group labels and return a :class:`_Hierarchy`.

    Parameters
    ----------
    hierarchy : sequence of array-like of shape (n_features,) or _Hierarchy
        Group label of every feature at every level, coarsest level first.
        Labels may be any sortable values; a group of a level must lie inside
        a single group of the level above (the partitions are nested).
    n_features : int, default=None
        Expected number of features.

    Returns
    -------
    hierarchy : _Hierarchy

    Raises
    ------
    ValueError
        If there is no level, a level is not one-dimensional, has the wrong
        length, has missing labels, or is not nested in the level above.
    """
    if isinstance(hierarchy, _Hierarchy):
        if n_features is not None and hierarchy.n_features != n_features:
            raise ValueError(
                f"The hierarchy covers {hierarchy.n_features} features but "
                f"there are {n_features} features."
            )
        return hierarchy
    if isinstance(hierarchy, str) or not hasattr(hierarchy, "__len__"):
        raise TypeError(
            "hierarchy must be a sequence of per-level label arrays, got "
            f"{type(hierarchy).__name__}."
        )
    if len(hierarchy) == 0:
        raise ValueError("The hierarchy must have at least one level.")
    if np.ndim(hierarchy[0]) == 0:
        raise ValueError(
            "hierarchy must be a list of label arrays, one per level (coarsest "
            "first); for a single level pass [labels]."
        )
    codes, level_uniques = [], []
    for level, labels in enumerate(hierarchy):
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(
                f"Level {level} of the hierarchy must be a 1-d array of group "
                f"labels, got an array of shape {labels.shape}."
            )
        if n_features is None:
            n_features = labels.shape[0]
        if labels.shape[0] != n_features:
            raise ValueError(
                f"Level {level} of the hierarchy has {labels.shape[0]} labels "
                f"but there are {n_features} features."
            )
        if n_features == 0:
            raise ValueError("The hierarchy must cover at least one feature.")
        if labels.dtype.kind in "fc" and not np.all(np.isfinite(labels)):
            raise ValueError(f"Level {level} of the hierarchy has NaN or inf labels.")
        if labels.dtype.kind == "O" and any(lab is None for lab in labels):
            raise ValueError(f"Level {level} of the hierarchy has missing labels.")
        try:
            uniques, code = np.unique(labels, return_inverse=True)
        except TypeError as exc:
            raise ValueError(
                f"Level {level} of the hierarchy has labels that cannot be "
                f"compared: {exc}"
            ) from None
        code = code.reshape(-1)
        if level > 0:
            _check_nested(code, uniques, codes[-1], level_uniques[-1], level)
        codes.append(code)
        level_uniques.append(uniques)

    # Stable lexicographic sort, coarsest level as primary key: every group
    # of every level becomes a contiguous range, and the order of features
    # inside a finest group is their original order.
    perm = np.lexsort(codes[::-1])
    labels, bounds, parent = [], [], []
    for level, code in enumerate(codes):
        sorted_code = code[perm]
        starts = np.flatnonzero(sorted_code[1:] != sorted_code[:-1]) + 1
        bound = np.concatenate(([0], starts, [n_features])).astype(np.intp)
        canonical = np.empty(n_features, dtype=np.intp)
        canonical[perm] = np.repeat(np.arange(bound.size - 1), np.diff(bound))
        if level > 0:
            parent.append(labels[-1][perm[bound[:-1]]])
        else:
            parent.append(None)
        labels.append(canonical)
        bounds.append(bound)
    return _Hierarchy(labels, perm, bounds, parent)


def _check_nested(code, uniques, parent_code, parent_uniques, level):
    """Raise if some group of ``level`` spans several groups of ``level - 1``."""
    n_groups = uniques.size
    low = np.full(n_groups, np.iinfo(np.intp).max)
    high = np.full(n_groups, -1)
    np.minimum.at(low, code, parent_code)
    np.maximum.at(high, code, parent_code)
    bad = np.flatnonzero(low != high)
    if bad.size:
        group = bad[0]
        name, first, second = (
            uniques[group].tolist(),
            parent_uniques[low[group]].tolist(),
            parent_uniques[high[group]].tolist(),
        )
        raise ValueError(
            f"The hierarchy is not nested: group {name!r} of level {level} "
            f"spans groups {first!r} and {second!r} of level {level - 1} "
            f"({bad.size} such group{'s' if bad.size > 1 else ''}). Every group "
            "must lie inside a single group of the level above."
        )


def check_ranks(ranks, n_levels=None):
    """Validate per-level ranks: a 1-d sequence of non-negative integers.

    Parameters
    ----------
    ranks : array-like of int
        Rank of the blocks of every level, coarsest first.
    n_levels : int, default=None
        Number of levels of the hierarchy the ranks go with.

    Returns
    -------
    ranks : tuple of int
    """
    try:
        array = np.asarray(ranks)
    except (ValueError, TypeError):
        array = np.empty(0)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            "ranks must be a non-empty 1-d sequence of non-negative integers, "
            f"one per level; got {ranks!r}."
        )
    out = []
    values = array.tolist() if isinstance(ranks, np.ndarray) else list(ranks)
    for level, rank in enumerate(values):
        if isinstance(rank, bool) or not isinstance(rank, Integral) or rank < 0:
            raise ValueError(
                f"ranks[{level}] must be a non-negative integer, got {rank!r}."
            )
        out.append(int(rank))
    if n_levels is not None and len(out) != n_levels:
        what = "missing a rank" if len(out) < n_levels else "missing from the hierarchy"
        raise ValueError(
            f"ranks has {len(out)} entries but the hierarchy has {n_levels} "
            f"levels: give one rank per level (level {min(len(out), n_levels)} "
            f"is {what})."
        )
    return tuple(out)


def rank_offsets(ranks):
    """Column offsets of every level in the compressed factor array."""
    return [0, *accumulate(int(rank) for rank in ranks)]
