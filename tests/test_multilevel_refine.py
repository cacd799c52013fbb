"""Refinement of a learned hierarchy by path reassignment (``_refine``)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state

from skfactor import MultilevelFactorModel
from skfactor.datasets import make_multilevel_factor
from skfactor.multilevel import _factor_model, _refine
from skfactor.multilevel._em import rank_mask
from skfactor.multilevel._standardize import standardize as _standardize
from skfactor.multilevel._hierarchy import check_hierarchy


def _standardized(X):
    Yt = np.array(X.T, dtype=np.float64, order="C")
    _standardize(Yt)
    return Yt


def _fit(Yt, h, ranks, max_iter=50):
    """Short EM fit on ``h``: canonical data, loadings and noise variances."""
    Yp = Yt[h.perm]
    mask, _ = rank_mask(h, ranks)
    model = MultilevelFactorModel(ranks, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        F, d, _ = model._em(Yp, h, ranks, mask, check_random_state(0), max_iter, 0)
    return Yp, F, d


def _binary_draw(ranks, n_features=160, random_state=0):
    """400 samples on a planted binary tree, snr 10, and the validated true
    hierarchy (its labels are the generator's)."""
    X, truth = make_multilevel_factor(
        n_samples=400,
        n_features=n_features,
        ranks=ranks,
        branching=2,
        snr=10.0,
        random_state=random_state,
    )
    return X, check_hierarchy(truth.hierarchy)


def _refined(X, h, ranks):
    """:func:`_refine.refine_hierarchy` of ``h`` on ``X``, and its history."""
    em = MultilevelFactorModel(ranks, random_state=0)._em
    return _refine.refine_hierarchy(
        _standardized(X), h, ranks, em, check_random_state(0)
    )


def _perturbed(hierarchy, share, seed):
    """``share`` of the features moved, whole path, to another random leaf."""
    rng = np.random.default_rng(seed)
    hierarchy = [np.asarray(labels).copy() for labels in hierarchy]
    leaves = hierarchy[-1]
    first = {leaf: np.flatnonzero(leaves == leaf)[0] for leaf in np.unique(leaves)}
    moved = rng.choice(leaves.size, int(share * leaves.size), replace=False)
    for i in moved:
        target = rng.choice([leaf for leaf in first if leaf != leaves[i]])
        for labels in hierarchy:
            labels[i] = labels[first[target]]
    return hierarchy


@pytest.mark.parametrize("n_folds", [1, 5])
def test_reassigned_hierarchy_is_nested_and_valid(n_folds):
    X, truth = make_multilevel_factor(
        n_samples=200, n_features=90, ranks=(2, 1, 1), branching=3, random_state=0
    )
    h = check_hierarchy(_perturbed(truth.hierarchy, 0.3, 0))
    Yp, F, d = _fit(_standardized(X), h, (2, 1, 1))
    labels, leaf = _refine.reassign_paths(Yp, h, F, d, (2, 1, 1), n_folds, 0)
    new = check_hierarchy(labels, 90)
    assert new.n_levels == 3
    for level in range(3):
        # every level follows from the leaf (whole paths move)
        np.testing.assert_array_equal(
            labels[level], h.leaf_ancestors[level][leaf][h.iperm]
        )
        assert np.all(new.group_sizes(level) > 0)


def test_a_feature_moves_to_the_leaf_whose_path_holds_its_signal():
    # root (rank 1) with leaves 0 and 1 (rank 1) of 10 features and leaf 2 of
    # two, the model's parameters given. Feature 0 is labelled in leaf 0 but
    # its data load on leaf 1's factor, leaf 2's features load on leaf 0's
    # and leaf 1's (the misplaced features have no loadings, as a fit that
    # cannot explain them): they move, and leaf 2 disappears.
    rng = np.random.default_rng(0)
    n_samples, leaves = 400, np.repeat([0, 1, 2], [10, 10, 2])
    z = rng.standard_normal((n_samples, 3))  # root, leaf 0, leaf 1
    own = leaves.copy()
    own[[0, 20, 21]] = [1, 0, 1]
    # loadings of varied sizes (equal ones make the root's posterior mean a
    # combination of the leaves')
    F = rng.uniform(0.5, 1.5, (22, 2))
    noise = 0.3 * rng.standard_normal((n_samples, 22))
    X = z[:, [0]] * F[:, 0] + z[:, 1 + own] * F[:, 1] + noise
    h = check_hierarchy([np.zeros(22, dtype=int), leaves])
    misplaced = [0, 20, 21]
    d = np.full(22, 0.09)
    d[misplaced] = X[:, misplaced].var(axis=0)
    F[misplaced] = 0.0
    Yt = np.ascontiguousarray((X - X.mean(axis=0)).T)
    for n_folds in (1, 5):
        labels, _ = _refine.reassign_paths(Yt, h, F, d, (1, 1), n_folds, 0)
        np.testing.assert_array_equal(labels[1], own)
        new = check_hierarchy(labels)
        assert new.n_groups == [1, 2]


def test_refinement_recovers_a_perturbed_truth_and_raises_the_loglike():
    ranks = (2, 2, 2)
    X, true = _binary_draw(ranks, n_features=120, random_state=1)
    start = check_hierarchy(_perturbed(true.labels, 0.1, 1))
    before = adjusted_rand_score(true.labels[-1], start.labels[-1])
    assert before < 0.9
    h, history = _refined(X, start, ranks)
    for planted, learned in zip(true.labels[1:], h.labels[1:]):
        assert adjusted_rand_score(planted, learned) > 0.98
    # the accepted hierarchies' training log-likelihoods increase
    assert len(history) >= 2
    assert np.all(np.diff(history) > 0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("seed", [0, 1])
def test_refinement_does_not_lower_the_ari_of_a_learned_hierarchy(seed, monkeypatch):
    ranks = (2, 2, 2)
    X, truth = make_multilevel_factor(
        n_samples=300,
        n_features=128,
        ranks=ranks,
        branching=3,
        snr=10.0,
        random_state=seed,
    )

    def worst(model):
        return min(
            adjusted_rand_score(t, learned)
            for t, learned in zip(truth.hierarchy[1:], model.hierarchy_[1:])
        )

    refined = MultilevelFactorModel(ranks, None, max_iter=30, random_state=0).fit(X)
    monkeypatch.setattr(_factor_model, "refine_hierarchy", lambda Yt, h, *a: (h, []))
    plain = MultilevelFactorModel(ranks, None, max_iter=30, random_state=0).fit(X)
    assert worst(refined) >= worst(plain)
    assert worst(refined) > 0.9


def test_split_merge_splits_two_leaves_in_one_and_merges_a_halved_leaf():
    ranks = (2, 2, 2)
    X, true = _binary_draw(ranks)
    leaves = true.labels[-1]
    parent = true.parent[-1]
    # two sibling leaves as one; another leaf cut in two halves
    first = next(a for a in range(true.n_groups[-1]) if np.sum(parent == parent[a]) > 1)
    sibling = next(b for b in np.flatnonzero(parent == parent[first]) if b != first)
    halved = next(g for g in range(true.n_groups[-1]) if parent[g] != parent[first])
    wrong = leaves.copy()
    wrong[leaves == sibling] = first
    members = np.flatnonzero(leaves == halved)
    wrong[members[: members.size // 2]] = leaves.max() + 1
    h = check_hierarchy([*true.labels[:-1], wrong])
    Yp, F, d = _fit(_standardized(X), h, ranks)
    labels, n_moves = _refine.split_merge_leaves(Yp, h, F, d, ranks, 0)
    assert n_moves == 2
    new = check_hierarchy(labels)
    for level in range(2):
        np.testing.assert_array_equal(labels[level], h.labels[level])
    assert adjusted_rand_score(leaves, labels[-1]) > 0.9
    assert new.n_groups[-1] == true.n_groups[-1]
    # then path reassignment places the features the cut got wrong
    refined, _ = _refined(X, h, ranks)
    assert adjusted_rand_score(leaves, refined.labels[-1]) > 0.95


def test_a_group_cut_in_two_above_the_finest_level_is_merged_back(monkeypatch):
    ranks = (2, 2, 2)
    X, true = _binary_draw(ranks)
    # one level-1 group cut in two, a child on each side: three siblings
    middle, leaves = true.labels[1].copy(), true.labels[-1]
    child = true.labels[-1][np.flatnonzero(middle == 0)[0]]
    middle[leaves == child] = middle.max() + 1
    h = check_hierarchy([true.labels[0], middle, leaves])
    assert h.n_groups[1] == 3
    Yp, F, d = _fit(_standardized(X), h, ranks)
    # every pair of the three siblings, the two halves first: each holds the
    # other's factors
    monkeypatch.setattr(_refine, "MERGE_ABOVE_CHANCE", 0.0)
    candidates = _refine.merge_siblings(Yp, h, F, d, ranks)
    assert len(candidates) == 3
    shares = [share for share, _ in candidates]
    assert shares == sorted(shares, reverse=True)
    assert adjusted_rand_score(true.labels[1], candidates[0][1][1]) == 1.0
    # of which only the halves share more than chance (2 / 398 per pair here)
    monkeypatch.undo()
    (share, labels), *others = _refine.merge_siblings(Yp, h, F, d, ranks)
    assert not others and share == shares[0] > 3 * 2 / 398
    refined, history = _refined(X, h, ranks)
    assert refined.n_groups[1] == 2
    assert adjusted_rand_score(true.labels[1], refined.labels[1]) == 1.0
    # finest level: reassignment may leave a few features where noise puts them
    assert adjusted_rand_score(true.labels[2], refined.labels[2]) > 0.95
    assert np.all(np.diff(history) > 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_sibling_merge_is_a_valid_hierarchy_with_one_group_less(
    seed, monkeypatch
):
    ranks = (1, 2, 1, 1)
    X, truth = make_multilevel_factor(
        n_samples=120, n_features=80, ranks=ranks, branching=3, random_state=seed
    )
    h = check_hierarchy(_perturbed(truth.hierarchy, 0.2, seed))
    Yp, F, d = _fit(_standardized(X), h, ranks, max_iter=10)
    monkeypatch.setattr(_refine, "MERGE_ABOVE_CHANCE", 0.0)
    candidates = _refine.merge_siblings(Yp, h, F, d, ranks)
    # every pair of siblings of levels 1 and 2 (not the root, not the leaves)
    n_pairs = sum(
        np.sum(h.parent[level] == p) * (np.sum(h.parent[level] == p) - 1) // 2
        for level in (1, 2)
        for p in np.unique(h.parent[level])
    )
    assert len(candidates) == n_pairs > 0
    for share, labels in candidates:
        assert 0.0 <= share <= 1.0
        new = check_hierarchy(labels, 80)
        changed = [
            level for level in range(4) if new.n_groups[level] != h.n_groups[level]
        ]
        assert len(changed) == 1 and changed[0] in (1, 2)
        level = changed[0]
        assert new.n_groups[level] == h.n_groups[level] - 1
        for other in range(4):  # the other levels' partitions are unchanged
            if other != level:
                assert adjusted_rand_score(h.labels[other], labels[other]) == 1.0
