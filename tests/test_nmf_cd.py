"""Coordinate-descent solvers of BalancedSparseNMF (KL: cyclic 1-D Newton,
Frobenius: HALS): monotone objective, same stationary point as the
multiplicative updates, sparse equal to dense, and the estimator contract."""

import warnings
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from skfactor import BalancedSparseNMF
from skfactor.decomposition import _batches, _cd, _hals, _kl_cd, _kl_mu, _mu
from skfactor.decomposition._cd import fit_cd
from skfactor.decomposition._mm_steps import make_penalties
from skfactor.decomposition._objective import csr_arrays

PENALTIES = ["l1", "l2"]


def _problem(seed, m=8, n=6, r=3, density=0.6, sparse=False):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.1, 2, size=(m, r))
    H = rng.uniform(0.1, 2, size=(r, n))
    X = rng.poisson(3 * W @ H).astype(float) * (rng.uniform(size=(m, n)) < density)
    X[0] = 0.0  # an all-zero row
    X = sp.csr_matrix(X) if sparse else X
    W0 = rng.uniform(0.1, 1, size=(m, r))
    H0 = rng.uniform(0.1, 1, size=(r, n))
    return X, W0, H0


def _kwargs(beta, aW, aH, pW, pH, **extra):
    return dict(beta=beta, alpha_W=aW, alpha_H=aH, penalty_W=pW, penalty_H=pH, **extra)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    beta=st.sampled_from([1, 2]),
    pW=st.sampled_from(PENALTIES),
    pH=st.sampled_from(PENALTIES),
    aW=st.sampled_from([0.0, 0.05, 2.0]),
    aH=st.sampled_from([0.0, 0.5, 20.0]),
    layout=st.sampled_from(["csr", "dense rows", "gathered rows"]),
    balance=st.booleans(),
    n_inner=st.sampled_from([1, 2, "auto"]),
)
def test_cd_objective_never_increases(
    seed, beta, pW, pH, aW, aH, layout, balance, n_inner
):
    if n_inner == "auto" and beta == 1:
        n_inner = 1  # accelerated sweeps are Frobenius only
    sparse = layout == "csr"
    X, W, H = _problem(seed, sparse=sparse)
    kwargs = _kwargs(beta, aW, aH, pW, pH, balance_every=balance, n_inner=n_inner)
    # dense data: swept row by row with their zeros, or gathered as for CSR
    density = 0.0 if layout == "dense rows" else 2.0
    with mock.patch.object(_kl_cd, "DENSE_MIN_DENSITY", density):
        # 15 iterations, the accelerated ones after the single-sweep start
        W1, H1, monitor = fit_cd(X, W, H, **kwargs, max_iter=15, tol=0)
    history = np.array(monitor.history)
    # the Frobenius fit is evaluated from ||X||^2 - 2<WH, X> + ||WH||^2
    noise = 1e-12 * (float(X.multiply(X).sum()) if sparse else float(np.sum(X**2)))
    assert np.all(np.diff(history) <= 1e-10 * np.abs(history[:-1]) + noise)
    # the tracked objective is the objective of the returned factors
    exact = _mu.objective(X, W1, H1, beta, aW, aH, pW, pH)
    assert history[-1] == pytest.approx(exact, rel=1e-9, abs=10 * noise)
    assert W1.min() >= _mu.EPSILON and H1.min() >= _mu.EPSILON


@pytest.mark.parametrize("beta", [1, 2])
@pytest.mark.parametrize("penalties", [("l1", "l1"), ("l2", "l1"), ("l2", "l2")])
def test_cd_and_mu_reach_the_same_stationary_value(beta, penalties):
    """Rank 1 on positive data: a unique balanced minimizer, which both
    solvers reach from the same start."""
    rng = np.random.default_rng(3)
    X = rng.poisson(20 * np.outer(rng.uniform(0.5, 2, 9), rng.uniform(0.5, 2, 7)))
    X = X.astype(float) + rng.uniform(0, 1, size=X.shape)
    W0, H0 = rng.uniform(0.5, 1, (9, 1)), rng.uniform(0.5, 1, (1, 7))
    kwargs = _kwargs(beta, 0.5, 0.3, *penalties)
    W_cd, H_cd, cd = fit_cd(X, W0, H0, **kwargs, max_iter=3000, tol=1e-15)
    W_mu, H_mu, mu = _mu.fit_mu(X, W0, H0, **kwargs, max_iter=20000, tol=1e-15)
    assert cd.history[-1] == pytest.approx(mu.history[-1], rel=1e-9)
    np.testing.assert_allclose(W_cd @ H_cd, W_mu @ H_mu, rtol=1e-5)


