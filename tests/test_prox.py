"""The operators of skfactor.prox are proximal operators.

Each is checked against a numerical solve of its defining problem
(cvxpy), through Moreau's identity where the conjugate's proximal operator is
known, and for the properties every proximal operator has (firm
non-expansiveness; projections are idempotent).
"""

import functools
import pickle
import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import brentq

from skfactor import prox
from skfactor.prox import (
    PROX_NAMES,
    ComposedProx,
    compose,
    get_prox,
    penalty_value,
    prox_box,
    prox_group_l2,
    prox_identity,
    prox_l1,
    prox_l2_ball,
    prox_max_entropy,
    prox_nonnegative,
    prox_nonnegative_l1,
    prox_simplex,
)

P = functools.partial

# ---------------------------------------------------------------------------
# cvxpy models of the functions: (penalty expression, constraints) of x


def _rows(x, axis):
    """Slices of the cvxpy matrix variable along ``axis`` (None: all of x)."""
    if axis is None:
        return [cp.vec(x, order="C")]
    if axis in (-1, 1):
        return [x[i, :] for i in range(x.shape[0])]
    return [x[:, j] for j in range(x.shape[1])]


def _model(name, params):
    def build(x):
        alpha = params.get("alpha", 1.0)
        axis = params.get("axis", -1)
        if name == "identity":
            return 0, []
        if name == "nonnegative":
            return 0, [x >= 0]
        if name == "box":
            return 0, [x >= params["lower"], x <= params["upper"]]
        if name == "l1":
            return alpha * cp.sum(cp.abs(x)), []
        if name == "nonnegative_l1":
            return alpha * cp.sum(x), [x >= 0]
        if name == "l2_ball":
            return 0, [cp.norm(r, 2) <= params["radius"] for r in _rows(x, axis)]
        if name == "group_l2":
            return alpha * sum(cp.norm(r, 2) for r in _rows(x, axis)), []
        if name == "simplex":
            rows = _rows(x, axis)
            return 0, [x >= 0] + [cp.sum(r) == params["total"] for r in rows]
        if name == "max_entropy":
            return -alpha * cp.sum(cp.entr(x)), []
        raise AssertionError(name)

    return build


# (operator, list of (name, params) whose sum it is the prox of)
CASES = {
    "identity": (prox_identity, [("identity", {})]),
    "nonnegative": (prox_nonnegative, [("nonnegative", {})]),
    "box": (P(prox_box, lower=-0.5, upper=0.7), [("box", dict(lower=-0.5, upper=0.7))]),
    "l1": (P(prox_l1, alpha=0.7), [("l1", dict(alpha=0.7))]),
    "nonnegative_l1": (
        P(prox_nonnegative_l1, alpha=0.7),
        [("nonnegative_l1", dict(alpha=0.7))],
    ),
    "l2_ball_rows": (P(prox_l2_ball, radius=0.8), [("l2_ball", dict(radius=0.8))]),
    "l2_ball_columns": (
        P(prox_l2_ball, radius=0.8, axis=0),
        [("l2_ball", dict(radius=0.8, axis=0))],
    ),
    "l2_ball_all": (
        P(prox_l2_ball, radius=1.5, axis=None),
        [("l2_ball", dict(radius=1.5, axis=None))],
    ),
    "group_l2_rows": (P(prox_group_l2, alpha=0.6), [("group_l2", dict(alpha=0.6))]),
    "group_l2_columns": (
        P(prox_group_l2, alpha=0.6, axis=0),
        [("group_l2", dict(alpha=0.6, axis=0))],
    ),
    "group_l2_all": (
        P(prox_group_l2, alpha=2.0, axis=None),
        [("group_l2", dict(alpha=2.0, axis=None))],
    ),
    "simplex_rows": (prox_simplex, [("simplex", dict(total=1.0))]),
    "simplex_columns": (
        P(prox_simplex, total=2.0, axis=0),
        [("simplex", dict(total=2.0, axis=0))],
    ),
    "simplex_all": (
        P(prox_simplex, total=3.0, axis=None),
        [("simplex", dict(total=3.0, axis=None))],
    ),
    "max_entropy": (P(prox_max_entropy, alpha=0.4), [("max_entropy", dict(alpha=0.4))]),
    "nonnegative o l1": (
        compose(prox_nonnegative, P(prox_l1, alpha=0.5)),
        [("nonnegative", {}), ("l1", dict(alpha=0.5))],
    ),
    "nonnegative o max_entropy": (
        compose(prox_nonnegative, P(prox_max_entropy, alpha=0.3)),
        [("nonnegative", {}), ("max_entropy", dict(alpha=0.3))],
    ),
    "box o l1": (
        compose(P(prox_box, lower=-0.4, upper=0.3), P(prox_l1, alpha=0.5)),
        [("box", dict(lower=-0.4, upper=0.3)), ("l1", dict(alpha=0.5))],
    ),
    "box o nonnegative_l1": (
        compose(P(prox_box, lower=-0.4, upper=0.3), P(prox_nonnegative_l1, alpha=0.2)),
        [("box", dict(lower=-0.4, upper=0.3)), ("nonnegative_l1", dict(alpha=0.2))],
    ),
    "box o max_entropy": (
        compose(P(prox_box, lower=0.1, upper=0.5), P(prox_max_entropy, alpha=0.3)),
        [("box", dict(lower=0.1, upper=0.5)), ("max_entropy", dict(alpha=0.3))],
    ),
    "l1 o nonnegative": (
        compose(P(prox_l1, alpha=0.5), prox_nonnegative),
        [("nonnegative", {}), ("l1", dict(alpha=0.5))],
    ),
    "nonnegative_l1 o nonnegative": (
        compose(P(prox_nonnegative_l1, alpha=0.5), prox_nonnegative),
        [("nonnegative_l1", dict(alpha=0.5))],
    ),
    "group_l2 o nonnegative": (
        compose(P(prox_group_l2, alpha=0.5, axis=0), prox_nonnegative),
        [("nonnegative", {}), ("group_l2", dict(alpha=0.5, axis=0))],
    ),
    "l2_ball o nonnegative": (
        compose(P(prox_l2_ball, radius=0.5), prox_nonnegative),
        [("nonnegative", {}), ("l2_ball", dict(radius=0.5))],
    ),
    "l2_ball o group_l2": (
        compose(
            P(prox_l2_ball, radius=0.5, axis=0), P(prox_group_l2, alpha=0.3, axis=0)
        ),
        [("l2_ball", dict(radius=0.5, axis=0)), ("group_l2", dict(alpha=0.3, axis=0))],
    ),
}


