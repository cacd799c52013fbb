"""The exact proximal step of the FM against numerical solves of its definition."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from _fm_reference import dual_objective, map_objective, seed_prox_epoch

from skfactor.fm._epoch import (
    EpochSettings,
    Rows,
    averaged_parameters,
    make_averaging,
    run_epoch,
)
from skfactor.fm._model import fm_decision
from skfactor.fm._prox_step import (
    Dual,
    Model,
    Step,
    general_kernel,
    logistic_loss,
    make_work,
    prox_step,
    row_curvature_bounds,
    uniform_kernel,
)

K = 3
N_FEATURES = 9


def _pairwise_dense(idx, val, V):
    """Reference forward pass: the explicit double sum over pairs."""
    total = 0.0
    for a in range(len(idx)):
        for b in range(a + 1, len(idx)):
            total += val[a] * val[b] * (V[idx[a]] @ V[idx[b]])
    return total


def _sigma(x, idx, val, n):
    b0, b, Vn = x[0], x[1 : n + 1], x[n + 1 :].reshape(n, -1)
    return b0 + val @ b + _pairwise_dense(np.arange(n), val, Vn)


def _primal(x, x_t, idx, val, yhat, eta, alpha, n, eta_bias=None):
    """Proximal subproblem restricted to the touched parameters.

    ``eta`` is the step of the latent vectors, ``eta_bias`` (default ``eta``)
    that of the global and feature biases ``x[: n + 1]``.
    """
    eta_bias = eta if eta_bias is None else eta_bias
    loss = np.logaddexp(0.0, -yhat * _sigma(x, idx, val, n))
    penalty = 0.5 * alpha * (x[1:] @ x[1:])
    d = (x - x_t) ** 2
    return (
        loss
        + penalty
        + d[: n + 1].sum() / (2.0 * eta_bias)
        + d[n + 1 :].sum() / (2.0 * eta)
    )


def _sample(rng, n, indicator):
    idx = rng.choice(N_FEATURES, n, replace=False).astype(np.int64)
    val = np.ones(n) if indicator else rng.normal(size=n) * rng.choice([0.3, 1.0, 2.0])
    w0 = np.array([rng.normal()])
    w = rng.normal(size=N_FEATURES)
    V = rng.normal(size=(N_FEATURES, K))
    return idx, val, w0, w, V


def _bound(val):
    return row_curvature_bounds(np.array([0, len(val)]), val)[0]


def _step(idx, val, yhat, eta_bias, eta, alpha, w0, w, V):
    """One proximal step on ``(w0, w, V)`` in place, without averaging."""
    model = Model(w0, w, V)
    offsets = Model(np.zeros(1), np.zeros_like(w), np.zeros_like(V))
    step = Step(eta_bias, eta, alpha)
    return prox_step(idx, val, yhat, step, model, make_work(V.shape[1]), 0.0, offsets)


def _csr(X):
    return Rows(X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data)


def _epoch(X, yhat, order, eta, scale, alpha, model, averaging, weights=None):
    n = X.shape[0]
    weights = np.ones(n) if weights is None else weights
    settings = EpochSettings(eta, scale, alpha, averaging is not None)
    if averaging is None:
        averaging = make_averaging(*model[2].shape)
    return run_epoch(
        _csr(X),
        yhat,
        weights,
        np.full(n, np.inf),
        order,
        settings,
        Model(*model),
        make_work(model[2].shape[1]),
        averaging,
    )


CASES = [
    # (n nonzeros, indicator values, alpha, label, fraction of the convexity bound)
    (5, True, 0.0, 1.0, 0.9),
    (5, True, 0.0, -1.0, 0.9),
    (6, True, 0.3, 1.0, 0.5),
    (4, False, 0.0, 1.0, 0.9),
    (4, False, 0.2, -1.0, 0.7),
    (2, False, 0.0, -1.0, 0.95),
    (1, True, 0.1, 1.0, 0.5),
    (1, False, 0.0, -1.0, 0.5),
]


@pytest.mark.parametrize("n, indicator, alpha, yhat, fraction", CASES)
def test_prox_step_matches_numerical_solve_of_subproblem(
    n, indicator, alpha, yhat, fraction
):
    rng = np.random.default_rng(n * 7 + int(indicator) + int(10 * alpha))
    idx, val, w0, w, V = _sample(rng, n, indicator)
    L = _bound(val)
    eta = fraction / L if L > 0 else 1.0
    x_t = np.concatenate([w0, w[idx], V[idx].ravel()])
    res = minimize(
        _primal,
        x_t,
        args=(x_t, idx, val, yhat, eta, alpha, n),
        method="BFGS",
        options={"gtol": 1e-12, "maxiter": 10_000},
    )
    w0_new, w_new, V_new = w0.copy(), w.copy(), V.copy()
    loss, z = _step(idx, val, yhat, eta, eta, alpha, w0_new, w_new, V_new)
    ours = np.concatenate([w0_new, w_new[idx], V_new[idx].ravel()])
    np.testing.assert_allclose(ours, res.x, atol=2e-6)
    assert _primal(ours, x_t, idx, val, yhat, eta, alpha, n) <= res.fun + 1e-10
    # untouched features do not move
    untouched = np.setdiff1d(np.arange(N_FEATURES), idx)
    np.testing.assert_array_equal(w_new[untouched], w[untouched])
    np.testing.assert_array_equal(V_new[untouched], V[untouched])
    # the reported loss is that of the iterate before the step
    assert loss == pytest.approx(logistic_loss(yhat * _sigma(x_t, idx, val, n)))
    # optimality in z: z is the loss derivative at the new point
    assert z == pytest.approx(
        1.0 / (1.0 + np.exp(yhat * _sigma(ours, idx, val, n))), rel=1e-8
    )


@pytest.mark.parametrize("bias_scale", [4.0, 0.3])
@pytest.mark.parametrize(
    "n, indicator, alpha, yhat", [(5, True, 0.1, 1.0), (4, False, 0.2, -1.0)]
)
def test_separate_bias_step_matches_numerical_solve(
    n, indicator, alpha, yhat, bias_scale
):
    """Biases with step ``bias_scale * eta``, latent vectors ``eta``: still exact."""
    rng = np.random.default_rng(n + int(10 * bias_scale))
    idx, val, w0, w, V = _sample(rng, n, indicator)
    eta = 0.8 / _bound(val)
    x_t = np.concatenate([w0, w[idx], V[idx].ravel()])
    args = (x_t, idx, val, yhat, eta, alpha, n, bias_scale * eta)
    res = minimize(
        _primal,
        x_t,
        args=args,
        method="BFGS",
        options={"gtol": 1e-12, "maxiter": 10_000},
    )
    new = w0.copy(), w.copy(), V.copy()
    _step(idx, val, yhat, bias_scale * eta, eta, alpha, *new)
    ours = np.concatenate([new[0], new[1][idx], new[2][idx].ravel()])
    np.testing.assert_allclose(ours, res.x, atol=2e-6)
    assert _primal(ours, *args) <= res.fun + 1e-10


def _q_by_definition(z, idx, val, yhat, eta, alpha, w0, w, V):
    """q(z) = min_x phi(x, z): phi is a convex quadratic in x, solved densely."""
    n = len(idx)
    x_t = np.concatenate([w0, w[idx], V[idx].ravel()])
    size = x_t.size

    def phi(x):
        return (
            -z * yhat * _sigma(x, idx, val, n)
            + 0.5 * alpha * (x[1:] @ x[1:])
            + ((x - x_t) ** 2).sum() / (2.0 * eta)
        )

    # gradient and Hessian of a quadratic by exact finite differences
    h = 1.0
    g0 = phi(np.zeros(size))
    H = np.empty((size, size))
    g = np.empty(size)
    E = np.eye(size) * h
    for a in range(size):
        fa = phi(E[a])
        g[a] = (fa - phi(-E[a])) / (2 * h)
        for b in range(size):
            H[a, b] = (phi(E[a] + E[b]) - fa - phi(E[b]) + g0) / h**2
    x_star = np.linalg.solve(H, -g)
    entropy = sum(t * np.log(t) for t in (z, 1 - z) if t > 0)
    return phi(x_star) - entropy


@pytest.mark.parametrize("n, indicator, alpha, yhat, fraction", CASES[:6])
@pytest.mark.parametrize("z", [0.0, 0.05, 0.5, 0.97, 1.0])
def test_dual_function_matches_its_definition(n, indicator, alpha, yhat, fraction, z):
    rng = np.random.default_rng(n + 3)
    idx, val, w0, w, V = _sample(rng, n, indicator)
    eta = fraction / _bound(val)
    expected = _q_by_definition(z, idx, val, yhat, eta, alpha, w0, w, V)
    assert dual_objective(
        z, idx, val, yhat, Step(eta, eta, alpha), (w0, w, V)
    ) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_step_maximizes_the_dual_and_primal_equals_dual():
    rng = np.random.default_rng(1)
    idx, val, w0, w, V = _sample(rng, 5, True)
    eta, alpha, yhat = 0.2, 0.1, 1.0
    new = w0.copy(), w.copy(), V.copy()
    _, z = _step(idx, val, yhat, eta, eta, alpha, *new)

    def q(s):
        return dual_objective(s, idx, val, yhat, Step(eta, eta, alpha), (w0, w, V))

    grid = np.linspace(1e-4, 1 - 1e-4, 2001)
    assert q(z) >= max(q(s) for s in grid) - 1e-12
    # strong duality: q(z*) equals the primal value at the new point
    x_t = np.concatenate([w0, w[idx], V[idx].ravel()])
    x_new = np.concatenate([new[0], new[1][idx], new[2][idx].ravel()])
    assert q(z) == pytest.approx(
        _primal(x_new, x_t, idx, val, yhat, eta, alpha, 5), rel=1e-10
    )


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 7),
    c=st.floats(0.1, 3.0),
    beta_fraction=st.floats(-0.95, 0.95),
    seed=st.integers(0, 2**16),
)
def test_uniform_kernel_equals_general_kernel(n, c, beta_fraction, seed):
    """The O(1) eigenblock form (equal |x|) equals the O(nk) Sherman-Morrison form."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n, dtype=np.int64)
    val = np.sqrt(c) * rng.choice([-1.0, 1.0], n)
    V = rng.normal(size=(n, K))
    rho = 0.9
    beta = beta_fraction / ((n - 1) * c)
    U = rho * V
    s = U.T @ val
    T = s @ s / (n * c)
    dual = Dual(0.0, 0.0, 0.0, rho, True, (n - 1) * c, T, -c, (U * U).sum() - T)
    uniform = uniform_kernel(beta, dual)
    general = general_kernel(beta, idx, val, V, rho, make_work(K))
    np.testing.assert_allclose(uniform[:3], general, rtol=1e-9, atol=1e-9)
    # and both equal the dense trace tr(U^T (I - beta C)^{-1} U) and its derivatives
    C = np.outer(val, val) - np.diag(val * val)
    Minv = np.linalg.inv(np.eye(n) - beta * C)
    dense = (
        np.trace(U.T @ Minv @ U),
        np.trace(U.T @ Minv @ C @ Minv @ U),
        2 * np.trace(U.T @ Minv @ C @ Minv @ C @ Minv @ U),
    )
    np.testing.assert_allclose(general, dense, rtol=1e-8, atol=1e-8)
    # the third derivative (Halley steps) by central differences of the second
    h = 1e-5 / ((n - 1) * c)
    numeric = (
        uniform_kernel(beta + h, dual)[2] - uniform_kernel(beta - h, dual)[2]
    ) / (2 * h)
    assert uniform[3] == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_curvature_bound_is_the_exact_convexity_limit_for_indicators():
    """For indicators, I - beta C is singular exactly at beta = 1 / L = 1 / (n - 1)."""
    for n in range(2, 8):
        val = np.ones(n)
        L = _bound(val)
        assert L == n - 1
        C = np.ones((n, n)) - np.eye(n)
        assert np.linalg.eigvalsh(np.eye(n) - C / L).min() == pytest.approx(
            0.0, abs=1e-12
        )
    rng = np.random.default_rng(0)
    for _ in range(20):
        val = rng.normal(size=5)
        C = np.outer(val, val) - np.diag(val * val)
        eig = np.linalg.eigvalsh(C)
        assert max(eig.max(), -eig.min()) <= _bound(val) + 1e-12
    assert _bound(np.array([3.0])) == 0.0
    indptr = np.array([0, 0, 1, 3])
    np.testing.assert_allclose(
        row_curvature_bounds(indptr, np.array([2.0, 1.0, 3.0])), [0, 0, 9]
    )


