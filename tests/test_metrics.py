import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skfactor.metrics import (
    factor_match_score,
    match_regimes,
    regime_accuracy,
    regime_parameter_error,
)


def _random_factors(rng, shapes, rank):
    return [rng.standard_normal((n, rank)) for n in shapes]


# ----------------------------------------------------------- factor match score
def test_fms_perfect_match_is_one():
    rng = np.random.default_rng(0)
    factors = _random_factors(rng, (5, 6, 7), 3)
    assert factor_match_score(factors, factors) == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5))
def test_fms_invariant_to_permutation_scaling_and_sign(seed, rank):
    rng = np.random.default_rng(seed)
    factors = _random_factors(rng, (4, 5, 6), rank)
    perm = rng.permutation(rank)
    scales = rng.uniform(0.1, 10, size=(3, rank)) * rng.choice([-1, 1], (3, rank))
    estimated = [f[:, perm] * s for f, s in zip(factors, scales)]
    score, matching = factor_match_score(factors, estimated, return_matching=True)
    assert score == pytest.approx(1.0)
    np.testing.assert_array_equal(perm[matching], np.arange(rank))
    # symmetric in its arguments for equal ranks
    assert factor_match_score(estimated, factors) == pytest.approx(score)


def test_fms_hand_computed_value():
    # one mode, two components; cosines 1 (exact) and 1/sqrt(2)
    A = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    B = np.array([[0.0, 2.0], [1.0, 0.0], [1.0, 0.0]])
    assert factor_match_score([A], [B]) == pytest.approx((1 + 1 / np.sqrt(2)) / 2)
    # two modes: the congruence is the product of the per-mode cosines.
    # mode-2 cosines: (c0,d0) 1/sqrt2, (c0,d1) 0, (c1,d0) 1/sqrt2, (c1,d1) 1
    C = np.array([[1.0, 1.0], [1.0, -1.0]])
    D = np.array([[1.0, 1.0], [0.0, -1.0]])
    # products: only (A1,B0)x(c1,d0) = 1/sqrt2 * 1/sqrt2 = 1/2 is nonzero
    assert factor_match_score([A, C], [B, D]) == pytest.approx(0.25)


def test_fms_orthogonal_components_score_zero():
    A = np.eye(4)[:, :2]
    B = np.eye(4)[:, 2:]
    assert factor_match_score([A], [B]) == 0.0


def test_fms_different_ranks():
    rng = np.random.default_rng(1)
    factors = _random_factors(rng, (6, 7), 3)
    extra = [np.hstack([f, rng.standard_normal((f.shape[0], 2))]) for f in factors]
    # surplus estimated components are ignored
    assert factor_match_score(factors, extra) == pytest.approx(1.0)
    # a missing component counts as zero
    fewer = [f[:, :2] for f in factors]
    score, matching = factor_match_score(factors, fewer, return_matching=True)
    assert score == pytest.approx(2 / 3)
    assert list(matching) == [0, 1, -1]


def test_fms_weight_penalty():
    A = np.eye(3)[:, :2]
    # same directions, component norms 1 and 1 vs 2 and 1
    est = [A * np.array([2.0, 1.0])]
    assert factor_match_score([A], est) == pytest.approx(1.0)
    # penalty of the first component: 1 - |1 - 2| / 2 = 0.5
    assert factor_match_score([A], est, weight_penalty=True) == pytest.approx(0.75)
    # weights multiply the column norms
    assert factor_match_score(
        [A], [A], estimated_weights=[2.0, 1.0], weight_penalty=True
    ) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="estimated_weights must have shape"):
        factor_match_score([A], [A], estimated_weights=[1.0], weight_penalty=True)


def test_fms_matches_tensorly_congruence():
    tl_metrics = pytest.importorskip("tensorly.metrics.factors")
    rng = np.random.default_rng(3)
    A, B = _random_factors(rng, (8,), 4)[0], _random_factors(rng, (8,), 4)[0]
    expected, _ = tl_metrics.congruence_coefficient(A, B, absolute_value=True)
    assert factor_match_score([A], [B]) == pytest.approx(expected)


def test_fms_zero_column_is_not_nan():
    A = np.eye(3)[:, :2]
    B = A.copy()
    B[:, 1] = 0
    assert factor_match_score([A], [B]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "true, est, match",
    [
        ([np.ones((3, 2))], [np.ones((3, 2)), np.ones((3, 2))], "modes"),
        ([np.ones((3, 2))], [np.ones((4, 2))], "Mode 0 has 3 rows"),
        ([np.ones((3, 2)), np.ones((3, 3))], [np.ones((3, 2))] * 2, "same number"),
        ([np.full((3, 2), np.nan)], [np.ones((3, 2))], "NaN"),
        ([np.ones(3)], [np.ones(3)], "2-D"),
    ],
)
def test_fms_bad_input(true, est, match):
    with pytest.raises(ValueError, match=match):
        factor_match_score(true, est)


# ------------------------------------------------------------------- regimes
def test_regime_accuracy_hand_computed():
    assert regime_accuracy([0, 0, 1, 1, 2], [2, 2, 0, 0, 0]) == pytest.approx(0.8)
    assert regime_accuracy(["a", "b"], [1, 0]) == 1.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5))
def test_regime_accuracy_permutation_invariant(seed, K):
    rng = np.random.default_rng(seed)
    true = rng.integers(K, size=50)
    pred = np.where(rng.random(50) < 0.7, true, rng.integers(K, size=50))
    perm = rng.permutation(K)
    acc = regime_accuracy(true, pred)
    assert acc == pytest.approx(regime_accuracy(true, perm[pred]))
    assert acc == pytest.approx(regime_accuracy(perm[true], pred))
    assert regime_accuracy(true, perm[true]) == 1.0
    # never below the unmatched accuracy
    assert acc >= np.mean(true == pred) - 1e-12


def test_match_regimes():
    assert match_regimes([0, 0, 1, 2], [5, 5, 3, 4]) == {3: 1, 4: 2, 5: 0}
    # more predicted regimes than true: the small one is left out
    assert match_regimes([0, 0, 1, 1], [0, 0, 1, 2]) in ({0: 0, 1: 1}, {0: 0, 2: 1})
    with pytest.raises(ValueError, match="same length"):
        match_regimes([0, 1], [0])


def test_regime_parameter_error():
    theta = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    perm = np.array([2, 0, 1])
    assert regime_parameter_error(theta, theta[perm]) == pytest.approx(0.0)
    # by labels: predicted regime k <-> true regime perm[k]
    labels_true = np.array([0, 1, 2, 2])
    inverse = np.argsort(perm)
    labels_pred = inverse[labels_true]
    assert regime_parameter_error(
        theta, theta[perm], labels_true=labels_true, labels_pred=labels_pred
    ) == pytest.approx(0.0)
    # hand computed relative error
    noisy = theta + np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    assert regime_parameter_error(theta, noisy) == pytest.approx(
        5.0 / np.linalg.norm(theta)
    )
    with pytest.raises(ValueError, match="same shape"):
        regime_parameter_error(theta, theta[:2])
    with pytest.raises(ValueError, match="both"):
        regime_parameter_error(theta, theta, labels_true=labels_true)


def test_regime_parameter_error_by_labels_with_missing_regime():
    theta = np.array([[1.0], [2.0], [3.0]])
    # true regime 2 never appears: the leftover predicted regime pairs with it
    err = regime_parameter_error(theta, theta, labels_true=[0, 1], labels_pred=[0, 1])
    assert err == 0.0
