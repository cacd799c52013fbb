"""MultilevelFactorModel: its data generator and the structure parameters
(learned hierarchies, rank allocation) and their errors."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skfactor import MultilevelFactorModel
from skfactor.datasets import make_multilevel_factor
from skfactor.multilevel._hierarchy import check_hierarchy

from .test_mlr import dense_reference


def test_make_multilevel_factor_returns_the_true_model():
    params = dict(
        n_samples=50,
        n_features=40,
        ranks=(2, 1, 1),
        branching=(3, 2),
        snr=2.0,
        random_state=0,
    )
    X, truth = make_multilevel_factor(**params)
    assert X.shape == (50, 40)
    assert [np.unique(labels).size for labels in truth.hierarchy] == [1, 3, 6]
    check_hierarchy(truth.hierarchy)  # nested
    assert [F.shape for F in truth.factors] == [(40, 2), (40, 1), (40, 1)]
    signal = sum(np.sum(F**2, axis=1) for F in truth.factors)
    np.testing.assert_allclose(truth.noise_variance, signal / 2.0)
    np.testing.assert_allclose(
        truth.covariance.to_dense(),
        dense_reference(truth.hierarchy, truth.factors, truth.noise_variance),
    )
    # shuffled: the groups of level 1 are not contiguous in the feature order
    assert np.any(np.diff(truth.hierarchy[1]) < 0)
    X2, truth2 = make_multilevel_factor(**params)
    np.testing.assert_array_equal(X, X2)
    _, ordered = make_multilevel_factor(
        n_features=10, ranks=(1, 1), shuffle=False, random_state=0
    )
    assert np.all(np.diff(ordered.hierarchy[1]) >= 0)
    # more parts than features: a group splits into as many parts as it has features
    _, tiny = make_multilevel_factor(
        n_features=3, ranks=(1, 1), branching=5, random_state=0
    )
    assert np.unique(tiny.hierarchy[1]).size == 3


def test_make_multilevel_factor_returns_the_latent_scores():
    X, truth = make_multilevel_factor(
        n_samples=2000, n_features=30, ranks=(2, 1, 1), branching=(3, 2), random_state=0
    )
    assert [z.shape for z in truth.scores] == [(2000, 1, 2), (2000, 3, 1), (2000, 6, 1)]
    signal = sum(
        np.einsum("sir,ir->si", z[:, labels], F)
        for z, labels, F in zip(truth.scores, truth.hierarchy, truth.factors)
    )
    noise = X - signal
    # what is left is the noise: its variance, independent of the factors
    np.testing.assert_allclose(noise.var(axis=0), truth.noise_variance, rtol=0.2)
    for z in truth.scores:
        z = z.reshape(2000, -1)
        correlation = (z - z.mean(0)).T @ (noise - noise.mean(0)) / 2000
        correlation /= np.outer(z.std(0), noise.std(0))
        assert np.abs(correlation).max() < 0.15
    # the samples are those of the covariance's own sampler
    rs = np.random.RandomState(1)
    state = rs.get_state()
    sampled = truth.covariance.sample(5, random_state=rs)
    rs.set_state(state)
    np.testing.assert_array_equal(sampled, truth.covariance._sample(5, rs)[0])


@pytest.mark.parametrize(
    "params, error, message",
    [
        (dict(branching=(2,)), ValueError, "branching must be a positive integer or 2"),
        (dict(branching=0), ValueError, "branching"),
        (dict(ranks=(1, -1, 1)), ValueError, r"ranks\[1\]"),
        (dict(snr=0.0), ValueError, "snr"),
    ],
)
def test_make_multilevel_factor_bad_parameters(params, error, message):
    with pytest.raises(error, match=message):
        make_multilevel_factor(**{"ranks": (2, 1, 1), **params})


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_hierarchy_none_means_learn_it():
    X, _ = make_multilevel_factor(
        n_samples=200, n_features=30, ranks=(2, 1), random_state=0
    )
    auto = MultilevelFactorModel((2, 1), "auto", random_state=0, max_iter=30).fit(X)
    none = MultilevelFactorModel((2, 1), None, random_state=0, max_iter=30).fit(X)
    for a, b in zip(auto.hierarchy_, none.hierarchy_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(auto.loglike_, none.loglike_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_int_ranks_is_the_same_rank_at_every_level():
    X, truth = make_multilevel_factor(
        n_samples=200, n_features=30, ranks=(2, 1), random_state=0
    )
    given = dict(hierarchy=truth.hierarchy, random_state=0, max_iter=20)
    one = MultilevelFactorModel(2, **given).fit(X)
    seq = MultilevelFactorModel((2, 2), **given).fit(X)
    assert one.ranks_ == (2, 2)
    np.testing.assert_allclose(one.loglike_, seq.loglike_)
    learned = MultilevelFactorModel(1, None, n_levels=4, max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        learned.fit(X)
    assert learned.ranks_ == (1, 1, 1, 1) and len(learned.hierarchy_) == 4


def test_learned_hierarchy_is_nested_with_the_requested_levels():
    X, _ = make_multilevel_factor(
        n_samples=200, n_features=40, ranks=(2, 1, 1), random_state=1
    )
    model = MultilevelFactorModel((2, 1, 1), None, max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X)
    assert len(model.hierarchy_) == 3
    check_hierarchy(model.hierarchy_)  # raises if not nested
    loglike = np.array(model.loglike_)  # EM on the learned structure
    assert np.all(np.diff(loglike) >= -1e-9 * np.abs(loglike[1:]))
    for coarse, fine in zip(model.hierarchy_[:-1], model.hierarchy_[1:]):
        # every group of the finer level lies inside one group of the coarser
        pairs = np.unique(np.c_[fine, coarse], axis=0)
        assert np.unique(pairs[:, 0]).size == pairs.shape[0]


def test_rank_allocation_greedy_on_the_gain_per_rank():
    from skfactor.multilevel._ranks import allocate_ranks

    # Concave gains: level 0 is worth 3 per rank up to 4, level 1 worth 1 up
    # to 2, level 2 worth nothing; the greedy allocation finds (4, 2, 1).
    def score(ranks):
        return 3 * min(ranks[0], 4) + min(ranks[1], 2) - 0.1 * ranks[2]

    ranks, history = allocate_ranks(score, 3, 12)
    assert ranks == (4, 2, 1)
    assert sum(ranks) <= 12 and all(r >= 1 for r in ranks)
    assert history[0] == ((1, 1, 1), score((1, 1, 1)))
    ranks, _ = allocate_ranks(lambda r: sum(r), 2, 9)  # always gains: spends all
    assert sum(ranks) == 9
    # greedy commits level 1 first; one exchange (a rank of level 1 to level
    # 0) then finds the best allocation of the budget
    table = {(1, 2, 1): 2.0, (2, 1, 1): 1.5, (2, 2, 1): 2.5, (1, 3, 1): 2.2}
    table[(3, 1, 1)] = 3.0
    ranks, history = allocate_ranks(lambda r: table.get(r, 0.0), 3, 5)
    assert ranks == (3, 1, 1)
    assert [r for r, _ in history].count((2, 2, 1)) == 1  # each scored once
    # a rank given early on a small gain (level 1 before level 0), worth
    # less than nothing once level 0 has its own: greedy spends the budget
    # on (3, 2), no exchange helps, dropping the rank of level 1 does
    table = {(1, 1): 0.0, (2, 1): 1.0, (1, 2): 1.1, (2, 2): 2.0, (1, 3): 0.5}
    table.update({(3, 2): 2.1, (2, 3): 1.8, (3, 1): 2.3})
    ranks, history = allocate_ranks(lambda r: table.get(r, -1.0), 2, 5)
    assert [r for r, _ in history][:7] == [
        (1, 1),
        (2, 1),
        (1, 2),
        (2, 2),
        (1, 3),
        (3, 2),
        (2, 3),
    ]
    assert ranks == (3, 1)


def test_auto_ranks_respect_the_budget_and_find_the_true_allocation():
    X, truth = make_multilevel_factor(
        n_samples=300, n_features=60, ranks=(3, 1), snr=4.0, random_state=0
    )
    model = MultilevelFactorModel(
        "auto", truth.hierarchy, n_factors=6, max_iter=50, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    assert sum(model.ranks_) <= 6 and min(model.ranks_) >= 1
    assert model.ranks_ == (3, 1)
    assert model.rank_path_[0][0] == (1, 1)
    assert [block.shape[0] for block in model.components_] == list(model.ranks_)
    loglike = np.array(model.loglike_)
    assert np.all(np.diff(loglike) >= -1e-9 * np.abs(loglike[1:]))


@pytest.mark.parametrize(
    "params, n_features, message",
    [
        (dict(ranks="auto", n_factors=2, n_levels=3), 10, "n_factors=2 is smaller"),
        (dict(ranks="auto", n_levels=2), 10, "set n_factors"),
        (dict(ranks=1, hierarchy=None, n_levels=5), 4, "at most as many levels"),
        (dict(ranks=(1, 1), n_levels=3), 10, "n_levels=3 but ranks has 2"),
        (
            dict(ranks=1, hierarchy=[np.zeros(10)], n_levels=2),
            10,
            "n_levels=2 but the given hierarchy has 1",
        ),
        (
            dict(ranks=1, hierarchy=[np.zeros(4), [0, 0, 1, 1], [0, 1, 1, 2]]),
            4,
            "not nested",
        ),
        (
            dict(ranks=1, hierarchy=[np.zeros(2), [0, 1], [0, 1]]),
            2,
            "3 levels for 2 features",
        ),
    ],
)
def test_bad_structure_parameters(params, n_features, message):
    X = np.random.default_rng(0).standard_normal((20, n_features))
    with pytest.raises(ValueError, match=message):
        MultilevelFactorModel(**params).fit(X)
