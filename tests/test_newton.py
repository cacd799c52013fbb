"""The exact W-step (projected Newton, ``decomposition/_newton.py``, its
row steps in ``_newton_step.py``, its blocks in ``_newton_blocks.py``): the
Kullback-Leibler pass whose derivatives come from BLAS products over blocks
of dense rows against the compiled pass over each row's nonzeros, and its
pieces against dense oracles."""

import numpy as np
import pytest

from skfactor.decomposition import _newton, _newton_blocks, _newton_step
from skfactor.decomposition._mm_steps import Penalty
from skfactor.decomposition._newton import solve_activations


def _long_rows(seed, m=13, r=4, n=None):
    """Dense Poisson counts whose rows are long enough for the BLAS pass
    (by default long enough for the BLAS Hessians of the row pass too), with
    explicit zeros and an all-zero row."""
    rng = np.random.default_rng(seed)
    n = _newton_step._BLAS_ROW + 17 if n is None else n
    H = rng.uniform(0.1, 1.0, (r, n))
    W = rng.uniform(0.0, 2.0, (m, r)) * (rng.uniform(size=(m, r)) < 0.7)
    X = rng.poisson(W @ H).astype(float)
    X[min(3, m - 1)] = 0.0
    return X, H, rng.uniform(0.1, 1.0, (m, r))


