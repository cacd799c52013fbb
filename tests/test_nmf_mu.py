"""The mathematics of BalancedSparseNMF: objective, MM updates, balancing,
initializations and the exact W-step, against dense oracles, explicit
formulas, finite differences and cvxpy."""

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import kl_div

from skfactor.decomposition import _kl_mu, _mu, _objective
from skfactor.decomposition._init import check_init_pair, nndsvda_init, random_init
from skfactor.decomposition._newton import solve_activations

PENALTIES = ["l1", "l2"]


def _problem(seed, m=7, n=5, r=3, density=0.5, sparse=False):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.1, 2, size=(m, r))
    H = rng.uniform(0.1, 2, size=(r, n))
    X = rng.poisson(W @ H).astype(float) * (rng.uniform(size=(m, n)) < density)
    X[0] = 0.0  # an all-zero row
    X = sp.csr_matrix(X) if sparse else X
    W0 = rng.uniform(0.1, 1, size=(m, r))
    H0 = rng.uniform(0.1, 1, size=(r, n))
    return X, W0, H0


def _dense(X):
    return X.toarray() if sp.issparse(X) else X


def _objective_oracle(X, W, H, beta, aW, aH, pW, pH):
    """Objective from its textbook definition on dense arrays."""
    X, Y = _dense(X), W @ H
    fit = kl_div(X, Y).sum() if beta == 1 else 0.5 * np.sum((X - Y) ** 2)

    def g(F, p):
        return np.abs(F).sum() if p == "l1" else np.sum(F**2)

    return fit + aW * g(W, pW) + aH * g(H, pH)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_model_at_support_matches_dense_product(fmt):
    X, W, H = _problem(0, sparse=True)
    X = X.asformat(fmt)
    coo = X.tocoo()
    values = _mu.model_at_support(X, W, H)
    # values follow the order of X.data: compare through a matrix
    rebuilt = type(X)((values, X.indices, X.indptr), shape=X.shape).toarray()
    expected = np.where(_dense(X.toarray()) != 0, W @ H, 0)
    np.testing.assert_allclose(rebuilt, expected, rtol=1e-13)
    assert values.shape == (coo.nnz,)


def test_model_at_support_blocks(monkeypatch):
    monkeypatch.setattr(_objective, "_BLOCK", 3)
    X, W, H = _problem(1, sparse=True)
    rebuilt = sp.csr_matrix((_mu.model_at_support(X, W, H), X.indices, X.indptr))
    np.testing.assert_allclose(
        rebuilt.toarray(), np.where(X.toarray() != 0, W @ H, 0), rtol=1e-13
    )


@pytest.mark.parametrize("beta", [1, 2])
@pytest.mark.parametrize("sparse", [False, True])
def test_objective_matches_definition(beta, sparse):
    X, W, H = _problem(2, sparse=sparse)
    for pW in PENALTIES:
        for pH in PENALTIES:
            value = _mu.objective(X, W, H, beta, 0.3, 0.7, pW, pH)
            oracle = _objective_oracle(X, W, H, beta, 0.3, 0.7, pW, pH)
            assert value == pytest.approx(oracle, rel=1e-12)


def test_beta_divergence_is_zero_at_exact_fit():
    _, W, H = _problem(3)
    for beta in (1, 2):
        assert _mu.beta_divergence(W @ H, W, H, beta) == pytest.approx(0, abs=1e-12)
        assert _mu.beta_divergence(sp.csr_matrix(W @ H), W, H, beta) == pytest.approx(
            0, abs=1e-12
        )


def _surrogate(f, f_old, numerator, denominator, alpha, penalty, beta):
    """The majorizer that penalized_step minimizes, written independently."""
    if beta == 1:
        s = f_old * numerator
        fit = denominator * f - s * np.log(f)
    else:
        fit = 0.5 * denominator / f_old * f**2 - numerator * f
    if penalty == "l2":
        return fit + alpha * f**2
    if beta == 2:  # AM-GM majorizer of the linear penalty
        return fit + 0.5 * alpha * (f**2 / f_old + f_old)
    return fit + alpha * f


