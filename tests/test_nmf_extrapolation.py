"""Extrapolated HALS (skfactor.decomposition._extrapolation): monotone,
the same iterates in compiled batches as one at a time, on sparse as on
dense data and on a factored matrix as on its product, and faster than
plain HALS on the Frobenius start of Kullback-Leibler coordinate descent
and on Frobenius coordinate descent itself."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from skfactor.datasets import make_sparse_nmf
from skfactor.decomposition import _batches, _cd, _extrapolation, _hals
from skfactor.decomposition._init import nndsvda_init
from skfactor.decomposition._mm_steps import make_penalties
from skfactor.decomposition._mu import run_monitored
from skfactor.decomposition._objective import EPSILON, objective
from skfactor.utils._monitor import ConvergenceMonitor

PENALTIES = make_penalties(0.3, 0.8, "l1", "l2")


def _problem(seed, m=40, n=30, r=4):
    X, _, _ = make_sparse_nmf(m, n, r, random_state=seed)
    rng = np.random.default_rng(seed)
    return X, rng.uniform(0.1, 2, (m, r)), rng.uniform(0.1, 2, (r, n))


def _run(hals, n_iter):
    monitor = ConvergenceMonitor(0.0, n_iter)
    W, H = run_monitored(hals, monitor)
    return W, H, np.array(monitor.history)


def test_extrapolated_point_is_projected_and_its_gram_exact():
    rng = np.random.default_rng(0)
    new, old = rng.uniform(size=(9, 3)), rng.uniform(size=(9, 3))
    V, gram = _extrapolation._extrapolated(new, old, 0.7)
    np.testing.assert_array_equal(V, np.maximum(new + 0.7 * (new - old), EPSILON))
    assert V.flags.c_contiguous and V.min() >= EPSILON
    np.testing.assert_allclose(gram, V.T @ V, rtol=1e-13)


def test_momentum_follows_ang_and_gillis():
    """Grows (up to its cap, which grows up to 1) after an accepted
    iteration; shrinks, the cap set to its old value, after a rejected one."""
    momentum = _extrapolation.new_momentum()
    beta = momentum[0]
    _extrapolation._adapt(momentum, True)
    assert momentum[0] == pytest.approx(_extrapolation.GROWTH * beta)
    assert momentum[1] == 1.0
    grown = momentum[0]
    _extrapolation._adapt(momentum, False)
    assert momentum[0] == pytest.approx(grown / _extrapolation.SHRINK)
    assert momentum[1] == grown
    for _ in range(200):
        _extrapolation._adapt(momentum, True)
    assert momentum[0] <= momentum[1] <= 1.0


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.sampled_from([0.25, 1.0, 5.0]))
def test_extrapolated_hals_objective_never_increases(seed, beta):
    """Whatever the extrapolation weight (at 5 most iterations are rejected
    and fall back to the plain one), the objective never increases and is
    that of the factors."""
    X, W0, H0 = _problem(seed, m=12, n=9, r=3)
    hals = _extrapolation.ExtrapolatedHALS(
        X, W0, H0, PENALTIES, balance_every=True, n_inner="auto"
    )
    hals.start()
    hals.momentum[:] = beta, max(beta, 1.0)
    values = [hals.value]
    while len(values) <= 25:
        values.extend(hals.iterate(26 - len(values)))
    assert np.all(np.diff(values) <= 1e-12 * np.abs(values[:-1]))
    W, H = hals.factors()
    penalties = (PENALTIES.W.alpha, PENALTIES.H.alpha, "l1", "l2")
    assert values[-1] == pytest.approx(objective(X, W, H, 2, *penalties), rel=1e-9)


@pytest.mark.parametrize("balance", [True, False])
def test_compiled_batches_follow_the_single_extrapolated_iterations(
    balance, monkeypatch
):
    """The compiled batch and the iteration one at a time give the same
    iterates, and a stop inside a batch keeps that iteration's factors."""
    X, W0, H0 = _problem(1)
    options = dict(balance_every=balance, n_inner="auto")
    batched = _extrapolation.ExtrapolatedHALS(X, W0, H0, PENALTIES, **options)
    assert batched.batch > 1
    W_b, H_b, history_b = _run(batched, 23)
    monkeypatch.setattr(_batches, "BATCH_MAX_WORK", 0)
    single = _extrapolation.ExtrapolatedHALS(X, W0, H0, PENALTIES, **options)
    assert single.batch == 1
    W_s, H_s, history_s = _run(single, 23)
    # the batch's products (_batches.dense_times) sum in another order than
    # BLAS, and the Gram identity's cancellation magnifies the difference
    np.testing.assert_allclose(history_b, history_s, rtol=1e-10)
    np.testing.assert_allclose(W_b, W_s, rtol=1e-9)
    np.testing.assert_allclose(H_b, H_s, rtol=1e-9)


def test_extrapolated_hals_sparse_equals_dense():
    X, W0, H0 = _problem(2)
    X[X < np.quantile(X, 0.4)] = 0.0
    options = dict(balance_every=True, n_inner="auto")
    dense = _run(_extrapolation.ExtrapolatedHALS(X, W0, H0, PENALTIES, **options), 30)
    csr = sp.csr_matrix(X)
    sparse = _run(
        _extrapolation.ExtrapolatedHALS(csr, W0, H0, PENALTIES, **options), 30
    )
    for a, b in zip(dense, sparse):
        np.testing.assert_allclose(a, b, rtol=1e-8)