def test_forward_pass_matches_dense_double_sum():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, N_FEATURES)) * (rng.uniform(size=(6, N_FEATURES)) < 0.5)
    w0, w, V = 0.3, rng.normal(size=N_FEATURES), rng.normal(size=(N_FEATURES, K))
    expected = [
        w0 + x @ w + _pairwise_dense(np.flatnonzero(x), x[np.flatnonzero(x)], V)
        for x in X
    ]
    np.testing.assert_allclose(fm_decision(X, w0, w, V), expected)


def test_epoch_equals_the_published_method_as_written():
    """The closed-form step reproduces Shtoff's golden-section / linear-solve step."""
    from skfactor.datasets import make_fm_classification

    X, y, _ = make_fm_classification(
        n_samples=60, n_fields=4, n_categories=3, random_state=0
    )
    yhat = 2.0 * y - 1
    rng = np.random.default_rng(0)
    V = 0.3 * rng.standard_normal((X.shape[1], K))
    eta = 1.0 / (2 * 4 + 1)
    ref = np.zeros(1), np.zeros(X.shape[1]), V.copy()
    ours = np.zeros(1), np.zeros(X.shape[1]), V.copy()
    order = np.arange(60, dtype=np.int64)
    loss_ref = seed_prox_epoch(X, yhat, order, eta, *ref)
    loss_ours = _epoch(X, yhat, order, eta, 1.0, 0.0, ours, None)
    assert loss_ours == pytest.approx(loss_ref, rel=1e-6)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_extreme_margins_keep_full_precision():
    """A confidently right sample gets z ~ exp(-margin) > 0, not 0 or NaN."""
    idx = np.array([0, 1], dtype=np.int64)
    val = np.ones(2)
    for margin, yhat in [(40.0, 1.0), (-40.0, -1.0), (40.0, -1.0)]:
        w0, w, V = np.array([margin]), np.zeros(2), np.zeros((2, K))
        loss, z = _step(idx, val, yhat, 0.1, 0.1, 0.0, w0, w, V)
        assert np.isfinite(loss) and 0 <= z <= 1
        if margin * yhat > 0:
            assert z == pytest.approx(np.exp(-40.0), rel=1e-3)
        else:
            assert loss == pytest.approx(40.0, rel=1e-9) and z > 0.9