@pytest.mark.parametrize("beta", [1, 2])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("alpha", [0.0, 0.3, 50.0])
def test_penalized_step_minimizes_the_majorizer(beta, penalty, alpha):
    rng = np.random.default_rng(4)
    f_old, numerator, denominator = rng.uniform(0.1, 3, size=(3, 50))
    new = _mu.penalized_step(f_old, numerator, denominator, alpha, penalty, beta)
    assert np.all(new > 0)
    grid = new[:, None] * np.linspace(0.5, 1.5, 101)[None, :]
    values = _surrogate(
        grid,
        f_old[:, None],
        numerator[:, None],
        denominator[:, None],
        alpha,
        penalty,
        beta,
    )
    at_new = _surrogate(new, f_old, numerator, denominator, alpha, penalty, beta)
    assert np.all(at_new <= values.min(axis=1) + 1e-12 * np.abs(values).max())
    # stationarity by central differences
    h = 1e-6 * new
    derivative = (
        _surrogate(new + h, f_old, numerator, denominator, alpha, penalty, beta)
        - _surrogate(new - h, f_old, numerator, denominator, alpha, penalty, beta)
    ) / (2 * h)
    np.testing.assert_allclose(derivative, 0, atol=1e-6 * (1 + alpha))


def test_kl_ridge_step_is_seed_eq36_with_mu_twice_alpha():
    """Eq. 36 of the seed solves mu f^2 + c f - s = 0; the penalty alpha*||W||^2
    as written corresponds to mu = 2 alpha."""
    rng = np.random.default_rng(5)
    f_old, numerator, c = rng.uniform(0.1, 3, size=(3, 20))
    alpha = 0.7
    s = f_old * numerator
    mu = 2 * alpha
    seed_eq36 = (np.sqrt(c**2 + 4 * mu * s) - c) / (2 * mu)
    ours = _mu.penalized_step(f_old, numerator, c, alpha, "l2", 1)
    np.testing.assert_allclose(ours, seed_eq36, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    beta=st.sampled_from([1, 2]),
    pW=st.sampled_from(PENALTIES),
    pH=st.sampled_from(PENALTIES),
    aW=st.sampled_from([0.0, 0.05, 2.0]),
    aH=st.sampled_from([0.0, 0.5, 20.0]),
    sparse=st.booleans(),
    balance=st.booleans(),
)
def test_objective_never_increases(seed, beta, pW, pH, aW, aH, sparse, balance):
    X, W, H = _problem(seed, sparse=sparse)
    _, _, monitor = _mu.fit_mu(
        X,
        W,
        H,
        beta=beta,
        alpha_W=aW,
        alpha_H=aH,
        penalty_W=pW,
        penalty_H=pH,
        balance_every=balance,
        max_iter=15,
        tol=0,
    )
    history = np.array(monitor.history)
    assert np.all(np.diff(history) <= 1e-10 * np.abs(history[:-1]))
    # each half step too
    args = (beta, aW, aH, pW, pH)
    f0 = _mu.objective(X, W, H, *args)
    W1 = _mu.update_W(X, W, H, beta, aW, pW)
    f1 = _mu.objective(X, W1, H, *args)
    H1 = _mu.update_H(X, W1, H, beta, aH, pH)
    f2 = _mu.objective(X, W1, H1, *args)
    assert f1 <= f0 * (1 + 1e-12) and f2 <= f1 * (1 + 1e-12)
    assert np.all(W1 >= _mu.EPSILON) and np.all(H1 >= _mu.EPSILON)


def _reference_mu(X, W, H, args, n_iter, balance_every=True, fit_H=True, n_inner=1):
    """The plain loop of fit_mu written with the array functions."""
    beta, aW, aH, pW, pH = args
    W, H = np.maximum(W, _mu.EPSILON), np.maximum(H, _mu.EPSILON)
    history = [_mu.objective(X, W, H, *args)]
    for _ in range(n_iter):
        for _ in range(n_inner):
            W = _mu.update_W(X, W, H, beta, aW, pW)
        if fit_H:
            for _ in range(n_inner):
                H = _mu.update_H(X, W, H, beta, aH, pH)
            if balance_every:
                W, H = _mu.balance(W, H, aW, aH, pW, pH)
        history.append(_mu.objective(X, W, H, *args))
    return W, H, history