def _count_calls(monkeypatch, name):
    calls = []
    original = getattr(_newton, name)

    def counted(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(_newton, name, counted)
    return calls


@pytest.mark.parametrize("n_columns", [None, _newton_blocks._BLOCK_MIN_COLUMNS])
@pytest.mark.parametrize("penalty, alpha", [("l1", 0.0), ("l1", 0.4), ("l2", 0.4)])
@pytest.mark.parametrize("start_scale", [1.0, 30.0])
def test_blas_pass_equals_the_row_pass(
    monkeypatch, penalty, alpha, n_columns, start_scale
):
    """Also from a start 30 times too large, where full Newton steps fail
    the line search and the blocked pass's rows backtrack one by one."""
    X, H, W0 = _long_rows(0, n=n_columns)
    W0 = W0 * start_scale
    # blocks of 4 rows, so that the active rows span several blocks
    monkeypatch.setattr(_newton_blocks, "_BLOCK_ENTRIES", 4 * X.shape[1])
    calls = _count_calls(monkeypatch, "_kl_blas_pass")
    W, monitor = solve_activations(X, H, W0, beta=1, alpha=alpha, penalty=penalty)
    assert monitor.converged and len(calls) == monitor.n_iter
    # rows, compiled
    monkeypatch.setattr(_newton_blocks, "_BLOCK_MIN_COLUMNS", 10 * X.shape[1])
    monkeypatch.setattr(_newton_blocks, "_BLOCK_MIN_WORK", 10 * X.size)
    W_rows, monitor_rows = solve_activations(
        X, H, W0, beta=1, alpha=alpha, penalty=penalty
    )
    assert len(calls) == monitor.n_iter  # the BLAS pass was not called again
    np.testing.assert_allclose(W, W_rows, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(monitor.history, monitor_rows.history, rtol=1e-12)
    assert monitor.n_iter == monitor_rows.n_iter


def test_pairs_give_the_hessians():
    rng = np.random.default_rng(1)
    Ht = rng.uniform(size=(7, 4))
    D = rng.uniform(size=(3, 7))
    packed = D @ _newton_blocks._pairs(Ht)
    upper = np.triu_indices(4)
    for b in range(3):
        hessian = (Ht.T * D[b]) @ Ht
        np.testing.assert_allclose(packed[b], hessian[upper], rtol=1e-14)


def test_ratio_curvature_skips_the_zeros_of_x():
    X = np.array([[2.0, 0.0], [0.0, 3.0]])
    Y = np.array([[4.0, 1.0], [1.0, 0.5]])
    R, D = _newton_blocks._ratio_curvature(X, Y)
    np.testing.assert_array_equal(R, [[0.5, 0.0], [0.0, 6.0]])
    np.testing.assert_array_equal(D, [[0.125, 0.0], [0.0, 12.0]])


def _kl_row(X, H, w):
    Ht = np.ascontiguousarray(H.T)
    indices = np.flatnonzero(X).astype(np.int64)
    model = Ht[indices] @ w
    return (Ht, Ht.sum(axis=0), X[indices], indices, model, np.empty(indices.size))


def test_kl_change_against_the_objective():
    rng = np.random.default_rng(2)
    H = rng.uniform(0.1, 1.0, (3, 9))
    x = rng.poisson(2.0, 9).astype(float)
    w, trial = rng.uniform(0.1, 1.0, 3), rng.uniform(0.1, 1.0, 3)

    def fit(v):  # the KL fit of the row, up to terms without v
        y = v @ H
        return y.sum() - x @ np.log(y)

    change = _newton_step._kl_change(trial, trial - w, _kl_row(x, H, w))
    np.testing.assert_allclose(change, fit(trial) - fit(w), rtol=1e-12)
    # a trial whose model vanishes where x > 0: math.log's infinite change
    H[:, np.flatnonzero(x)[0]] = [1.0, 0.0, 0.0]
    zero = np.array([0.0, 0.5, 0.5])
    change = _newton_step._kl_change(zero, zero - w, _kl_row(x, H, w))
    assert change == np.inf


def test_row_step_never_increases_the_row_objective():
    X, H, W0 = _long_rows(3, m=5)
    x, w = X[0], W0[0].copy()
    kl_row = _kl_row(x, H, w)
    Ht, h_sum = kl_row[0], kl_row[1]
    y = w @ H
    grad_fit = h_sum - (x / y) @ Ht
    hess = (Ht.T * (x / y**2)) @ Ht
    r = w.size
    scratch = (*(np.empty(r) for _ in range(4)), np.empty(r, np.bool_))
    before = w.copy()
    weight = Penalty(0.2, 1.0)
    size = _newton_step._prepare_row(w, grad_fit, x.sum() + w @ h_sum, weight, scratch)
    change, _ = _newton_step._row_step(
        w, grad_fit, hess, size, weight, kl_row, np.empty((0, 0)), scratch
    )

    def objective(v):
        y = v @ H
        return y.sum() - x @ np.log(y) + 0.2 * v.sum()

    assert change < 0
    np.testing.assert_allclose(objective(w) - objective(before), change, rtol=1e-9)


def test_free_system_solve_and_hessian_rows_against_dense_algebra():
    """The Newton system is gathered on the free variables (the binding ones
    are neither formed nor read): its solution is that of the dense
    subsystem, and the Hessian rows formed are those of the full Gram."""
    rng = np.random.default_rng(7)
    r, s = 9, 4
    scaled = rng.normal(size=(s + 3, r))
    binding = rng.uniform(size=r) < 0.5
    binding[0], binding[1] = True, False
    hess = np.full((r, r), np.nan)  # rows of binding variables: never read
    _newton_step._gram_rows(scaled, s, binding, hess)
    free = ~binding
    full = scaled[:s].T @ scaled[:s]
    np.testing.assert_allclose(hess[free], full[free], rtol=1e-13)
    assert np.all(np.isnan(hess[binding]))
    rhs = rng.normal(size=r)
    expected = rhs.copy()
    system = full[np.ix_(free, free)] + 0.3 * np.eye(free.sum())
    expected[free] = np.linalg.solve(system, rhs[free])
    _newton_step._solve_free(hess, binding, 0.3, rhs)
    np.testing.assert_allclose(rhs, expected, rtol=1e-10)


def test_frobenius_rows_reach_a_bound_at_once():
    """A variable whose optimum is the bound but whose gradient there is
    small: the projected step would move it by its gradient over the row's
    largest curvature, tens of iterations to the bound; the active-set trial
    point (the binding variables at the bound, the free ones re-solved)
    lands on the minimizer of the quadratic in a few."""
    rng = np.random.default_rng(4)
    H = rng.uniform(0.0, 1.0, (6, 40))
    H[0] *= 10.0  # a spread of curvatures
    w_star = np.array([1.0, 0.5, 2.0, 0.0, 1.5, 0.8])
    x = w_star @ H - 2e-4 * H[3]  # unconstrained optimum: w_3 slightly < 0
    start = w_star.copy()
    start[3] = 1e-4
    W, monitor = solve_activations(
        x[None], H, start[None], beta=2, alpha=0.0, penalty="l1"
    )
    assert monitor.converged and monitor.n_iter <= 5
    grad = (W[0] @ H - x) @ H.T
    assert W[0, 3] == _newton.EPSILON and grad[3] > 0
    free = W[0] > _newton.EPSILON
    np.testing.assert_allclose(grad[free], 0.0, atol=1e-9 * np.abs(x @ H.T).max())