def test_lazy_average_equals_eager_average_of_all_iterates():
    """The lazy offsets give sum_s (tau_s^4 - tau_{s-1}^4) / T^4 x_s over every step.

    Checked against an explicit loop of proximal steps that stores every
    iterate, with sample weights (zeros included: they move neither the
    parameters nor the clock), two epochs (the state carries over) and a
    bias step twice the latent step.
    """
    from skfactor.datasets import make_fm_classification

    X, y, _ = make_fm_classification(
        n_samples=40, n_fields=3, n_categories=4, random_state=1
    )
    indices = X.indices.astype(np.int64)
    yhat = 2.0 * y - 1
    m = X.shape[1]
    rng = np.random.default_rng(0)
    weights = rng.choice([0.0, 0.5, 1.0, 2.0], size=40)
    V = 0.3 * rng.standard_normal((m, K))
    eta, scale, alpha = 0.1, 2.0, 0.05
    ours = np.zeros(1), np.zeros(m), V.copy()
    state = make_averaging(m, K)
    ref = np.zeros(1), np.zeros(m), V.copy()
    clock, acc = 0.0, [0.0, np.zeros(m), np.zeros((m, K))]
    for epoch in range(2):
        order = rng.permutation(40).astype(np.int64)
        _epoch(X, yhat, order, eta, scale, alpha, ours, state, weights)
        for i in order:
            sl = slice(X.indptr[i], X.indptr[i + 1])
            step = eta * weights[i]
            _step(indices[sl], X.data[sl], yhat[i], scale * step, step, alpha, *ref)
            held = (clock + weights[i]) ** 4 - clock**4
            clock += weights[i]
            acc[0] += held * ref[0][0]
            acc[1] += held * ref[1]
            acc[2] += held * ref[2]
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)  # averaging does not change the trajectory
    assert state[0][0] == pytest.approx(clock)
    avg = averaged_parameters(state, ours)
    expected = [a / clock**4 for a in acc]
    for a, b in zip(avg, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # no time elapsed: the average is the iterate itself
    fresh = averaged_parameters(make_averaging(m, K), ours)
    np.testing.assert_array_equal(fresh[2], ours[2])


def test_map_objective_gradient_and_value():
    """The full-batch MAP reference: value by the forward pass, gradient by FD."""
    from scipy.optimize import approx_fprime

    from skfactor.datasets import make_fm_classification

    X, y, _ = make_fm_classification(
        n_samples=50, n_fields=3, n_categories=3, n_numeric=1, random_state=0
    )
    m, k = X.shape[1], 2
    rng = np.random.default_rng(0)
    params = rng.normal(size=1 + m + m * k) * 0.5
    yhat = 2.0 * y - 1
    value, grad = map_objective(params, X, yhat, k, 0.3, 0.7)
    b0, b, V = params[0], params[1 : m + 1], params[m + 1 :].reshape(m, k)
    expected = (
        np.logaddexp(0, -yhat * fm_decision(X, b0, b, V)).mean()
        + 0.15 * b @ b
        + 0.35 * (V * V).sum()
    )
    assert value == pytest.approx(expected, rel=1e-12)
    numeric = approx_fprime(
        params, lambda p: map_objective(p, X, yhat, k, 0.3, 0.7)[0], 1e-7
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