@pytest.mark.parametrize("beta", [1, 2])
@pytest.mark.parametrize("penalties", [("l1", "l1"), ("l2", "l1"), ("l1", "l2")])
@pytest.mark.parametrize(
    "options",
    [dict(), dict(balance_every=False), dict(n_inner=3), dict(fit_H=False)],
)
@pytest.mark.parametrize("sparse", [False, True])
def test_fit_mu_is_the_loop_of_the_array_updates(beta, penalties, options, sparse):
    """The compiled KL iterations (one fused sweep per W-update and H
    numerator, the objective taken from the next sweep, batches of
    iterations) follow the plain loop of update_W, update_H, balance and
    objective."""
    X, W0, H0 = _problem(16, m=9, n=7, sparse=sparse)
    args = (beta, 0.3, 1.5, *penalties)
    W, H, monitor = _mu.fit_mu(
        X,
        W0,
        H0,
        beta=beta,
        alpha_W=0.3,
        alpha_H=1.5,
        penalty_W=penalties[0],
        penalty_H=penalties[1],
        max_iter=23,
        tol=0,
        **options,
    )
    W_ref, H_ref, history = _reference_mu(X, W0, H0, args, 23, **options)
    np.testing.assert_allclose(monitor.history, history, rtol=1e-12)
    np.testing.assert_allclose(W, W_ref, rtol=1e-10)
    np.testing.assert_allclose(H, H_ref, rtol=1e-10)


@pytest.mark.parametrize("beta", [1, 2])
def test_stopping_inside_a_batch_returns_that_iterate(beta, monkeypatch):
    """The monitor may stop in the middle of a compiled batch of iterations:
    the iterate of that iteration is returned, as without batches."""
    X, W0, H0 = _problem(17, m=9, n=7)
    kwargs = dict(beta=beta, alpha_W=0.3, alpha_H=1.5, penalty_W="l1", penalty_H="l2")
    W, H, monitor = _mu.fit_mu(X, W0, H0, **kwargs, max_iter=500, tol=1e-6)
    assert monitor.converged and monitor.n_iter % 10 not in (0, 1)
    W_cut, H_cut, cut = _mu.fit_mu(X, W0, H0, **kwargs, max_iter=monitor.n_iter, tol=0)
    np.testing.assert_array_equal(W, W_cut)
    np.testing.assert_array_equal(H, H_cut)
    np.testing.assert_array_equal(monitor.history, cut.history)
    monkeypatch.setattr(_kl_mu, "_BATCH", 1)
    W_one, H_one, one = _mu.fit_mu(X, W0, H0, **kwargs, max_iter=500, tol=1e-6)
    np.testing.assert_array_equal(W, W_one)
    np.testing.assert_array_equal(monitor.history, one.history)


@pytest.mark.parametrize("beta", [1, 2])
def test_sparse_updates_equal_dense_updates(beta):
    X, W, H = _problem(6, sparse=True)
    for pen in PENALTIES:
        np.testing.assert_allclose(
            _mu.update_W(X, W, H, beta, 0.4, pen),
            _mu.update_W(X.toarray(), W, H, beta, 0.4, pen),
            rtol=1e-12,
        )
        np.testing.assert_allclose(
            _mu.update_H(X, W, H, beta, 0.4, pen),
            _mu.update_H(X.toarray(), W, H, beta, 0.4, pen),
            rtol=1e-12,
        )


def _numerical_gradient(fun, F, step=1e-6):
    """Central differences; forward ones where F is at the bound 0."""
    grad = np.zeros_like(F)
    for idx in np.ndindex(F.shape):
        h = step * max(abs(F[idx]), 1e-3)
        up, down = F.copy(), F.copy()
        up[idx] += h
        if F[idx] > 2 * h:
            down[idx] -= h
            grad[idx] = (fun(up) - fun(down)) / (2 * h)
        else:
            grad[idx] = (fun(up) - fun(F)) / h
    return grad


@pytest.mark.parametrize("beta", [1, 2])
@pytest.mark.parametrize("penalty", PENALTIES)
def test_fixed_points_of_the_updates_satisfy_kkt(beta, penalty):
    """After many iterations, the finite-difference gradient of the objective
    is ~0 on entries above the floor and >= 0 on entries at the floor."""
    X, W, H = _problem(7)
    args = dict(
        beta=beta, alpha_W=0.5, alpha_H=0.5, penalty_W=penalty, penalty_H=penalty
    )
    W, H, _ = _mu.fit_mu(X, W, H, **args, max_iter=20000, tol=1e-15)
    f = lambda W_: _mu.objective(X, W_, H, beta, 0.5, 0.5, penalty, penalty)  # noqa: E731
    grad = _numerical_gradient(f, W)
    scale = np.abs(grad).max()
    interior = W > 1e-6
    assert np.all(np.abs(grad[interior]) <= 1e-3 * scale)
    assert np.all(grad[~interior] >= -1e-3 * scale)