def _solve(parts, V, step):
    """argmin_x step * sum(penalties) + 1/2 ||x - V||^2 s.t. constraints, by cvxpy."""
    x = cp.Variable(V.shape)
    penalty, constraints = 0, []
    for name, params in parts:
        p, c = _model(name, params)(x)
        penalty = penalty + p
        constraints += c
    objective = step * penalty + 0.5 * cp.sum_squares(x - V)
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    assert problem.status == cp.OPTIMAL, problem.status
    return x.value


def _objective(parts, X, V, step):
    return step * sum(
        penalty_value(get_prox(n, **p), X) for n, p in parts
    ) + 0.5 * np.sum((X - V) ** 2)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_numerical_solve(case, seed):
    """The operator's output is the minimizer found by a conic solver."""
    operator, parts = CASES[case]
    rng = np.random.default_rng(seed)
    V = rng.normal(scale=1.0, size=(4, 5))
    step = rng.uniform(0.3, 2.0)
    X = operator(V, step)
    X_ref = _solve(parts, V, step)
    np.testing.assert_allclose(X, X_ref, atol=2e-5)
    # at least as good as the numerical solution (and feasible: the solver's
    # model includes every constraint, so matching it checks feasibility too)
    assert _objective(parts, X, V, step) <= _objective(parts, X_ref, V, step) + 1e-8


# ---------------------------------------------------------------------------
# Moreau's identity: V = prox_{t f}(V) + t prox_{f* / t}(V / t)

finite_matrices = arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(1, 5)),
    elements=st.floats(-50, 50, allow_nan=False, allow_infinity=False),
)
steps = st.floats(1e-3, 1e3)
weights = st.floats(1e-3, 10)
axes = st.sampled_from([-1, 0, None])


def _moreau_residual(operator, conjugate, V, t):
    return operator(V, t) + t * conjugate(V / t, 1 / t) - V


@settings(max_examples=50, deadline=None)
@given(V=finite_matrices, t=steps, alpha=weights)
def test_moreau_l1_and_box(V, t, alpha):
    """(alpha ||.||_1)* is the indicator of the l-inf ball of radius alpha."""
    residual = _moreau_residual(
        P(prox_l1, alpha=alpha), P(prox_box, lower=-alpha, upper=alpha), V, t
    )
    np.testing.assert_allclose(residual, 0, atol=1e-9 * (1 + np.abs(V).max()))