@pytest.mark.parametrize("beta", [1, 2])
@pytest.mark.parametrize("penalties", [("l1", "l1"), ("l2", "l1")])
def test_cd_sparse_equals_dense(beta, penalties):
    X, W0, H0 = _problem(5, m=12, n=9, sparse=True)
    kwargs = _kwargs(beta, 0.3, 0.7, *penalties, max_iter=20, tol=0)
    W_s, H_s, sparse = fit_cd(X, W0, H0, **kwargs)
    W_d, H_d, dense = fit_cd(X.toarray(), W0, H0, **kwargs)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-10)
    np.testing.assert_allclose(W_s, W_d, rtol=1e-8)
    np.testing.assert_allclose(H_s, H_d, rtol=1e-8)


@pytest.mark.parametrize("penalties", [("l1", "l1"), ("l2", "l1"), ("l1", "l2")])
@pytest.mark.parametrize("n_inner", [1, 2])
def test_kl_cd_dense_rows_follow_the_gathered_rows(penalties, n_inner, monkeypatch):
    """Dense KL data above DENSE_MIN_DENSITY are swept row by row, zeros
    included, the model formed by BLAS: the iterates of the CSR sweeps."""
    X, W0, H0 = _problem(8, m=13, n=11, density=0.7)
    kwargs = _kwargs(1, 0.3, 1.5, *penalties, max_iter=20, tol=0, n_inner=n_inner)
    runs = {}
    for layout, density in (("dense", 0.0), ("gathered", 2.0)):
        monkeypatch.setattr(_kl_cd, "DENSE_MIN_DENSITY", density)
        runs[layout] = fit_cd(X, W0, H0, **kwargs)
    (W_d, H_d, dense), (W_g, H_g, gathered) = runs["dense"], runs["gathered"]
    np.testing.assert_allclose(dense.history, gathered.history, rtol=1e-11)
    np.testing.assert_allclose(W_d, W_g, rtol=1e-9)
    np.testing.assert_allclose(H_d, H_g, rtol=1e-9)