def test_balance_keeps_product_and_lowers_penalty():
    _, W, H = _problem(8)
    W = W * np.array([100.0, 1.0, 0.01])
    W2, H2 = _mu.balance(W, H, 0.3, 2.0, "l1", "l2")
    np.testing.assert_allclose(W2 @ H2, W @ H, rtol=1e-12)
    before = _mu.penalty(W, H, 0.3, 2.0, "l1", "l2")
    after = _mu.penalty(W2, H2, 0.3, 2.0, "l1", "l2")
    assert after < before
    # balanced: p_W * a_W g_W(column) == p_H * a_H g_H(row) per component
    np.testing.assert_allclose(
        1 * 0.3 * W2.sum(axis=0), 2 * 2.0 * (H2**2).sum(axis=1), rtol=1e-10
    )


@pytest.mark.parametrize("beta", [1, 2])
def test_rescale_init_is_the_seeds_initialization(beta):
    """eta = argmin_eta F(eta W, eta H) over a fine grid, then balancing."""
    X, W, H = _problem(9)
    args = (beta, 0.4, 0.9, "l1", "l2")
    W2, H2 = _mu.rescale_init(X, W, H, *args)
    eta = np.sqrt((W2 @ H2)[0, 0] / (W @ H)[0, 0])
    np.testing.assert_allclose(W2 @ H2, eta**2 * (W @ H), rtol=1e-10)
    scaled = _mu.objective(X, eta * W, eta * H, *args)
    grid = np.exp(np.linspace(-4, 4, 801))
    values = [_mu.objective(X, e * W, e * H, *args) for e in grid]
    assert scaled <= min(values) * (1 + 1e-9)
    assert _mu.objective(X, W2, H2, *args) <= scaled * (1 + 1e-12)
    # fixed H: only W is scaled, optimally
    W3, H3 = _mu.rescale_init(X, W, H, *args, fit_H=False)
    assert H3 is H
    ratio = (W3 / W).ravel()
    np.testing.assert_allclose(ratio, ratio[0])
    best = _mu.objective(X, W3, H, *args)
    assert all(best <= _mu.objective(X, e * W, H, *args) * (1 + 1e-9) for e in grid)


def test_random_and_nndsvda_init():
    X, _, _ = _problem(10)
    rng = np.random.RandomState(0)
    W, H = random_init(X, 3, rng)
    assert W.shape == (7, 3) and H.shape == (3, 5) and np.all(W >= 0)
    assert np.mean(W @ H) == pytest.approx(X.mean(), rel=1.0)
    W, H = nndsvda_init(X, 3, np.random.RandomState(0))
    assert np.all(W > 0) and np.all(H > 0)
    # more components than min(m, n): the surplus is random, nothing fails
    W, H = nndsvda_init(X, 9, np.random.RandomState(0))
    assert W.shape == (7, 9) and np.all(np.isfinite(W)) and np.all(H >= 0)
    # an exact rank-one matrix is recovered by its first component
    u, v = np.arange(1.0, 5.0), np.arange(1.0, 4.0)
    W, H = nndsvda_init(np.outer(u, v), 1, np.random.RandomState(0))
    np.testing.assert_allclose(W @ H, np.outer(u, v), rtol=1e-10)


def test_check_init_pair_errors():
    good = (np.ones((4, 2)), np.ones((2, 3)))
    W, H = check_init_pair(good, (4, 3), 2, "f")
    assert W is not good[0]
    with pytest.raises(ValueError, match="length 3"):
        check_init_pair(good + (1,), (4, 3), 2, "f")
    with pytest.raises(ValueError, match=r"init H has shape \(2, 4\)"):
        check_init_pair((np.ones((4, 2)), np.ones((2, 4))), (4, 3), 2, "f")
    with pytest.raises(ValueError, match="init W contains NaN"):
        check_init_pair((np.full((4, 2), np.nan), np.ones((2, 3))), (4, 3), 2, "f")
    with pytest.raises(ValueError, match="init W has 8 negative"):
        check_init_pair((-np.ones((4, 2)), np.ones((2, 3))), (4, 3), 2, "f")
    with pytest.raises(TypeError, match="init H must be a numeric array"):
        check_init_pair((np.ones((4, 2)), "abc"), (4, 3), 2, "f")