@settings(max_examples=50, deadline=None)
@given(V=finite_matrices, t=steps, alpha=weights, axis=axes)
def test_moreau_group_l2_and_l2_ball(V, t, alpha, axis):
    """(alpha sum_g ||x_g||)* is the indicator of the product of l2 balls."""
    group = P(prox_group_l2, alpha=alpha, axis=axis)
    ball = P(prox_l2_ball, radius=alpha, axis=axis)
    scale = 1 + np.abs(V).max()
    np.testing.assert_allclose(
        _moreau_residual(group, ball, V, t), 0, atol=1e-9 * scale
    )
    # and the other way round: the ball's conjugate is the support function
    np.testing.assert_allclose(
        _moreau_residual(ball, group, V, t), 0, atol=1e-9 * scale
    )


@settings(max_examples=30, deadline=None)
@given(V=finite_matrices, t=steps)
def test_moreau_nonnegative_and_nonpositive(V, t):
    """The conjugate of the orthant's indicator is the polar cone's indicator."""
    nonpositive = P(prox_box, lower=-np.inf, upper=0.0)
    residual = _moreau_residual(prox_nonnegative, nonpositive, V, t)
    np.testing.assert_allclose(residual, 0, atol=1e-12 * (1 + np.abs(V).max()))


@pytest.mark.parametrize("alpha", [0.3, 2.0])
@pytest.mark.parametrize("t", [0.1, 1.0, 7.0])
def test_moreau_max_entropy(alpha, t):
    """f(x) = alpha x log x has conjugate f*(y) = alpha exp(y / alpha - 1).

    The conjugate's proximal operator w = prox_{f*/t}(v/t) solves the scalar
    equation exp(w / alpha - 1) / t + w - v / t = 0, found here by bisection.
    """
    V = np.linspace(-6, 6, 25)
    X = prox_max_entropy(V, t, alpha=alpha)
    W = np.array(
        [
            brentq(
                lambda w, u=u: np.exp(w / alpha - 1) / t + w - u / t,
                -100,
                100,
                xtol=1e-14,
            )
            for u in V
        ]
    )
    np.testing.assert_allclose(X + t * W, V, atol=1e-9)


@pytest.mark.parametrize("axis", [-1, 0])
def test_moreau_simplex_and_max(axis):
    """The simplex's indicator has conjugate max_j y_j (its support function)."""
    rng = np.random.default_rng(3)
    V, t = rng.normal(size=(3, 4)), 0.7
    X = prox_simplex(V, t, axis=axis)
    w = cp.Variable(V.shape)
    slices = _rows(w, axis)
    targets = _rows(cp.Constant(V / t), axis)
    problem = cp.Problem(
        cp.Minimize(
            sum(
                cp.max(s) / t + 0.5 * cp.sum_squares(s - u)
                for s, u in zip(slices, targets)
            )
        )
    )
    problem.solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(X + t * w.value, V, atol=1e-6)


# ---------------------------------------------------------------------------
# properties of all proximal operators

ALL_OPERATORS = {name: op for name, (op, _) in CASES.items()}
PROJECTIONS = {
    name: op
    for name, op in ALL_OPERATORS.items()
    if all(
        penalty_value(get_prox(n, **p), np.full((2, 2), 0.5)) == 0
        for n, p in CASES[name][1]
    )
    and not name.startswith("identity")
}


def test_projection_list_is_complete():
    assert set(PROJECTIONS) == {
        "nonnegative",
        "box",
        "l2_ball_rows",
        "l2_ball_columns",
        "l2_ball_all",
        "simplex_rows",
        "simplex_columns",
        "simplex_all",
        "l2_ball o nonnegative",
    }


pairs_of_matrices = st.tuples(st.integers(1, 4), st.integers(1, 5)).flatmap(
    lambda shape: st.tuples(
        *(
            arrays(np.float64, shape, elements=st.floats(-20, 20, allow_nan=False))
            for _ in range(2)
        )
    )
)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(PROJECTIONS)), pair=pairs_of_matrices, t=steps)
def test_projections_idempotent_and_nonexpansive(name, pair, t):
    project = PROJECTIONS[name]
    U, V = pair
    PU, PV = project(U, t), project(V, t)
    np.testing.assert_allclose(project(PU, t), PU, atol=1e-12 * (1 + np.abs(PU).max()))
    assert np.linalg.norm(PU - PV) <= np.linalg.norm(U - V) * (1 + 1e-12) + 1e-12
    # a projection does not depend on the step
    np.testing.assert_array_equal(project(U, 2 * t), PU)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(ALL_OPERATORS)), pair=pairs_of_matrices, t=steps)