@given(
    shape=st.tuples(st.integers(0, 7), st.integers(0, 7)),
    seed=st.integers(0, 2**16),
    fortran=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_csr_arrays_of_dense_data_are_scipys(shape, seed, fortran):
    """The compiled copy of the nonzeros of dense X (any layout; zero rows,
    negative zeros and NaN included) gives scipy's canonical CSR arrays."""
    rng = np.random.default_rng(seed)
    X = rng.choice(
        [0.0, -0.0, 1.5, 3.0, np.nan], size=shape, p=[0.4, 0.1, 0.2, 0.2, 0.1]
    )
    if fortran:
        X = np.asfortranarray(X)
    rows = csr_arrays(X)
    expected = sp.csr_matrix(X)
    np.testing.assert_array_equal(rows.indptr, expected.indptr)
    np.testing.assert_array_equal(rows.indices, expected.indices)
    np.testing.assert_array_equal(rows.data, X[np.nonzero(X)])
    assert rows.indptr.dtype == rows.indices.dtype == np.int64


def test_kl_cd_single_sweeps_agree_across_layouts():
    """One sweep of W: the dense rows (zeros included) and the gathered
    nonzeros give the same entries and the same model at the nonzeros."""
    X, W0, H0 = _problem(9, m=10, n=14, r=4, density=0.5)
    weight = make_penalties(0.4, 0.0, "l2", "l1").W
    rows = csr_arrays(X)
    W_g = W0.copy()
    model_g = np.empty(rows.data.size)
    _kl_cd.model_values(rows, W_g, np.ascontiguousarray(H0.T), model_g)
    _kl_cd.cd_sweep(rows, W_g, np.ascontiguousarray(H0.T), weight, model_g, 2)
    W_d = W0.copy()
    model_d = W0 @ H0
    _kl_cd.dense_cd_sweep(X, W_d, np.ascontiguousarray(H0), weight, model_d, 2)
    assert not np.allclose(W_d, W0)  # the sweep moved
    np.testing.assert_allclose(W_d, W_g, rtol=1e-12)
    np.testing.assert_allclose(model_d[X != 0], model_g, rtol=1e-12)
    # (incremental: exact up to cancellation, e.g. on the all-zero row)
    np.testing.assert_allclose(model_d, W_d @ H0, atol=1e-12 * model_d.max())


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_kl_cd_of_W_alone_keeps_H_and_reaches_the_exact_W_step(sparse, penalty):
    """fit_H=False (transform's warm-up): H untouched, the objective never
    increases, and the sweeps converge to the projected-Newton W-step."""
    from skfactor.decomposition._newton import solve_activations

    X, W0, H0 = _problem(13, m=11, n=9, density=0.8, sparse=sparse)
    kwargs = _kwargs(1, 0.4, 0.0, penalty, "l1", fit_H=False, tol=0)
    W, H, monitor = fit_cd(X, W0, H0, **kwargs, max_iter=3000)
    np.testing.assert_array_equal(H, H0)
    history = np.array(monitor.history)
    assert np.all(np.diff(history) <= 1e-12 * np.abs(history[:-1]))
    W_exact, _ = solve_activations(
        X, H0, W0, beta=1, alpha=0.4, penalty=penalty, max_iter=200
    )
    np.testing.assert_allclose(W, W_exact, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="fit_H"):
        fit_cd(X, W0, H0, **_kwargs(2, 0.4, 0.0, "l1", "l1", fit_H=False))


def test_kl_cd_transposed_nonzeros_and_their_positions():
    """The nonzeros of X^T, and where each sits among those of X (the H-sweep
    reads the W-sweep's model through it), for unsorted CSR input with
    duplicates."""
    rng = np.random.default_rng(4)
    rows_, cols = rng.integers(0, 7, 40), rng.integers(0, 5, 40)
    X = sp.csr_matrix((rng.uniform(1, 2, 40), (rows_, cols)), shape=(7, 5))
    X.has_sorted_indices = False  # as read from a file, say
    rows, rows_T, to_T = _kl_cd._transposed(X)
    dense = X.toarray()
    for nonzeros, matrix in ((rows, dense), (rows_T, dense.T)):
        rebuilt = sp.csr_matrix(
            (nonzeros.data, nonzeros.indices, nonzeros.indptr), shape=matrix.shape
        )
        np.testing.assert_array_equal(rebuilt.toarray(), matrix)
    i_of = np.repeat(np.arange(7), np.diff(rows.indptr))
    j_of = np.repeat(np.arange(5), np.diff(rows_T.indptr))
    np.testing.assert_array_equal(rows.indices[to_T], j_of)
    np.testing.assert_array_equal(i_of[to_T], rows_T.indices)
    np.testing.assert_array_equal(rows.data[to_T], rows_T.data)


def test_kl_cd_step_ignores_zeros_whose_model_vanishes():
    """A step that drives the model at a zero of X to (or, by rounding,
    below) 0 floors it there and leaves the bound and derivatives those of
    the nonzeros alone: no 0 * inf."""
    x = np.array([3.0, 0.0, 2.0])
    g = np.array([1.0, 1e30, 0.5])
    g_next = np.array([0.2, 1e30, 1.0])
    model = np.array([2.0, 1e-300, 1.5])
    inv = np.empty(3)
    _kl_cd._inverse(x, model, inv)
    assert inv[1] == 0.0
    s = -1.0  # the model at the zero goes to -1e30, floored
    bound, first, second = _kl_cd._move(x, g, g_next, s, model, inv)
    assert model[1] == np.finfo(float).tiny and inv[1] == 0.0
    y = np.array([1.0, 1.0])  # the nonzeros' new model: 2 - 1, 1.5 - 0.5
    np.testing.assert_allclose(model[[0, 2]], y)
    xs, gs, gn = x[[0, 2]], g[[0, 2]], g_next[[0, 2]]
    expected_bound = 0.5 * s**2 * np.sum(xs * gs**2 / (np.array([2.0, 1.5]) * y))
    np.testing.assert_allclose(bound, expected_bound, rtol=1e-14)
    np.testing.assert_allclose(first, np.sum(xs * gn / y), rtol=1e-14)
    np.testing.assert_allclose(second, np.sum(xs * gn**2 / y**2), rtol=1e-14)


@pytest.mark.parametrize("balance", [True, False])
@pytest.mark.parametrize(
    "beta, fit, n_inner, tol",
    [
        (2, fit_cd, 2, 1e-6),
        (2, fit_cd, "auto", 1e-6),
        (2, _mu.fit_mu, 2, 1e-6),
        (1, fit_cd, 1, 3e-6),
    ],
    ids=["hals", "accelerated hals", "mu", "kl cd"],
)
def test_compiled_batches_follow_the_single_iterations(
    beta, fit, n_inner, tol, balance, monkeypatch
):
    """Small dense data run compiled batches of Frobenius and of dense
    Kullback-Leibler coordinate-descent iterations; a stop inside a batch
    (by tol or max_iter) keeps that iteration's factors."""
    X, W0, H0 = _problem(11, m=14, n=10)
    kwargs = _kwargs(beta, 0.3, 1.5, "l1", "l2", balance_every=balance, n_inner=n_inner)
    stops = [(23, 0), (500, tol)]
    batched = [fit(X, W0, H0, **kwargs, max_iter=m, tol=t) for m, t in stops]
    monkeypatch.setattr(_batches, "BATCH_MAX_WORK", 0)
    single = [fit(X, W0, H0, **kwargs, max_iter=m, tol=t) for m, t in stops]
    for (W_b, H_b, b), (W_s, H_s, s) in zip(batched, single):
        assert len(b.history) == len(s.history)
        assert len(b.history) % _batches.BATCH != 1  # stopped inside a batch
        np.testing.assert_allclose(b.history, s.history, rtol=1e-11)
        np.testing.assert_allclose(W_b, W_s, rtol=1e-9)
        np.testing.assert_allclose(H_b, H_s, rtol=1e-9)


@pytest.mark.parametrize(
    "m, n, r",
    [(14, 10, 3), (60, 50, 5), (7, 13, 2), (1, 3, 1), (600, 9, 8), (20, 9, 12)],
    ids=["small", "grid", "odd", "tiny", "blas", "blas rank"],
)
def test_dense_times_is_the_product(m, n, r):
    """The batches' compiled product is ``A @ F`` with either argument
    order, whatever the remainder of its four-row steps (n % 4), and falls
    back to BLAS past PRODUCT_MAX_OUTPUT or PRODUCT_MAX_RANK (the last two
    cases)."""
    rng = np.random.default_rng(m + n + r)
    A, F, G = rng.random((m, n)), rng.random((n, r)), rng.random((m, r))
    AT = np.ascontiguousarray(A.T)
    for product, expected in [
        (_batches.dense_times(A, AT, F), A @ F),
        (_batches.dense_times(AT, A, G), A.T @ G),
    ]:
        assert product.flags.c_contiguous and product.shape == expected.shape
        np.testing.assert_allclose(product, expected, rtol=1e-13)
    blas = m * r > _batches.PRODUCT_MAX_OUTPUT or r > _batches.PRODUCT_MAX_RANK
    assert blas == (m in (600, 20))


@pytest.mark.parametrize("exact", [False, True])
def test_low_rank_hals_is_hals_on_the_product(exact):
    """HALS on ``Q @ B`` in factored form follows HALS on the dense product,
    iterate for iterate, also where the fit is exact (the Gram identity
    cancels and the residual is summed)."""
    rng = np.random.default_rng(3)
    W_true, H_true = rng.uniform(0.5, 2, (30, 3)), rng.uniform(0.5, 2, (3, 20))
    X = W_true @ H_true + (0 if exact else rng.uniform(size=(30, 20)))
    Q, _ = np.linalg.qr(np.column_stack([W_true, rng.standard_normal((30, 5))]))
    if not exact:
        Q = np.linalg.qr(X @ rng.standard_normal((20, 8)))[0]
    B = Q.T @ X
    W0, H0 = (W_true, H_true) if exact else (rng.uniform(size=(30, 3)), H_true)
    penalties = make_penalties(0.0 if exact else 0.2, 0.0, "l1", "l2")
    options = dict(balance_every=not exact, n_inner=2)
    low_rank = _hals.LowRankHALS(Q, B, W0, H0, penalties, **options)
    dense = _hals.HALS(Q @ B, W0, H0, penalties, **options)
    assert low_rank.start() == pytest.approx(dense.start(), rel=1e-10, abs=1e-20)
    for _ in range(6):
        assert low_rank.iterate(1) == pytest.approx(
            dense.iterate(1), rel=1e-9, abs=1e-18
        )
        np.testing.assert_allclose(low_rank.W, dense.W, rtol=1e-9)
        np.testing.assert_allclose(low_rank.Ht, dense.Ht, rtol=1e-9)
    if exact:
        assert low_rank.start() < 1e-20 * np.sum(X * X)


def test_low_rank_hals_counts_the_cost_of_its_products():
    """Accelerated HALS on ``Q @ B`` sweeps as often as products of its
    cost, (m + n) l entries, allow (and never in compiled batches)."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((300, 12)))[0]
    B = rng.uniform(size=(12, 200))
    W, H = rng.uniform(size=(300, 4)), rng.uniform(size=(4, 200))
    hals = _hals.LowRankHALS(
        Q, B, W, H, make_penalties(0, 0, "l1", "l1"), balance_every=True, n_inner="auto"
    )
    limits = _hals.inner_sweep_limits(300, 200, 500 * 12, 4)
    assert (hals.schedule.sweeps_W, hals.schedule.sweeps_H) == limits
    assert hals.batch == 1


@pytest.mark.parametrize("weight", [(0.7, 1.0), (0.7, 2.0), (0.0, 1.0)])
def test_transposed_sweep_is_the_hals_sweep(weight):
    """The sweep over the transposed factor gives the column-by-column
    HALS sweep (the oracle), and reports the squared change."""
    rng = np.random.default_rng(4)
    F = rng.uniform(0, 1, (13, 4))
    G = rng.uniform(0, 1, (4, 9))
    A = rng.uniform(0, 3, (13, 9)) @ G.T
    B = G @ G.T
    expected = F.copy()
    _hals.hals_columns(expected, A, B, weight)
    Ft, At = np.ascontiguousarray(F.T), np.ascontiguousarray(A.T)
    change = _hals._sweep_transposed(Ft, At, B, weight, np.empty(13))
    np.testing.assert_allclose(Ft.T, expected, rtol=1e-12, atol=1e-15)
    assert change == pytest.approx(np.sum((expected - F) ** 2), rel=1e-10)
    assert expected.min() >= _mu.EPSILON


def test_inner_sweeps_stop_when_a_sweep_changes_little():
    """delta = 0 runs every sweep (as repeated column sweeps); delta > 0 stops
    after the first sweep whose change is at most delta times the first's."""
    rng = np.random.default_rng(5)
    F = rng.uniform(0, 1, (20, 3))
    G = rng.uniform(0, 1, (3, 15))
    A = rng.uniform(0, 3, (20, 15)) @ G.T
    B, weight = G @ G.T, (0.1, 1.0)
    repeated, changes = F.copy(), []
    for _ in range(6):
        before = repeated.copy()
        _hals.hals_columns(repeated, A, B, weight)
        changes.append(np.sum((repeated - before) ** 2))
    full = F.copy()
    _hals.inner_sweeps(full, A, B, weight, 6, 0.0)
    np.testing.assert_allclose(full, repeated, rtol=1e-11)
    delta = np.sqrt(changes[2] / changes[0]) * 1.000001  # stop after sweep 3
    assert changes[1] > delta**2 * changes[0]
    early, three = F.copy(), F.copy()
    _hals.inner_sweeps(early, A, B, weight, 6, delta)
    _hals.inner_sweeps(three, A, B, weight, 3, 0.0)
    np.testing.assert_allclose(early, three, rtol=1e-12)


def test_inner_sweep_limits_follow_the_relative_cost():
    """1 + floor(rho / 2), rho the cost of the products over a sweep: more
    sweeps for the factor with fewer rows, none extra when products are
    cheap."""
    assert _hals.inner_sweep_limits(1000, 500, 500_000, 10) == (24, 47)
    assert _hals.inner_sweep_limits(100, 100, 50, 20) == (1, 1)
    m, n, K, r = 300, 200, 60_000, 8
    rho_W = 1 + (K + n * r) / (m * (r + 1))
    assert _hals.inner_sweep_limits(m, n, K, r)[0] == 1 + int(rho_W / 2)


def test_accelerated_hals_starts_with_single_sweeps(monkeypatch):
    """n_inner="auto": the first SINGLE_SWEEP_ITERATIONS iterations are those
    of n_inner=1, the later ones sweep more and lower the objective faster."""
    X, W0, H0 = _problem(13, m=30, n=25, density=1.0)
    kwargs = _kwargs(2, 0.3, 0.3, "l1", "l1", tol=0)
    start = _hals.SINGLE_SWEEP_ITERATIONS
    _, _, auto = fit_cd(X, W0, H0, **kwargs, n_inner="auto", max_iter=start + 5)
    _, _, one = fit_cd(X, W0, H0, **kwargs, n_inner=1, max_iter=start + 5)
    np.testing.assert_allclose(auto.history[: start + 1], one.history[: start + 1])
    assert auto.history[-1] < one.history[-1]


def test_estimator_n_inner_auto_rule():
    X, _, _ = _problem(12, m=15, n=10)
    rule = {
        ("frobenius", "cd"): "auto",
        ("frobenius", "mu"): 1,
        ("kullback-leibler", "cd"): 1,
        ("kullback-leibler", "mu"): 1,
    }
    for (loss, solver), expected in rule.items():
        model = BalancedSparseNMF(2, beta_loss=loss, solver=solver, random_state=0)
        assert model._resolved_n_inner() == expected
        assert model.set_params(n_inner=3)._resolved_n_inner() == 3
    kl = dict(beta_loss="kullback-leibler", max_iter=5, tol=0, random_state=0)
    np.testing.assert_array_equal(
        BalancedSparseNMF(2, **kl).fit(X).objective_,
        BalancedSparseNMF(2, n_inner=1, **kl).fit(X).objective_,
    )


def test_kl_updates_take_blas_on_dense_data_only():
    """The cost model of the two Kullback-Leibler paths: BLAS for dense
    matrices past tiny sizes, the sweeps over the nonzeros for mostly-zero
    arrays (whose zeros BLAS would multiply) and always for sparse input."""
    rng = np.random.default_rng(0)
    X = rng.uniform(1.0, 2.0, (200, 120))
    assert _kl_mu.blas_pays(X, 8)
    assert not _kl_mu.blas_pays(X[:20, :20], 3)
    mostly_zero = X * (rng.uniform(size=X.shape) < 0.2)
    assert not _kl_mu.blas_pays(mostly_zero, 8)
    assert not _kl_mu.blas_pays(sp.csr_matrix(X), 8)


@pytest.mark.parametrize("penalties", [("l1", "l1"), ("l2", "l2"), ("l1", "l2")])
def test_blas_kl_updates_follow_the_compiled_sweeps(penalties, monkeypatch):
    """Dense KL data where BLAS pays use BLAS products: same iterates."""
    X, W0, H0 = _problem(7, m=12, n=9)
    kwargs = _kwargs(1, 0.3, 1.5, *penalties, max_iter=25, tol=0)
    W, H, sweeps = _mu.fit_mu(X, W0, H0, **kwargs)
    monkeypatch.setattr(_kl_mu, "blas_pays", lambda X, rank: True)
    W_b, H_b, blas = _mu.fit_mu(X, W0, H0, **kwargs)
    np.testing.assert_allclose(blas.history, sweeps.history, rtol=1e-11)
    np.testing.assert_allclose(W_b, W, rtol=1e-9)
    np.testing.assert_allclose(H_b, H, rtol=1e-9)
    W_i, _, inner = _mu.fit_mu(X, W0, H0, **kwargs | dict(n_inner=3))
    monkeypatch.setattr(_kl_mu, "blas_pays", lambda X, rank: False)
    W_j, _, inner_sweeps = _mu.fit_mu(X, W0, H0, **kwargs | dict(n_inner=3))
    np.testing.assert_allclose(inner.history, inner_sweeps.history, rtol=1e-11)


@pytest.mark.parametrize("beta_loss", ["kullback-leibler", "frobenius"])
@pytest.mark.parametrize("solver", ["mu", "cd"])
@pytest.mark.parametrize("sparse", [False, True])
def test_estimator_solvers_fit_transform_equals_transform(beta_loss, solver, sparse):
    X, _, _ = _problem(11, m=20, n=12, sparse=sparse)
    model = BalancedSparseNMF(
        3,
        beta_loss=beta_loss,
        solver=solver,
        alpha_W=0.2,
        alpha_H=0.2,
        random_state=0,
        max_iter=300,
    )
    W = model.fit_transform(X)
    np.testing.assert_allclose(W, model.transform(X), rtol=1e-6, atol=1e-9)
    assert np.all(np.diff(model.objective_) <= 1e-9 * model.objective_[:-1])


def test_auto_solver_rule():
    X, _, _ = _problem(12, m=15, n=10)
    for loss, expected in (("frobenius", "cd"), ("kullback-leibler", "cd")):
        model = BalancedSparseNMF(2, beta_loss=loss, max_iter=5, tol=0, random_state=0)
        assert model._resolved_solver() == expected
        explicit = BalancedSparseNMF(
            2, beta_loss=loss, solver=expected, max_iter=5, random_state=0
        )
        np.testing.assert_array_equal(
            model.fit(X).objective_, explicit.set_params(tol=0).fit(X).objective_
        )


def test_bad_solver_is_named():
    with pytest.raises(ValueError, match="solver"):
        BalancedSparseNMF(2, solver="newton").fit(np.ones((4, 3)))


def test_auto_rank_is_low_and_found_from_the_spectrum():
    from skfactor.datasets import make_sparse_nmf

    X, _, _ = make_sparse_nmf(60, 50, 5, random_state=0)
    assert BalancedSparseNMF(max_iter=5, tol=0).fit(X).n_components_ == 5
    assert BalancedSparseNMF(max_iter=5, tol=0).fit(sp.csr_matrix(X)).n_components_ == 5
    # a flat spectrum: never more than a fifth of min(n_samples, n_features)
    rng = np.random.default_rng(0)
    for shape in [(200, 60), (40, 300), (7, 7)]:
        noise = rng.uniform(size=shape)
        model = BalancedSparseNMF(max_iter=2, tol=0, random_state=0).fit(noise)
        assert 1 <= model.n_components_ <= max(1, min(shape) // 5)


def test_large_rank_warns_about_the_exact_w_step(monkeypatch):
    from skfactor.decomposition import _nmf

    X, _, _ = _problem(13, m=20, n=12)
    work = _nmf._newton_work(X, 4, "frobenius", "l1")
    assert work == 20 * 4**3 / 3
    monkeypatch.setattr(_nmf, "_NEWTON_WORK_WARN", work - 1)
    with pytest.warns(UserWarning, match="exact W-step"):
        BalancedSparseNMF(4, beta_loss="frobenius", max_iter=2, tol=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        BalancedSparseNMF(3, beta_loss="frobenius", max_iter=2, tol=0).fit(X)


def test_newton_work_counts_sparse_kullback_leibler_rows_by_their_nonzeros():
    """At a Kullback-Leibler optimum (l1 penalty) a row's free components
    are usually its nonzeros plus one at most: the solves the warning
    counts are that small on sparse rows, whatever the rank."""
    from skfactor.decomposition import _nmf

    X = np.array([[0.0, 0.0, 1.0, 0.0, 2.0], [0.0] * 5, [1.0] * 5])
    for data in (X, sp.csr_matrix(X)):
        work = _nmf._newton_work(data, 4, "kullback-leibler", "l1")
        assert work == (3**3 + 1**3 + 4**3) / 3
        assert _nmf._newton_work(data, 4, "kullback-leibler", "l2") == 3 * 4**3 / 3


def test_verbose_prints_a_line_every_tenth_of_the_iterations(capsys):
    # multiplicative updates: they run all 100 iterations (coordinate
    # descent from its Frobenius start stops early, at a change of 0)
    X, _, _ = _problem(14, m=20, n=12)
    BalancedSparseNMF(2, solver="mu", max_iter=100, tol=0, verbose=1).fit(X)
    lines = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("[BalancedSparseNMF]")
    ]
    assert 10 <= len(lines) <= 12  # initialization, every 10th iteration


def test_proximal_mf_verbose_does_not_print_its_internal_w_solve(capsys):
    from skfactor import ProximalMF

    X, _, _ = _problem(15, m=20, n=12)
    ProximalMF(2, max_iter=50, tol=0, verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert ".transform" not in out
    assert 5 <= len(out.splitlines()) <= 12


# -- Frobenius start of Kullback-Leibler coordinate descent -----------------


def _kl_state(X, W, H, alpha=0.3):
    penalties = make_penalties(alpha, alpha, "l1", "l1")
    options = dict(balance_every=True, n_inner=1, fit_H=True)
    return _kl_cd.kl_coordinate_descent(X, W, H, penalties, **options)


def test_matched_frobenius_penalties_scale_by_the_mean_nonzero():
    X = np.array([[0.0, 2.0, 4.0], [6.0, 0.0, 0.0]])
    penalties = make_penalties(0.5, 2.0, "l1", "l2")
    for data in (X, sp.csr_matrix(X)):
        matched = _cd.matched_frobenius_penalties(data, penalties)
        assert matched.W == (0.5 * 4.0, 1.0) and matched.H == (2.0 * 4.0, 2.0)


def test_frobenius_start_runs_where_hals_sweeps_cost_less_than_products():
    """(m + n) r <= nonzeros: every dense matrix up to rank mn / (m + n);
    a sparse one with fewer nonzeros per row and column than the rank is
    left to coordinate descent alone."""
    X = np.ones((60, 40))
    assert _cd.frobenius_start_pays(X, 24) and not _cd.frobenius_start_pays(X, 25)
    X = sp.random(200, 100, density=0.05, format="csr", random_state=0)  # K = 1000
    assert _cd.frobenius_start_pays(X, 3) and not _cd.frobenius_start_pays(X, 4)
    Xs, W, H = _problem(1, m=20, n=15, r=4, density=0.1, sparse=True)
    state = _kl_state(Xs, W, H)
    assert not _cd.frobenius_start(state, Xs, True)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), sparse=st.booleans())
def test_frobenius_start_never_raises_the_kl_objective(seed, sparse):
    X, W, H = _problem(seed, m=20, n=15, r=2, density=0.8, sparse=sparse)
    assert _cd.frobenius_start_pays(X, 2)
    state = _kl_state(X, W, H)
    before = state.start()
    moved = _cd.frobenius_start(state, X, True)
    after = state.start()
    assert after < before if moved else after == before
    W1, H1 = state.factors()
    assert after == pytest.approx(_mu.objective(X, W1, H1, 1, 0.3, 0.3, "l1", "l1"))


def test_frobenius_start_keeps_a_kl_minimizer():
    """From a converged Kullback-Leibler fit, the Frobenius minimizer has a
    higher Kullback-Leibler objective: the start is left as it was."""
    X, W, H = _problem(5, m=30, n=20)
    kwargs = _kwargs(1, 0.3, 0.3, "l1", "l1", start_by_frobenius=False)
    W, H, _ = fit_cd(X, W, H, **kwargs, tol=1e-12)
    state = _kl_state(X, W, H)
    assert not _cd.frobenius_start(state, X, True)
    W1, H1 = state.factors()
    assert np.array_equal(W1, W) and np.array_equal(H1, H)


def test_frobenius_start_skips_the_slow_start_of_kl_descent():
    """40 dB Poisson counts from sparse factors: after the Frobenius start,
    one coordinate-descent iteration is below where 20 from the NNDSVDa
    start get, and the fit recovers the factors."""
    from skfactor.datasets import make_sparse_nmf
    from skfactor.decomposition._init import nndsvda_init
    from skfactor.metrics import factor_match_score

    X, W_true, H_true = make_sparse_nmf(120, 80, 5, random_state=0)
    W0, H0 = nndsvda_init(X, 5, np.random.RandomState(0))
    W0, H0 = _mu.rescale_init(X, W0, H0, 1, 1.0, 1.0, "l1", "l1")
    kwargs = _kwargs(1, 1.0, 1.0, "l1", "l1", tol=0)
    *_, plain = fit_cd(X, W0, H0, **kwargs, start_by_frobenius=False, max_iter=20)
    W, H, started = fit_cd(X, W0, H0, **kwargs, max_iter=1)
    assert started.history[-1] < plain.history[-1]
    assert factor_match_score([W_true, H_true.T], [W, H.T]) > 0.99


def test_frobenius_start_fits_a_sketch_of_large_data(monkeypatch):
    """Dense data too large for compiled HALS batches: the start fits the
    sketch Q Q^T X (products of (m + n) l entries instead of m n), and lands
    where the start on X does; the sketch follows ``random_state``."""
    from skfactor.datasets import make_sparse_nmf
    from skfactor.decomposition._init import nndsvda_init

    X, _, _ = make_sparse_nmf(300, 200, 10, random_state=0)
    assert _cd.sketch_pays(X, 10)
    assert not _cd.sketch_pays(X[:100, :100], 10)  # compiled batches
    assert not _cd.sketch_pays(sp.csr_matrix(X), 10)  # sparse: far from low rank
    W0, H0 = nndsvda_init(X, 10, np.random.RandomState(0))
    W0, H0 = _mu.rescale_init(X, W0, H0, 1, 1.0, 1.0, "l1", "l1")
    ends = {}
    for name, seed in [("sketch", 0), ("same seed", 0), ("other seed", 1)]:
        state = _kl_state(X, W0, H0, alpha=1.0)
        assert _cd.frobenius_start(state, X, True, random_state=seed)
        ends[name] = state.start(), state.factors()
    monkeypatch.setattr(_cd, "SKETCH_GAIN", np.inf)  # X itself
    state = _kl_state(X, W0, H0, alpha=1.0)
    assert _cd.frobenius_start(state, X, True)
    plain = state.start()
    assert ends["sketch"][0] == ends["same seed"][0]
    np.testing.assert_array_equal(ends["sketch"][1][0], ends["same seed"][1][0])
    assert ends["sketch"][0] != ends["other seed"][0]
    for value, _ in ends.values():
        assert value == pytest.approx(plain, rel=0.01)


def test_frobenius_hals_starts_on_the_sketch(capsys):
    """Frobenius HALS on data too large for compiled batches first runs on
    the sketch; X's iterations then start near their minimizer and stop
    where HALS on X alone stops, or lower."""
    from skfactor.datasets import make_sparse_nmf

    X, _, _ = make_sparse_nmf(300, 200, 10, random_state=1)
    W0, H0 = _problem(0, m=300, n=200, r=10)[1:]
    kwargs = _kwargs(2, 1.0, 1.0, "l1", "l1", n_inner="auto")
    *_, plain = fit_cd(X, W0, H0, **kwargs, start_by_frobenius=False)
    *_, started = fit_cd(X, W0, H0, **kwargs, verbose=1)
    assert "(sketch start)] initialization: objective of the sketch" in (
        capsys.readouterr().out
    )
    assert started.history[0] < plain.history[-1] * (1 + 1e-3)
    assert started.n_iter < plain.n_iter
    assert started.history[-1] <= plain.history[-1] * (1 + 1e-4)


def test_verbose_shows_the_frobenius_start(capsys):
    X, _, _ = _problem(16, m=20, n=12)
    BalancedSparseNMF(2, max_iter=5, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert "[BalancedSparseNMF (Frobenius start)] initialization: matched" in out
    assert "[BalancedSparseNMF] initialization: objective" in out
