"""The solvers behind the switching estimators, each against an oracle.

- F-step: the argmin rule against the LP solved by cvxpy; the barrier Newton
  solver of the KL-smoothed problem against cvxpy's exponential-cone
  formulation, and its cost against the number of samples.
- P-step: the L-BFGS path of the smooth losses against the cvxpy path on the
  same weighted problem, and the error messages of the cvxpy path (the
  closed-form weighted ridge: ``test_weighted_ridge.py``).
"""

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skfactor.switching import _fstep
from skfactor.switching._bcd import (
    bcd_objective,
    reseed_empty,
    run_bcd,
    transition_counts_matrix,
)
from skfactor.switching._fstep import (
    CvxpyFStep,
    fstep_objective,
    hard_assignments,
    kl_chain,
    smoothed_assignments,
)
from skfactor.switching._losses import RegimeLoss
from skfactor.switching._pstep import (
    ClosedFormPStep,
    CvxpyPStep,
    SmoothPStep,
    fit_smooth_linear_model,
    make_pstep,
    smooth_objective,
)
from skfactor.switching._weighted_ridge import (
    weighted_ridge,
)


def _loss_matrix(m, K, scale=1.0, seed=0):
    """Losses with a block regime structure, as the F-step sees them."""
    rng = np.random.default_rng(seed)
    R = scale * rng.exponential(size=(m, K))
    labels = np.repeat(rng.integers(K, size=m // 20 + 1), 20)[:m]
    R[np.arange(m), labels] -= scale
    return R


# ---------------------------------------------------------------------------
# F-step
# ---------------------------------------------------------------------------


def test_hard_assignments_solve_the_unsmoothed_lp():
    R = _loss_matrix(60, 3)
    Z = hard_assignments(R)
    z = cp.Variable(R.shape, nonneg=True)
    lp = cp.Problem(cp.Minimize(cp.sum(cp.multiply(R, z))), [cp.sum(z, axis=1) == 1])
    lp.solve(solver="CLARABEL")
    assert np.allclose(Z.sum(axis=1), 1) and set(np.unique(Z)) <= {0.0, 1.0}
    assert np.isclose(np.sum(R * Z), lp.value, rtol=1e-7)


def test_kl_chain_conventions():
    Z = np.array([[0.5, 0.5], [0.25, 0.75]])
    expected = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)
    assert np.isclose(kl_chain(Z), expected)
    # 0 log(0 / q) = 0, p log(p / 0) = inf.
    assert np.isclose(kl_chain(np.array([[0.0, 1.0], [0.5, 0.5]])), np.log(2.0))
    assert kl_chain(np.array([[0.5, 0.5], [0.0, 1.0]])) == np.inf


@pytest.mark.parametrize(
    "m, K, smoothing, scale",
    [
        (40, 2, 1.0, 1.0),
        (150, 3, 0.5, 5.0),
        (120, 4, 5.0, 1.0),
        (100, 3, 50.0, 1.0),
        (100, 3, 0.01, 1.0),
    ],
)
def test_smoothed_assignments_match_cvxpy(m, K, smoothing, scale):
    R = _loss_matrix(m, K, scale, seed=m + K)
    Z, converged = smoothed_assignments(R, smoothing)
    oracle = CvxpyFStep(m, K, smoothing, solver="CLARABEL").solve(R)
    assert converged
    np.testing.assert_allclose(Z.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(Z > 0)
    f, f_oracle = (
        fstep_objective(R, Z, smoothing),
        fstep_objective(R, oracle, smoothing),
    )
    # Never worse than the interior-point oracle (up to its own accuracy) ...
    assert f <= f_oracle + 1e-7 * max(1.0, abs(f_oracle))
    # ... and the same solution (the problem is strictly convex on the
    # relevant face).
    np.testing.assert_allclose(Z, oracle, atol=1e-4)


def test_smoothed_assignments_interpolate_between_argmin_and_constant():
    R = _loss_matrix(80, 3, seed=3)
    weak, _ = smoothed_assignments(R, 1e-3)
    np.testing.assert_allclose(weak, hard_assignments(R), atol=2e-2)
    strong, _ = smoothed_assignments(R, 1e4)
    # A huge smoothing makes z nearly constant in time.
    assert np.abs(np.diff(strong, axis=0)).max() < 1e-2

    # Smoothing never increases the number of regime switches.
    def switches(Z):
        return np.count_nonzero(np.diff(Z.argmax(axis=1)))

    mid, _ = smoothed_assignments(R, 2.0)
    assert switches(strong) <= switches(mid) <= switches(weak)


def test_smoothed_assignments_cost_is_linear_in_samples(monkeypatch):
    """Newton iterations do not grow with m; each is O(m) (banded solve)."""
    calls = []
    original = _fstep._newton_direction

    def counted(*args):
        calls.append(args[0].shape[0])
        return original(*args)

    monkeypatch.setattr(_fstep, "_newton_direction", counted)
    iterations = {}
    for m in (500, 5000):
        calls.clear()
        Z, converged = smoothed_assignments(_loss_matrix(m, 3, seed=1), 1.0)
        assert converged
        iterations[m] = len(calls)
    assert iterations[5000] <= iterations[500] + 10, iterations


def test_newton_direction_solves_the_saddle_point_system():
    rng = np.random.default_rng(0)
    m, K, lam, barrier = 6, 3, 0.7, 0.05
    Z = rng.dirichlet(np.ones(K), size=m)
    G = rng.standard_normal((m, K))
    delta = _fstep._newton_direction(Z, G, lam, barrier)
    # Dense oracle: Hessian of the smoothing term in relative coordinates
    # plus the barrier, with one equality per sample.
    n = m * K
    H = barrier * np.eye(n)

    def idx(t, k):
        return t * K + k

    for t in range(m - 1):
        for k in range(K):
            i, j = idx(t, k), idx(t + 1, k)
            w = lam * Z[t, k]
            H[i, i] += w
            H[j, j] += w
            H[i, j] -= w
            H[j, i] -= w
    A = np.zeros((m, n))
    for t in range(m):
        A[t, t * K : (t + 1) * K] = Z[t]
    kkt = np.block([[H, A.T], [A, np.zeros((m, m))]])
    sol = np.linalg.solve(kkt, np.concatenate([-G.ravel(), np.zeros(m)]))
    np.testing.assert_allclose(delta, sol[:n].reshape(m, K), atol=1e-10)


def test_scaled_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    R = rng.standard_normal((5, 3))
    Z = rng.dirichlet(np.ones(3), size=5)
    lam = 0.8
    G = _fstep._scaled_gradient(R, Z, np.log(Z), lam)
    eps = 1e-6
    numeric = np.zeros_like(Z)
    for t in range(5):
        for k in range(3):
            Zp, Zm = Z.copy(), Z.copy()
            Zp[t, k] += eps
            Zm[t, k] -= eps
            numeric[t, k] = (
                fstep_objective(R, Zp, lam) - fstep_objective(R, Zm, lam)
            ) / (2 * eps)
    np.testing.assert_allclose(G, Z * numeric, rtol=1e-6, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(2, 30),
    K=st.integers(2, 4),
    smoothing=st.floats(1e-2, 1e2),
    seed=st.integers(0, 10_000),
)
def test_smoothed_assignments_beat_every_simple_candidate(m, K, smoothing, seed):
    """Property: the solution is feasible, no worse than hard, uniform or random z."""
    rng = np.random.default_rng(seed)
    R = rng.normal(scale=3.0, size=(m, K))
    Z, converged = smoothed_assignments(R, smoothing)
    assert converged
    assert np.all(Z >= 0) and np.allclose(Z.sum(axis=1), 1)
    f = fstep_objective(R, Z, smoothing)
    candidates = [
        np.full((m, K), 1.0 / K),
        rng.dirichlet(np.ones(K), size=m),
        np.tile(np.eye(K)[np.argmin(R.sum(axis=0))], (m, 1)),
    ]
    for C in candidates:
        assert f <= fstep_objective(R, C, smoothing) + 1e-6 * max(1.0, abs(f))


def test_fstep_falls_back_to_cvxpy(monkeypatch):
    R = _loss_matrix(30, 2)
    monkeypatch.setattr(_fstep, "smoothed_assignments", lambda R, s: (None, False))
    Z = _fstep.fstep(R, 1.0)
    oracle = CvxpyFStep(30, 2, 1.0).solve(R)
    np.testing.assert_allclose(Z, oracle)


# ---------------------------------------------------------------------------
# P-step: fast paths against the cvxpy path
# ---------------------------------------------------------------------------


def _regression_data(m=80, n=4, q=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    shape = (n,) if q is None else (n, q)
    Y = (
        X @ rng.standard_normal(shape)
        + 0.5
        + 0.3 * rng.standard_normal((m,) if q is None else (m, q))
    )
    w = rng.uniform(size=m) * (rng.uniform(size=m) > 0.3)
    return X, Y, w


def _cvxpy_solution(X, Y, regime_loss, w, alpha, penalty, fit_intercept):
    pstep = CvxpyPStep(
        X, Y, regime_loss, 1, fit_intercept, alpha, penalty=penalty, solver="CLARABEL"
    )
    coefs = [np.zeros(regime_loss.coef_shape)]
    intercepts = [np.zeros(regime_loss.intercept_shape)]
    pstep.solve(w[:, None], coefs, intercepts, np.array([True]))
    return coefs[0], intercepts[0]


def _classification_data(m=120, n=3, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    if n_classes == 2:
        Y = (X @ rng.standard_normal(n) + 0.3 * rng.standard_normal(m) > 0).astype(
            float
        )
    else:
        codes = np.argmax(
            X @ rng.standard_normal((n, n_classes)) + rng.gumbel(size=(m, n_classes)),
            axis=1,
        )
        Y = np.eye(n_classes)[codes]
    w = rng.uniform(size=m)
    return X, Y, w


@pytest.mark.parametrize(
    "loss, n_classes, alpha, fit_intercept",
    [
        ("logistic", 2, 1.0, True),
        ("logistic", 2, 0.5, False),
        ("multinomial", 3, 1.0, True),
        ("huber", None, 0.7, True),
        ("huber", None, 0.0, True),
    ],
)
def test_lbfgs_matches_cvxpy(loss, n_classes, alpha, fit_intercept):
    if loss == "huber":
        X, Y, w = _regression_data()
        Y[:5] += 20.0  # outliers in the linear part of the Huber loss
        coef_shape, intercept_shape = (X.shape[1],), ()
    else:
        X, Y, w = _classification_data(n_classes=n_classes)
        coef_shape = (X.shape[1],) if loss == "logistic" else (X.shape[1], n_classes)
        intercept_shape = () if loss == "logistic" else (n_classes,)
    regime_loss = RegimeLoss(loss, coef_shape, intercept_shape, epsilon=0.8)
    coef, intercept, converged = fit_smooth_linear_model(
        X, Y, w, alpha, loss, coef_shape, fit_intercept, epsilon=0.8
    )
    assert converged
    coef_cvx, intercept_cvx = _cvxpy_solution(
        X, Y, regime_loss, w, alpha, "l2", fit_intercept
    )
    if loss == "multinomial":  # only differences between classes are identified
        coef, coef_cvx = (
            coef - coef.mean(axis=1, keepdims=True),
            coef_cvx - coef_cvx.mean(axis=1, keepdims=True),
        )
        intercept, intercept_cvx = (
            intercept - intercept.mean(),
            intercept_cvx - intercept_cvx.mean(),
        )
    np.testing.assert_allclose(coef, coef_cvx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(intercept, intercept_cvx, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss", ["squared", "huber", "logistic", "multinomial"])
def test_smooth_objective_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(2)
    m, n, C = 20, 3, 3
    X = rng.standard_normal((m, n))
    if loss == "multinomial":
        Y, coef_shape = np.eye(C)[rng.integers(C, size=m)], (n, C)
    elif loss == "logistic":
        Y, coef_shape = rng.integers(2, size=m).astype(float), (n,)
    else:
        Y, coef_shape = 3 * rng.standard_normal(m), (n,)
    w = rng.uniform(size=m)
    n_params = int(np.prod(coef_shape)) + (C if loss == "multinomial" else 1)
    params = rng.standard_normal(n_params)
    args = (X, Y, w, 0.4, loss, coef_shape, True, 0.5)
    _, grad = smooth_objective(params, *args)
    eps = 1e-6
    numeric = np.array(
        [
            (
                smooth_objective(params + eps * e, *args)[0]
                - smooth_objective(params - eps * e, *args)[0]
            )
            / (2 * eps)
            for e in np.eye(n_params)
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "loss, penalty, alpha, constraints, solver, expected",
    [
        ("squared", "l2", 1.0, None, "auto", ClosedFormPStep),
        ("squared", "l1", 0.0, None, "auto", ClosedFormPStep),
        ("squared", "l1", 1.0, None, "auto", CvxpyPStep),
        ("squared", None, 1.0, "nonnegative", "auto", CvxpyPStep),
        ("squared", "l2", 1.0, None, "cvxpy", CvxpyPStep),
        ("squared", "l2", 1.0, None, "SCS", CvxpyPStep),
        ("huber", "l2", 1.0, None, "auto", SmoothPStep),
        ("absolute", "l2", 1.0, None, "auto", CvxpyPStep),
        ("logistic", None, 0.0, None, "auto", SmoothPStep),
        ("multinomial", "group", 1.0, None, "auto", CvxpyPStep),
    ],
)
def test_make_pstep_selects_the_fast_path_only_when_exact(
    loss, penalty, alpha, constraints, solver, expected
):
    X, Y, _ = _regression_data()
    if loss == "multinomial":
        Y = np.eye(2)[(Y > 0).astype(int)]
        shapes = ((X.shape[1], 2), (2,))
    elif loss == "logistic":
        Y = (Y > 0).astype(float)
        shapes = ((X.shape[1],), ())
    else:
        shapes = ((X.shape[1],), ())
    pstep = make_pstep(
        X,
        Y,
        RegimeLoss(loss, *shapes),
        2,
        fit_intercept=True,
        alpha=alpha,
        penalty=penalty,
        constraints=constraints,
        solver=solver,
    )
    assert type(pstep) is expected


def test_cvxpy_pstep_builds_problems_once_and_reuses_them():
    X, Y, w = _regression_data()
    regime_loss = RegimeLoss("absolute", (X.shape[1],), ())
    pstep = CvxpyPStep(X, Y, regime_loss, 2, True, 0.5, penalty="l1")
    problems = list(pstep.problems)
    assert all(p.is_dcp(dpp=True) for p in problems)
    coefs = [np.zeros(X.shape[1])] * 2
    intercepts = [0.0, 0.0]
    for scale in (1.0, 2.0):
        pstep.solve(
            np.column_stack([w, scale * (1 - w)]),
            coefs,
            intercepts,
            np.array([True, True]),
        )
    assert pstep.problems == problems


def test_cvxpy_pstep_infeasible_constraints_name_the_regime():
    X, Y, _ = _regression_data()
    regime_loss = RegimeLoss("squared", (X.shape[1],), ())

    def contradictory(k, coef):
        return [coef >= 1, cp.sum(coef) <= 0] if k == 1 else []

    pstep = CvxpyPStep(X, Y, regime_loss, 2, True, 0.0, constraints=contradictory)
    with pytest.raises(ValueError, match="constraints of regime 1 are infeasible"):
        pstep.solve(
            np.full((X.shape[0], 2), 0.5),
            [None, None],
            [None, None],
            np.array([True, True]),
        )


@pytest.mark.parametrize(
    "loss, error, match",
    [
        (
            lambda X, y, coef, b: np.zeros(len(X)),
            TypeError,
            "must return a cvxpy Expression",
        ),
        (
            lambda X, y, coef, b: cp.sum(cp.square(X @ coef - y)),
            ValueError,
            r"shape \(\); expected \(80,\)",
        ),
        (lambda X, y, coef, b: -cp.square(X @ coef - y), ValueError, "not convex"),
        (
            lambda X, y, coef, b: cp.square(X[:, :2] @ coef - y),
            ValueError,
            "loss callable failed",
        ),
    ],
)
def test_cvxpy_pstep_rejects_bad_loss_callables(loss, error, match):
    X, Y, _ = _regression_data()
    with pytest.raises(error, match=match):
        CvxpyPStep(X, Y, RegimeLoss(loss, (X.shape[1],), ()), 2, True, 0.0)


@pytest.mark.parametrize(
    "constraints, error, match",
    [
        (
            lambda k, coef: [cp.norm(coef) >= 1],
            ValueError,
            "non-convex constraint for regime 0",
        ),
        (lambda k, coef: [True], TypeError, "must return cvxpy constraints"),
        (lambda k, coef: "coef >= 0", TypeError, "must return a list"),
        (
            lambda k, coef: coef[10] >= 0,
            ValueError,
            "constraints callable failed for regime 0",
        ),
    ],
)
def test_cvxpy_pstep_rejects_bad_constraint_callables(constraints, error, match):
    X, Y, _ = _regression_data()
    with pytest.raises(error, match=match):
        CvxpyPStep(
            X,
            Y,
            RegimeLoss("squared", (X.shape[1],), ()),
            2,
            True,
            0.0,
            constraints=constraints,
        )


def test_constraints_callable_may_take_the_intercept():
    X, Y, w = _regression_data()
    regime_loss = RegimeLoss("squared", (X.shape[1],), ())
    pstep = CvxpyPStep(
        X,
        Y,
        regime_loss,
        1,
        True,
        0.0,
        constraints=lambda k, coef, intercept: [intercept == 2.0],
    )
    coefs, intercepts = [None], [None]
    pstep.solve(w[:, None], coefs, intercepts, np.array([True]))
    assert np.isclose(intercepts[0], 2.0, atol=1e-6)


def test_cvxpy_pstep_retries_with_another_solver(monkeypatch):
    X, Y, w = _regression_data()
    regime_loss = RegimeLoss("squared", (X.shape[1],), ())
    pstep = CvxpyPStep(X, Y, regime_loss, 1, True, 0.0, solver="OSQP")
    original = cp.Problem.solve
    tried = []

    def flaky(self, solver=None, **kwargs):
        tried.append(solver)
        if solver == "OSQP":
            raise cp.error.SolverError("OSQP exploded")
        return original(self, solver=solver, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", flaky)
    coefs, intercepts = [None], [None]
    pstep.solve(w[:, None], coefs, intercepts, np.array([True]))
    assert tried[:2] == ["OSQP", "CLARABEL"]
    np.testing.assert_allclose(
        coefs[0], weighted_ridge(X, Y, w, 0.0, True)[0], rtol=1e-5
    )

    monkeypatch.setattr(
        cp.Problem,
        "solve",
        lambda self, solver=None, **kw: (_ for _ in ()).throw(
            cp.error.SolverError("boom")
        ),
    )
    with pytest.raises(
        ValueError, match=r"P-step of regime 0: no cvxpy solver succeeded \(OSQP: boom"
    ):
        pstep.solve(w[:, None], coefs, intercepts, np.array([True]))


def test_unbounded_pstep_is_reported():
    X, Y, w = _regression_data()
    regime_loss = RegimeLoss(lambda X, y, coef, b: X @ coef, (X.shape[1],), ())
    pstep = CvxpyPStep(X, Y, regime_loss, 1, False, 0.0)
    with pytest.raises(ValueError, match="regime 0 is unbounded below"):
        pstep.solve(w[:, None], [None], [None], np.array([True]))


# ---------------------------------------------------------------------------
# BCD pieces
# ---------------------------------------------------------------------------


def test_transition_counts_matrix():
    T = transition_counts_matrix(np.array([0, 0, 1, 1, 1, 0, 2]), 4)
    np.testing.assert_allclose(T[0], [1 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(T[1], [1 / 3, 2 / 3, 0, 0])
    np.testing.assert_allclose(T[2], 0.25)  # never followed: uniform
    np.testing.assert_allclose(T[3], 0.25)


def test_reseed_empty_takes_the_worst_fitted_samples():
    R = np.array([[0.0, 9.0, 9.0], [5.0, 9.0, 9.0], [9.0, 1.0, 9.0], [9.0, 7.0, 9.0]])
    Z = hard_assignments(R)  # regime 2 is empty
    Z_new, reseeded = reseed_empty(Z, R, 0.0)
    assert reseeded.tolist() == [2]
    # max(1, 4 // 6) = 1 sample: the worst fitted one (loss 7).
    np.testing.assert_array_equal(Z_new.argmax(axis=1), [0, 0, 1, 2])


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    smoothing=st.sampled_from([0.0, 0.5, 3.0]),
    loss=st.sampled_from(["squared", "absolute"]),
)
def test_bcd_objective_never_increases(seed, smoothing, loss):
    """Property: exact block minimizations give a nonincreasing objective."""
    rng = np.random.default_rng(seed)
    m, n, K = 60, 2, 3
    X = rng.standard_normal((m, n))
    y = rng.standard_normal(m) * 3
    regime_loss = RegimeLoss(loss, (n,), ())
    pstep = make_pstep(
        X,
        y,
        regime_loss,
        K,
        fit_intercept=True,
        alpha=0.1,
        penalty="l2",
        constraints=None,
        solver="auto",
    )
    Z0 = np.eye(K)[rng.permutation(np.arange(m) % K)]
    result = run_bcd(
        X,
        y,
        regime_loss,
        pstep,
        Z0,
        smoothing=smoothing,
        penalty="l2",
        alpha=0.1,
        max_iter=30,
        tol=1e-10,
    )
    if not any("re-seeded" in msg for _, msg in result.warnings):
        history = np.array(result.objective)
        assert np.all(np.diff(history) <= 1e-6 * np.abs(history[:-1]) + 1e-9), history
    R = regime_loss.loss_matrix(X, y, result.coefs, result.intercepts)
    assert np.isclose(
        result.final_objective,
        bcd_objective(R, result.Z, result.coefs, "l2", 0.1, smoothing),
    )