def test_firmly_nonexpansive(name, pair, t):
    """||P(u) - P(v)||^2 <= <P(u) - P(v), u - v>: holds for every prox."""
    operator = ALL_OPERATORS[name]
    U, V = pair
    D = operator(U, t) - operator(V, t)
    scale = 1e-10 * (1 + np.sum(U**2) + np.sum(V**2))
    assert np.sum(D * D) <= np.sum(D * (U - V)) + scale


@settings(max_examples=40, deadline=None)
@given(V=finite_matrices, axis=axes, total=st.floats(0.01, 100))
def test_simplex_output_is_on_the_simplex(V, axis, total):
    X = prox_simplex(V, 1.0, total=total, axis=axis)
    assert np.all(X >= 0)
    sums = X.sum() if axis is None else X.sum(axis=axis)
    np.testing.assert_allclose(sums, total, rtol=1e-10)


@pytest.mark.parametrize("name", list(CASES))
def test_input_not_modified_and_new_array(name):
    operator = ALL_OPERATORS[name]
    V = np.random.default_rng(0).normal(size=(3, 4))
    V_copy = V.copy()
    X = operator(V, 0.5)
    np.testing.assert_array_equal(V, V_copy)
    assert X is not V and not np.shares_memory(X, V)
    assert X.shape == V.shape


@pytest.mark.parametrize("name", list(CASES))
def test_dtypes(name):
    operator = ALL_OPERATORS[name]
    V = np.random.default_rng(0).normal(size=(3, 4))
    assert operator(V.astype(np.float32), 0.5).dtype == np.float32
    assert operator((V > 0).astype(int), 0.5).dtype == np.float64
    with pytest.raises(TypeError, match="real arrays"):
        operator(V + 1j, 0.5)


@pytest.mark.parametrize("name", PROX_NAMES)
def test_every_name_has_an_operator(name):
    operator = get_prox(name)
    assert operator is getattr(prox, f"prox_{name}")
    assert operator.__name__ in prox.__all__
    assert ".. math::" in operator.__doc__
    assert penalty_value(operator, np.full((2, 2), 0.5)) is not None


def test_penalty_values():
    X = np.array([[1.0, -2.0], [0.0, 2.0]])
    assert penalty_value(P(prox_l1, alpha=0.5), X) == 2.5
    assert penalty_value(P(prox_nonnegative_l1, alpha=2.0), np.abs(X)) == 10.0
    assert penalty_value(P(prox_group_l2, alpha=1.0, axis=0), X) == pytest.approx(
        1 + np.sqrt(8)
    )
    assert penalty_value(P(prox_group_l2, axis=None), X) == pytest.approx(3.0)
    assert penalty_value(P(prox_max_entropy, alpha=2.0), np.abs(X)) == pytest.approx(
        2 * (2 * 2 * np.log(2))
    )
    for projection in (prox_nonnegative, prox_simplex, prox_l2_ball, prox_box):
        assert penalty_value(projection, X) == 0.0
    composed = compose(prox_nonnegative, P(prox_l1, alpha=3.0))
    assert penalty_value(composed, np.abs(X)) == composed.penalty(np.abs(X)) == 15.0

    def custom(X, step):
        return X

    assert penalty_value(custom, X) is None
    custom.penalty = lambda X: 42.0
    assert penalty_value(custom, X) == 42.0


def test_step_zero_is_projection_onto_the_domain():
    V = np.array([[-1.0, 0.5, 2.0]])
    for operator in (prox_identity, P(prox_l1, alpha=5.0), P(prox_group_l2, alpha=5.0)):
        np.testing.assert_array_equal(operator(V, 0.0), V)
    np.testing.assert_array_equal(prox_nonnegative_l1(V, 0.0), [[0.0, 0.5, 2.0]])
    np.testing.assert_array_equal(prox_max_entropy(V, 0.0), [[0.0, 0.5, 2.0]])


