from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from _oracles import balance_factors

from skfactor._balance import (
    frobenius_optimal_initial_scale,
    frobenius_scale_fit,
    kl_optimal_initial_scale,
    kl_scale_fit,
    optimal_initial_scale,
    optimal_scales,
    penalty_degree,
    penalty_values,
)
from skfactor.utils._roots import positive_real_roots

PENALTIES = st.sampled_from(["l1", "l2", 1.5])


def _total_penalty(factors, mu, penalties):
    return sum(
        m * penalty_values(f, p).sum() for f, m, p in zip(factors, mu, penalties)
    )


def _cp_tensor(factors):
    """Dense product of the rank-one components (matrix or 3-way tensor)."""
    letters = "abcdefg"[: len(factors)]
    spec = ",".join(f"{c}r" for c in letters) + "->" + letters
    return np.einsum(spec, *factors)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_factors=st.integers(2, 4),
    rank=st.integers(1, 4),
    penalties=st.lists(PENALTIES, min_size=4, max_size=4),
)
def test_balancing_invariants(seed, n_factors, rank, penalties):
    rng = np.random.default_rng(seed)
    penalties = penalties[:n_factors]
    factors = [
        rng.uniform(0.01, 3, size=(rng.integers(2, 5), rank)) for _ in range(n_factors)
    ]
    factors = [f * rng.lognormal(0, 2, size=rank) for f in factors]
    mu = rng.uniform(0.05, 5, size=n_factors)
    copies = [f.copy() for f in factors]
    balanced, scales = balance_factors(factors, mu, penalties)
    # inputs are not modified
    for f, c in zip(factors, copies):
        np.testing.assert_array_equal(f, c)
    # product of scales is one per component
    np.testing.assert_allclose(np.prod(scales, axis=0), 1.0, rtol=1e-12)
    # the model (hence any scale-invariant fit term) is unchanged
    np.testing.assert_allclose(_cp_tensor(balanced), _cp_tensor(factors), rtol=1e-10)
    # the penalty never increases
    before = _total_penalty(factors, mu, penalties)
    after = _total_penalty(balanced, mu, penalties)
    assert after <= before * (1 + 1e-12)
    # balanced: p_i * mu_i * g_i(column) is the same for every factor
    degrees = np.array([penalty_degree(p) for p in penalties])
    pa = (
        degrees[:, None]
        * mu[:, None]
        * np.array([penalty_values(f, p) for f, p in zip(balanced, penalties)])
    )
    np.testing.assert_allclose(pa, np.broadcast_to(pa[:1], pa.shape), rtol=1e-9)
    # balancing twice changes nothing
    again, scales2 = balance_factors(balanced, mu, penalties)
    np.testing.assert_allclose(scales2, 1.0, rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    degrees=st.lists(st.sampled_from([1.0, 2.0, 0.5, 3.0]), min_size=2, max_size=4),
)
def test_optimal_scales_match_numerical_minimization(seed, degrees):
    rng = np.random.default_rng(seed)
    degrees = np.array(degrees)
    a = rng.lognormal(0, 1.5, size=(degrees.size, 1))
    scales = optimal_scales(a, degrees)[:, 0]

    # numerical solve in log-scales, with the last one eliminated by the
    # product constraint
    def objective(t):
        log_lam = np.append(t, -t.sum())
        return np.sum(np.exp(degrees * log_lam) * a[:, 0])

    result = minimize(objective, np.zeros(degrees.size - 1), method="BFGS", tol=1e-14)
    numeric = np.exp(np.append(result.x, -result.x.sum()))
    assert objective(np.log(scales[:-1])) <= result.fun * (1 + 1e-9)
    np.testing.assert_allclose(scales, numeric, rtol=1e-4)