def _cvxpy_activations(X, H, beta, alpha, penalty):
    X = _dense(X)
    V = cp.Variable((X.shape[0], H.shape[0]), nonneg=True)
    Y = V @ H
    if beta == 1:
        fit = cp.sum(Y) - cp.sum(cp.multiply(X, cp.log(Y)))
    else:
        fit = 0.5 * cp.sum_squares(X - Y)
    reg = cp.sum(V) if penalty == "l1" else cp.sum_squares(V)
    cp.Problem(cp.Minimize(fit + alpha * reg)).solve(solver="CLARABEL")
    return np.maximum(V.value, _mu.EPSILON)


@pytest.mark.parametrize("beta", [1, 2])
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_exact_w_step_matches_cvxpy(beta, penalty, alpha):
    X, W0, H = _problem(11, m=8, n=10, r=3)
    W, monitor = solve_activations(X, H, W0, beta=beta, alpha=alpha, penalty=penalty)
    assert monitor.converged
    reference = _cvxpy_activations(X, H, beta, alpha, penalty)

    def f(W_):
        return _mu.objective(X, W_, H, beta, alpha, 0.0, penalty, "l1")

    # at least as good as the interior-point solution, and the same point
    assert f(W) <= f(reference) + 1e-7 * abs(f(reference))
    np.testing.assert_allclose(W, reference, atol=2e-3)
    # sparse input gives the same answer
    Ws, _ = solve_activations(
        sp.csr_matrix(X), H, W0, beta=beta, alpha=alpha, penalty=penalty
    )
    np.testing.assert_allclose(Ws, W, atol=1e-10)


def test_exact_w_step_rows_are_independent():
    X, W0, H = _problem(12, m=9, n=6, r=3)
    W, _ = solve_activations(X, H, W0, beta=1, alpha=0.2, penalty="l1")
    for rows in (slice(0, 4), slice(4, 9)):
        Wr, _ = solve_activations(X[rows], H, W0[rows], beta=1, alpha=0.2, penalty="l1")
        np.testing.assert_allclose(Wr, W[rows], rtol=1e-9, atol=1e-12)


def test_exact_w_step_is_never_worse_than_mu():
    X, W0, H = _problem(13, m=20, n=15, r=4)
    W_mu, _, _ = _mu.fit_mu(
        X,
        W0,
        H,
        beta=1,
        alpha_W=0.1,
        alpha_H=0.0,
        penalty_W="l1",
        penalty_H="l1",
        fit_H=False,
        max_iter=3000,
        tol=0,
    )
    W_newton, _ = solve_activations(X, H, W0, beta=1, alpha=0.1, penalty="l1")
    f = lambda W_: _mu.objective(X, W_, H, 1, 0.1, 0.0, "l1", "l1")  # noqa: E731
    assert f(W_newton) <= f(W_mu) + 1e-12 * f(W_mu)


def test_balance_keeps_entries_above_the_floor():
    rng = np.random.default_rng(14)
    W = rng.uniform(0.5, 1.0, size=(6, 2))
    H = rng.uniform(0.5, 1.0, size=(2, 5))
    W[:, 0] = _mu.EPSILON  # a dead component: balancing would push W below 1e-16
    W2, H2 = _mu.balance(W, H, 1.0, 1e-3, "l1", "l1")
    assert W2.min() >= _mu.EPSILON * (1 - 1e-12) and H2.min() >= _mu.EPSILON * (
        1 - 1e-12
    )
    np.testing.assert_allclose(W2 @ H2, W @ H, rtol=1e-12)
    assert _mu.penalty(W2, H2, 1.0, 1e-3, "l1", "l1") <= _mu.penalty(
        W, H, 1.0, 1e-3, "l1", "l1"
    )
    # the live component gets the unconstrained optimum: 1 * |w| = 1e-3 * |h|
    assert W2[:, 1].sum() == pytest.approx(1e-3 * H2[1].sum(), rel=1e-10)


def test_sparse_frobenius_objective_is_zero_at_an_exact_fit():
    rng = np.random.default_rng(15)
    W, H = rng.uniform(size=(4, 2)), rng.uniform(size=(2, 3))
    assert _mu.beta_divergence(sp.csr_matrix(W @ H), W, H, 2) <= 1e-25