def test_extrapolated_low_rank_hals_is_extrapolated_hals_on_the_product():
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(30, 20))
    Q = np.linalg.qr(X @ rng.standard_normal((20, 8)))[0]
    B = Q.T @ X
    W0, H0 = rng.uniform(size=(30, 3)), rng.uniform(size=(3, 20))
    # (n_inner="auto" would sweep by the cost of each one's products)
    options = dict(balance_every=True, n_inner=2)
    low_rank = _extrapolation.ExtrapolatedLowRankHALS(
        Q, B, W0, H0, PENALTIES, **options
    )
    dense = _extrapolation.ExtrapolatedHALS(Q @ B, W0, H0, PENALTIES, **options)
    dense.batch = 1
    for a, b in zip(_run(low_rank, 20), _run(dense, 20)):
        np.testing.assert_allclose(a, b, rtol=1e-8)


def test_extrapolation_starts_after_the_single_sweeps():
    """The single-sweep iterations at the start are plain HALS."""
    X, W0, H0 = _problem(4)
    options = dict(balance_every=True, n_inner="auto")
    n_single = _hals.SINGLE_SWEEP_ITERATIONS
    plain = _run(_hals.HALS(X, W0, H0, PENALTIES, **options), n_single)
    extrapolated = _run(
        _extrapolation.ExtrapolatedHALS(X, W0, H0, PENALTIES, **options), n_single
    )
    for a, b in zip(plain, extrapolated):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(60, 50, 5), (200, 120, 8)])
@pytest.mark.parametrize("seed", [0, 1])
def test_extrapolated_start_needs_fewer_iterations(shape, seed):
    """On the Frobenius start of Kullback-Leibler coordinate descent, the
    extrapolated iterations reach the plain start's final objective in
    fewer iterations."""
    m, n, r = shape
    X, _, _ = make_sparse_nmf(m, n, r, random_state=seed)
    rng = np.random.default_rng(seed)
    W0, H0 = rng.uniform(0.5, 1.5, (m, r)), rng.uniform(0.5, 1.5, (r, n))
    penalties = _cd.matched_frobenius_penalties(X, make_penalties(1, 1, "l1", "l1"))
    options = dict(balance_every=True, n_inner="auto")
    monitor = ConvergenceMonitor(_cd.FROBENIUS_START_TOL, 300)
    run_monitored(_hals.HALS(X, W0, H0, penalties, **options), monitor)
    plain = monitor.history
    _, _, extrapolated = _run(
        _extrapolation.ExtrapolatedHALS(X, W0, H0, penalties, **options), 300
    )
    reached = np.flatnonzero(extrapolated <= plain[-1])
    assert reached.size and reached[0] < 0.9 * (len(plain) - 1)


@pytest.mark.parametrize(
    "shape, extrapolated", [((60, 50, 5), False), ((200, 120, 8), True)]
)
def test_frobenius_start_extrapolates_above_its_minimum_work(
    shape, extrapolated, monkeypatch
):
    m, n, r = shape
    X, _, _ = make_sparse_nmf(m, n, r, random_state=0)
    seen = []

    def spy(*args, extrapolate, **kwargs):
        seen.append(extrapolate)
        return False

    monkeypatch.setattr(_cd, "_hals_start", spy)
    state = _cd.kl_coordinate_descent(
        X,
        np.ones((m, r)),
        np.ones((r, n)),
        make_penalties(1, 1, "l1", "l1"),
        fit_H=True,
        balance_every=True,
        n_inner=1,
    )
    _cd.frobenius_start(state, X, True)
    assert seen == [extrapolated]


@pytest.mark.parametrize("shape", [(60, 50, 5), (200, 120, 8)])
def test_frobenius_coordinate_descent_is_extrapolated(shape, monkeypatch):
    """With n_inner="auto", Frobenius coordinate descent extrapolates: its
    objective never increases and reaches that of 60 plain iterations in at
    most 45; an integer n_inner runs plain HALS, whatever the flag."""
    m, n, r = shape
    X, _, _ = make_sparse_nmf(m, n, r, random_state=0)
    W0, H0 = nndsvda_init(X, r, np.random.RandomState(0))
    options = dict(beta=2, alpha_W=0.5, alpha_H=0.5, penalty_W="l1", penalty_H="l1")

    def history(extrapolate, n_inner, max_iter=60):
        monkeypatch.setattr(_cd, "EXTRAPOLATE_HALS", extrapolate)
        _, _, monitor = _cd.fit_cd(
            X, W0, H0, **options, n_inner=n_inner, max_iter=max_iter, tol=0
        )
        return np.array(monitor.history)

    plain, extrapolated = history(False, "auto"), history(True, "auto")
    assert np.all(np.diff(extrapolated) <= 1e-12 * extrapolated[0])
    reached = np.flatnonzero(extrapolated <= plain[-1])
    assert reached.size and reached[0] <= 45
    np.testing.assert_array_equal(history(True, 1, 20), history(False, 1, 20))


@pytest.mark.parametrize("extrapolate", [False, True])
def test_sketch_start_follows_the_flag(extrapolate, monkeypatch):
    X, _, _ = make_sparse_nmf(500, 300, 10, random_state=0)
    seen = []

    def spy(*args, extrapolate, **kwargs):
        seen.append(extrapolate)
        return False

    monkeypatch.setattr(_cd, "_hals_start", spy)
    monkeypatch.setattr(_cd, "EXTRAPOLATE_HALS", extrapolate)
    state = _hals.HALS(
        X,
        np.ones((500, 10)),
        np.ones((10, 300)),
        PENALTIES,
        balance_every=True,
        n_inner="auto",
    )
    _cd.sketch_start(state, X, True)
    assert seen == [extrapolate]