def test_optimal_scales_hand_computed():
    # two l1 factors: scales sqrt(a2/a1), sqrt(a1/a2) (the seed's eq. 28-29)
    a = np.array([[4.0], [1.0]])
    np.testing.assert_allclose(optimal_scales(a, [1, 1])[:, 0], [0.5, 2.0])
    # l2 + l2: lambda^2 a equal -> (a2/a1)^(1/4)
    np.testing.assert_allclose(optimal_scales(a, [2, 2])[:, 0], [0.5**0.5, 2**0.5])


def test_unpenalized_or_zero_components_left_alone():
    a = np.array([[0.0, 4.0, 0.0], [3.0, 1.0, 0.0]])
    scales = optimal_scales(a, [1.0, 2.0])
    np.testing.assert_array_equal(scales[:, 0], 1.0)
    np.testing.assert_array_equal(scales[:, 2], 1.0)
    assert scales[0, 1] != 1.0
    factors = [np.zeros((2, 1)), np.ones((3, 1))]
    balanced, _ = balance_factors(factors, [1.0, 1.0], ["l1", "l1"])
    assert np.all(np.isfinite(balanced[0])) and np.all(np.isfinite(balanced[1]))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: optimal_scales(np.ones((2, 1)), [1.0]), "shape"),
        (lambda: optimal_scales(-np.ones((2, 1)), [1.0, 1.0]), "nonnegative"),
        (lambda: optimal_scales(np.ones((2, 1)), [1.0, 0.0]), "positive"),
        (lambda: penalty_degree("l3"), "Unknown penalty"),
        (lambda: penalty_degree(-1), "positive"),
        (lambda: balance_factors([np.ones((2, 1))], [1.0, 1.0], ["l1"]), "must match"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_ridge_toy_problem_of_the_seed():
    """Eq. 21: min (y - x1 x2)^2 + lam (x1^2 + x2^2) has balanced solutions."""
    y, lam = 10.0, 1e-3
    x1, x2 = 5.0, 1.0  # unbalanced product 5
    (b1, b2), _ = balance_factors(
        [np.array([[x1]]), np.array([[x2]])], [lam, lam], ["l2", "l2"]
    )
    assert b1[0, 0] == pytest.approx(b2[0, 0]) == pytest.approx(np.sqrt(5.0))

    def objective(a, b):
        return (y - a * b) ** 2 + lam * (a**2 + b**2)

    # the fit term is unchanged (same product), the penalty strictly lower
    assert b1[0, 0] * b2[0, 0] == pytest.approx(x1 * x2)
    assert objective(b1[0, 0], b2[0, 0]) < objective(x1, x2)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), loss=st.sampled_from(["frobenius", "kl"]))
def test_optimal_initial_scale_matches_brute_force(seed, loss):
    rng = np.random.default_rng(seed)
    Y = rng.uniform(0, 5, size=(6, 5))
    W, H = (
        rng.uniform(0, 1, size=(6, 2)),
        rng.uniform(0, 1, size=(2, 5)) * rng.lognormal(0, 2),
    )
    M = W @ H
    mu = rng.uniform(0, 2, size=2)
    penalties = ["l1", "l2"]
    totals = mu * np.array(
        [penalty_values(W, "l1").sum(), penalty_values(H.T, "l2").sum()]
    )
    degrees = [1.0, 2.0]
    # full objectives, vectorized over an array of scales eta
    if loss == "frobenius":
        fit = frobenius_scale_fit(np.sum(Y**2), np.sum(Y * M), np.sum(M**2))

        def full(eta):
            eta = np.asarray(eta, dtype=float)[..., None, None]
            return np.sum((Y - eta**2 * M) ** 2, axis=(-2, -1))
    else:
        fit = kl_scale_fit(Y.sum(), M.sum())

        def full(eta):
            T = np.asarray(eta, dtype=float)[..., None, None] ** 2 * M
            return np.sum(Y * np.log(Y / T) - Y + T, axis=(-2, -1))

    def objective(eta):
        eta = np.asarray(eta)
        return full(eta) + sum(t * eta**p for t, p in zip(totals, degrees))

    eta = optimal_initial_scale(fit, totals, degrees)
    grid = np.exp(np.linspace(-8, 8, 20001))
    brute = objective(grid).min()
    assert objective(eta) <= brute + 1e-9 * abs(brute) + 1e-12
    assert penalties  # both penalty kinds exercised