def test_kl_log_term_is_the_log_part_of_the_divergence():
    X, W, H = _problem(21, m=40, n=30)
    y = (W @ H).reshape(-1)
    x = X.reshape(-1)
    ratio = np.empty_like(y)
    value = _objective.kl_log_term(x, y, ratio)
    support = x > 0
    expected = np.sum(x[support] * np.log(x[support] / y[support]))
    np.testing.assert_allclose(value, expected, rtol=1e-13)
    np.testing.assert_allclose(ratio, x / y, rtol=1e-15)
    # a model entry below the smallest normal number is floored
    y[np.flatnonzero(support)[0]] = 0.0
    assert np.isfinite(_objective.kl_log_term(x, y, ratio))


@pytest.mark.parametrize("sparse", [False, True])
def test_frobenius_objective_from_the_gram_identity(sparse):
    """The Frobenius iterations take the fit term from X H^T and the Gram
    matrices; it equals the residual's on a problem of some size."""
    rng = np.random.default_rng(3)
    W_true, H_true = rng.uniform(0, 1, (60, 4)), rng.uniform(0, 1, (4, 40))
    X = rng.poisson(20 * W_true @ H_true).astype(float)
    X = sp.csr_matrix(X) if sparse else X
    W0, H0 = rng.uniform(0.1, 1, (60, 4)), rng.uniform(0.1, 1, (4, 40))
    args = (2, 0.5, 0.2, "l1", "l2")
    _, _, monitor = _mu.fit_mu(
        X, W0, H0, beta=2, alpha_W=0.5, alpha_H=0.2, penalty_W="l1",
        penalty_H="l2", max_iter=30, tol=0,
    )  # fmt: skip
    _, _, history = _reference_mu(X, W0, H0, args, 30)
    np.testing.assert_allclose(monitor.history, history, rtol=1e-10)


@pytest.mark.parametrize("solver", ["mu", "cd"])
def test_frobenius_objective_at_an_exact_fit_is_the_residuals(solver):
    """Near an exact fit the Gram identity keeps no digits: the residual
    itself is summed (no cancellation noise of the size of ||X||^2 eps)."""
    from skfactor.decomposition._cd import fit_cd

    rng = np.random.default_rng(4)
    W, H = rng.uniform(0.5, 1, (30, 3)), rng.uniform(0.5, 1, (3, 20))
    X = W @ H * 1e4
    fit = _mu.fit_mu if solver == "mu" else fit_cd
    _, _, monitor = fit(
        X, W * 100, H * 100, beta=2, alpha_W=0.0, alpha_H=0.0, penalty_W="l1",
        penalty_H="l1", balance_every=False, max_iter=3, tol=0,
    )  # fmt: skip
    for value in monitor.history:
        assert 0.0 <= value <= 1e-20 * 0.5 * np.sum(X**2)


@pytest.mark.parametrize("penalties", [("l1", "l1"), ("l2", "l1"), ("l1", "l2")])
def test_balance_in_place_returns_scales_and_the_new_penalty(penalties):
    from skfactor.decomposition._mm_steps import balance_in_place, make_penalties

    _, W, H = _problem(9)
    W = W * np.array([100.0, 1.0, 0.01])
    W2, Ht2 = W.copy(), np.ascontiguousarray(H.T)
    scale, penalty = balance_in_place(W2, Ht2, make_penalties(0.3, 2.0, *penalties))
    np.testing.assert_allclose(W2, W * scale, rtol=1e-15)
    np.testing.assert_allclose(Ht2, H.T / scale, rtol=1e-15)
    expected = _mu.penalty(W2, Ht2.T, 0.3, 2.0, *penalties)
    np.testing.assert_allclose(penalty, expected, rtol=1e-12)


def test_exact_w_step_on_long_rows_satisfies_kkt():
    """Rows of at least _BLAS_ROW nonzeros take their Hessian from one BLAS
    product: the W-step still lands on the KKT point of every row."""
    from skfactor.decomposition._newton_step import _BLAS_ROW

    rng = np.random.default_rng(5)
    n_columns = 2 * _BLAS_ROW
    H = rng.uniform(0.1, 1.0, (4, n_columns))
    X = rng.poisson(rng.uniform(0.5, 3, (6, 4)) @ H).astype(float)
    W, monitor = solve_activations(
        X, H, np.ones((6, 4)), beta=1, alpha=0.5, penalty="l1"
    )
    assert monitor.converged
    grad = H.sum(axis=1) - (X / (W @ H)) @ H.T + 0.5
    interior = W > 1e-6
    assert np.all(np.abs(grad[interior]) <= 1e-8 * np.abs(H).sum())
    assert np.all(grad[~interior] >= -1e-8)