def test_max_entropy_extreme_values_stay_finite():
    V = np.array([-1e300, -1e6, -1.0, 0.0, 1e-300, 1.0, 1e6, 1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for gamma in (1e-300, 1e-8, 1.0, 1e8, 1e300):
            X = prox_max_entropy(V, gamma)
            assert np.all(np.isfinite(X)) and np.all(X >= 0)
            # monotone in V (prox of a convex function of one variable)
            assert np.all(np.diff(X) >= 0)
    np.testing.assert_allclose(prox_max_entropy(V, 1e-300)[-2:], V[-2:])


def test_simplex_handles_ties_and_empty():
    np.testing.assert_allclose(prox_simplex(np.ones((2, 4)), 1.0), 0.25)
    np.testing.assert_allclose(
        prox_simplex(np.zeros(3), 1.0, total=3.0), [1.0, 1.0, 1.0]
    )
    assert prox_simplex(np.empty((0, 3)), 1.0).shape == (0, 3)
    assert prox_simplex(np.empty((2, 0)), 1.0, axis=0).shape == (2, 0)


def test_simplex_differs_from_dividing_by_the_sum():
    """The seed normalizes by X / X.sum(): not a proximal operator."""
    u, v = np.array([1e-3, 0.0]), np.array([0.0, 1e-3])
    divided = [x / x.sum() for x in (u, v)]
    # dividing by the sum expands distances (1.41 vs 0.0014) ...
    assert np.linalg.norm(divided[0] - divided[1]) > 1000 * np.linalg.norm(u - v)
    # ... the projection does not
    assert np.linalg.norm(
        prox_simplex(u, 1.0) - prox_simplex(v, 1.0)
    ) <= np.linalg.norm(u - v)


# ---------------------------------------------------------------------------
# errors


def test_bad_parameters():
    V = np.ones((2, 2))
    with pytest.raises(ValueError, match="step must be finite and nonnegative"):
        prox_l1(V, -1.0)
    with pytest.raises(ValueError, match="step must be finite"):
        prox_nonnegative(V, np.nan)
    with pytest.raises(TypeError, match="step must be a real number"):
        prox_l1(V, "1")
    with pytest.raises(ValueError, match="alpha must be finite and nonnegative"):
        prox_l1(V, 1.0, alpha=-1.0)
    with pytest.raises(ValueError, match="radius must be positive"):
        prox_l2_ball(V, 1.0, radius=0.0)
    with pytest.raises(ValueError, match="total must be positive"):
        prox_simplex(V, 1.0, total=-2.0)
    with pytest.raises(ValueError, match="lower <= upper"):
        prox_box(V, 1.0, lower=1.0, upper=0.0)
    with pytest.raises(ValueError, match="do not broadcast"):
        prox_box(V, 1.0, lower=np.zeros(3))
    with pytest.raises(ValueError, match="out of bounds"):
        prox_group_l2(V, 1.0, axis=2)
    with pytest.raises(TypeError, match="numeric arrays"):
        prox_nonnegative(np.array([["a"]], dtype=object), 1.0)


def test_get_prox_errors_list_valid_names():
    with pytest.raises(ValueError, match="'box', 'group_l2', .*'simplex'"):
        get_prox("sparse")
    with pytest.raises(TypeError, match="prox_simplex has no parameter 'alpha'"):
        get_prox("simplex", alpha=1.0)
    assert get_prox("l1", alpha=2.0).keywords == {"alpha": 2.0}


def test_compose_rejects_inexact_pairs():
    with pytest.raises(ValueError, match="is not the proximal operator of the sum"):
        compose(prox_simplex, prox_l1)
    with pytest.raises(ValueError, match="is not the proximal operator of the sum"):
        # the orthant after group thresholding is not exact (the reverse is)
        compose(prox_nonnegative, prox_group_l2)
    with pytest.raises(ValueError, match="same axis"):
        compose(P(prox_l2_ball, axis=0), prox_group_l2)
    with pytest.raises(ValueError, match="upper >= 0"):
        compose(P(prox_box, lower=-2.0, upper=-1.0), prox_max_entropy)
    with pytest.raises(ValueError, match="only combines operators of skfactor.prox"):
        compose(prox_nonnegative, lambda X, step: X)


def test_inexact_composition_really_is_inexact():
    """Why compose refuses the orthant after group thresholding."""
    V = np.array([[2.0, -3.0]])
    wrong = prox_nonnegative(prox_group_l2(V, 1.0, alpha=1.0), 1.0)
    right = prox_group_l2(prox_nonnegative(V, 1.0), 1.0, alpha=1.0)
    expected = _solve([("nonnegative", {}), ("group_l2", dict(alpha=1.0))], V, 1.0)
    np.testing.assert_allclose(right, expected, atol=1e-6)
    assert np.abs(wrong - expected).max() > 0.1


def test_composed_prox_is_picklable_and_readable():
    op = compose(prox_nonnegative, P(prox_l1, alpha=0.5))
    clone = pickle.loads(pickle.dumps(op))
    V = np.array([[1.0, -1.0, 0.2]])
    np.testing.assert_array_equal(clone(V, 1.0), op(V, 1.0))
    assert clone == op and hash(clone) == hash(op)
    assert repr(op) == "compose(prox_nonnegative, prox_l1(alpha=0.5))"
    assert isinstance(compose(prox_identity, prox_simplex), ComposedProx)