def test_initial_scale_unpenalized_frobenius_is_least_squares():
    # without penalty, eta^2 = <Y, M> / ||M||^2 for two factors
    fit = frobenius_scale_fit(10.0, 3.0, 2.0)
    eta = optimal_initial_scale(fit, [0.0, 0.0], [2.0, 2.0])
    assert eta**2 == pytest.approx(1.5, rel=1e-8)


@pytest.mark.parametrize(
    "degrees",
    [[1.0], [2.0], [1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [1.0, 1.0, 2.0], [1.5, 1.0]],
)
@pytest.mark.parametrize("seed", range(5))
def test_kl_initial_scale_closed_form_is_the_global_minimizer(degrees, seed):
    """The closed form (one or two factors of degree 1 or 2) and its fallback
    (other cases) minimize the scaled KL objective: compared with the grid
    search of optimal_initial_scale and with the stationarity condition."""
    rng = np.random.default_rng(seed)
    data_sum, model_sum = rng.lognormal(3, 2), rng.lognormal(0, 2)
    size = len(degrees)
    totals = rng.lognormal(0, 2, size=size) * (rng.uniform(size=size) > 0.3)
    eta = kl_optimal_initial_scale(data_sum, model_sum, totals, degrees)
    fit = kl_scale_fit(data_sum, model_sum)
    n = len(degrees)

    def objective(e):
        return fit(e**n) + sum(t * e**p for t, p in zip(totals, degrees))

    searched = optimal_initial_scale(fit, totals, degrees)
    # a numerical minimizer locates a minimum only to ~sqrt(machine epsilon)
    assert eta == pytest.approx(searched, rel=1e-6)
    assert objective(eta) <= objective(searched) + 1e-12 * abs(objective(searched))
    # stationarity: n eta^n sum(M) + sum p A eta^p = n sum(Y)
    # (to rounding in closed form; the fallback search is accurate to ~1e-8)
    closed_form = n <= 2 and set(degrees) <= {1.0, 2.0}
    lhs = n * eta**n * model_sum + sum(p * t * eta**p for t, p in zip(totals, degrees))
    assert lhs == pytest.approx(n * data_sum, rel=1e-12 if closed_form else 1e-6)


def test_kl_initial_scale_without_data_falls_back_to_the_search():
    assert kl_optimal_initial_scale(0.0, 2.0, [1.0, 1.0], [1, 1]) == pytest.approx(
        optimal_initial_scale(kl_scale_fit(0.0, 2.0), [1.0, 1.0], [1, 1])
    )


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    degrees=st.lists(st.sampled_from([1.0, 2.0]), min_size=1, max_size=4),
    fit_weight=st.sampled_from([0.5, 1.0]),
)
def test_frobenius_initial_scale_from_roots_is_the_global_minimizer(
    seed, degrees, fit_weight
):
    """The best positive root of the stationarity polynomial is at least as
    good as the grid search of optimal_initial_scale, over data whose
    objective may have two local minima (a negative inner product, heavy
    penalties) or its infimum at eta -> 0; where the minimizer is interior,
    eta solves the stationarity condition."""
    rng = np.random.default_rng(seed)
    n = len(degrees)
    data_sq, model_sq = rng.lognormal(2, 2), rng.lognormal(0, 2)
    inner = rng.uniform(-0.3, 1.0) * np.sqrt(data_sq * model_sq)
    totals = rng.lognormal(0, 2, size=n) * (rng.uniform(size=n) > 0.3)
    eta = frobenius_optimal_initial_scale(
        data_sq, inner, model_sq, totals, degrees, fit_weight=fit_weight
    )
    fit = frobenius_scale_fit(data_sq, inner, model_sq)

    def objective(e):
        return fit_weight * fit(e**n) + sum(t * e**p for t, p in zip(totals, degrees))

    searched = optimal_initial_scale(lambda t: fit_weight * fit(t), totals, degrees)
    scale = abs(objective(searched)) + fit_weight * data_sq
    assert objective(eta) <= objective(searched) + 1e-12 * scale
    if eta > 1e-10:
        gradient = fit_weight * (
            -2 * n * inner * eta**n + 2 * n * model_sq * eta ** (2 * n)
        ) + sum(p * t * eta**p for t, p in zip(totals, degrees))
        magnitude = (
            fit_weight * 2 * n * (abs(inner) * eta**n + model_sq * eta ** (2 * n))
        )
        penalties = sum(t * eta**p for t, p in zip(totals, degrees))
        assert abs(gradient) <= 1e-8 * (magnitude + penalties)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    degree=st.integers(1, 5),
    spread=st.sampled_from([0.0, 2.0, 4.0]),
    no_square=st.booleans(),
)
def test_positive_real_roots_match_the_companion_matrix(
    seed, degree, spread, no_square
):
    """The closed forms (degree <= 3, their coefficients spread over orders
    of magnitude) find the positive real roots numpy.roots finds, to 1e-7,
    and what they return are roots: residual at rounding level."""
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=degree + 1) * rng.lognormal(0, spread, size=degree + 1)
    if no_square and degree == 3:  # the cubics of the NMF scaling
        coef[1] = 0.0
    roots = np.roots(coef)
    keep = (np.abs(roots.imag) <= 1e-9 * np.abs(roots)) & (roots.real > 0)
    expected = np.sort(roots.real[keep])
    found = positive_real_roots(coef)
    assert len(found) == expected.size
    np.testing.assert_allclose(found, expected, rtol=1e-7)
    for x in found:
        size = np.polyval(np.abs(coef), abs(x))
        assert abs(np.polyval(coef, x)) <= 1e-10 * size


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**31), degree=st.integers(1, 3))
def test_positive_real_roots_survive_extreme_coefficients(seed, degree):
    """Coefficients from 1e-150 to 1e150 (data of tiny or huge magnitude):
    no overflow error, and every root returned is a root of the polynomial
    or one numpy.roots returns too."""
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=degree + 1) * 10.0 ** rng.uniform(-150, 150, degree + 1)
    found = positive_real_roots(coef)
    with np.errstate(all="ignore"):
        roots = np.roots(coef)
    companion = roots.real[(np.abs(roots.imag) <= 1e-9 * np.abs(roots))]
    for x in found:
        assert np.isfinite(x) and x > 0
        terms = [
            Fraction(float(c)) * Fraction(x) ** (degree - k) for k, c in enumerate(coef)
        ]
        residual = abs(sum(terms)) / sum(abs(t) for t in terms)
        assert residual <= 1e-10 or np.any(np.isclose(companion, x, rtol=1e-12))


def test_positive_real_roots_of_a_double_root():
    """(x - 1)^2 (x - 2): the sign of the discriminant is lost to rounding,
    so numpy.roots answers; the double root counts once or twice."""
    found = positive_real_roots([1.0, -4.0, 5.0, -2.0])
    assert found[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(found[:-1], 1.0, rtol=1e-6)


def test_positive_real_roots_drop_leading_zeros_as_numpy_does():
    assert positive_real_roots([0.0, 0.0, 1.0, -2.0]) == [2.0]
    assert positive_real_roots([0.0, 3.0]) == []


def test_frobenius_initial_scale_falls_back_for_a_zero_model_or_fractional_degrees():
    for args in [(4.0, 0.0, 0.0, [1.0, 1.0], [1, 1]), (4.0, 2.0, 1.0, [0.5], [1.5])]:
        fit = frobenius_scale_fit(*args[:3])
        assert frobenius_optimal_initial_scale(*args) == pytest.approx(
            optimal_initial_scale(lambda t: 0.5 * fit(t), *args[3:])
        )
