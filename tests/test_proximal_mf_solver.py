"""The pure mathematics behind ProximalMF: power iteration, gradients, the
block proximal gradient solver and the initializations."""

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skfactor._balance import optimal_scales, penalty_values
from skfactor.datasets import make_hyperspectral
from skfactor.decomposition._init import random_unit_rows_init, svd_init
from skfactor.decomposition._pgm import (
    _Block,
    _fit_term,
    _prox_step,
    balancing_scales,
    block_pgm,
    power_iteration,
    squared_frobenius,
)
from skfactor.prox import get_prox, penalty_value, prox_identity, prox_nonnegative


def _zero(A):
    return 0.0


def _run(X, W, H, prox_W=prox_identity, prox_H=prox_identity, **kwargs):
    kwargs.setdefault("penalty_W", functools.partial(penalty_value, prox_W))
    kwargs.setdefault("penalty_H", functools.partial(penalty_value, prox_H))
    return block_pgm(X, W, H, prox_W=prox_W, prox_H=prox_H, **kwargs)


def _half_fit(X, W, H):
    return 0.5 * np.sum((X - W @ H) ** 2)


def _numerical_gradient(f, A, h=1e-6):
    G = np.zeros_like(A)
    for idx in np.ndindex(*A.shape):
        E = np.zeros_like(A)
        E[idx] = h
        G[idx] = (f(A + E) - f(A - E)) / (2 * h)
    return G


# ---------------------------------------------------------------------------
# power iteration


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 8), rank=st.integers(1, 8))
def test_power_iteration_matches_eigvalsh(seed, k, rank):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k, min(rank, k)))
    G = A @ A.T
    value, v = power_iteration(G, max_iter=500, rtol=1e-12)
    top = np.linalg.eigvalsh(G)[-1]
    assert value <= top * (1 + 1e-12)  # a Rayleigh quotient: never above
    assert value == pytest.approx(top, rel=1e-6)
    assert np.linalg.norm(v) == pytest.approx(1.0)


def test_power_iteration_warm_start_needs_fewer_products():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    G = A @ A.T
    _, v = power_iteration(G, max_iter=200, rtol=1e-10)
    G2 = G + 1e-3 * np.eye(6)  # the next iteration's nearby matrix
    cold, _ = power_iteration(G2, max_iter=2)
    warm, _ = power_iteration(G2, v, max_iter=2)
    top = np.linalg.eigvalsh(G2)[-1]
    assert abs(warm - top) < 1e-6 * top < abs(cold - top)


def test_power_iteration_degenerate():
    assert power_iteration(np.zeros((3, 3)))[0] == 0.0
    assert power_iteration(np.zeros((0, 0)))[0] == 0.0
    value, _ = power_iteration(np.eye(3), np.array([np.nan, 0, 0]))
    assert value == pytest.approx(1.0)


# ---------------------------------------------------------------------------
# fit term and gradients


def test_fit_term_gram_form_and_cancellation_fallback():
    rng = np.random.default_rng(0)
    W, H = rng.uniform(size=(20, 3)), rng.uniform(size=(3, 15))
    X = W @ H + 0.1 * rng.normal(size=(20, 15))
    args = (squared_frobenius(X), float(np.vdot(W.T @ X, H)), W.T @ W, H @ H.T)
    assert _fit_term(X, W, H, *args) == pytest.approx(_half_fit(X, W, H), rel=1e-10)
    assert _fit_term(sp.csr_matrix(X), W, H, *args) == pytest.approx(
        _half_fit(X, W, H), rel=1e-10
    )
    # exact fit: the Gram form would return cancellation noise ~ eps |X|^2
    X = W @ H
    args = (squared_frobenius(X), float(np.vdot(W.T @ X, H)), W.T @ W, H @ H.T)
    assert _fit_term(X, W, H, *args) <= 1e-28 * squared_frobenius(X)


def test_one_step_is_a_gradient_step():
    """With identity proxes, one iteration is W - t grad_W, then H - t grad_H
    at the new W; the gradients match finite differences."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 5))
    W0, H0 = rng.normal(size=(6, 2)), rng.normal(size=(2, 5))
    t_W, t_H = 0.01, 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = _run(X, W0, H0, step_size=(t_W, t_H), acceleration=False, max_iter=1)
    grad_W = _numerical_gradient(lambda W: _half_fit(X, W, H0), W0)
    W1 = W0 - t_W * grad_W
    np.testing.assert_allclose(result.W, W1, rtol=1e-7, atol=1e-9)
    grad_H = _numerical_gradient(lambda H: _half_fit(X, W1, H), H0)
    np.testing.assert_allclose(result.H, H0 - t_H * grad_H, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(result.step_sizes, [[t_W, t_H]])
    assert result.objective[1] == pytest.approx(_half_fit(X, result.W, result.H))


def test_lipschitz_steps_are_inverse_lipschitz_constants():
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(30, 12))
    W0, H0 = rng.uniform(size=(30, 4)), rng.uniform(size=(4, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = _run(
            X,
            W0,
            H0,
            prox_nonnegative,
            prox_nonnegative,
            step_size="lipschitz",
            max_iter=1,
        )
    t_W, t_H = result.step_sizes[0]
    assert t_W == pytest.approx(1 / np.linalg.eigvalsh(H0 @ H0.T)[-1], rel=1e-6)
    # t_H uses W after its update
    assert t_H == pytest.approx(
        1 / np.linalg.eigvalsh(result.W.T @ result.W)[-1], rel=1e-6
    )


# ---------------------------------------------------------------------------
# adaptive steps and balanced components


@pytest.mark.parametrize(
    "prox", [prox_identity, prox_nonnegative, get_prox("l1", alpha=0.3)]
)
def test_adaptive_step_passes_the_sufficient_decrease_test(prox):
    """The step taken satisfies f(V+) <= f(V) + <grad, D> + |D|^2 / (2t)
    (checked on the residual, not the Gram form the solver uses), is never
    below 1 / L, and is the largest of the trials 2^-j t_0 (>= 1/L) that
    pass: twice the step fails the test unless it is the first trial. The
    points are off the least-squares solution mostly along directions of low
    curvature, where steps above 1/L pass, as in the solver's iterations."""
    rng = np.random.default_rng(0)
    X, H = rng.uniform(size=(40, 25)), rng.uniform(size=(5, 25))
    HHt = H @ H.T
    curvatures, Q = np.linalg.eigh(HHt)
    V_ls = np.linalg.solve(HHt, H @ X.T).T

    def f(W):
        return _half_fit(X, W, H)

    outcomes = set()
    for seed in range(30):
        r = np.random.default_rng(seed)
        k = r.integers(1, 5)
        V = (
            V_ls
            + r.normal(size=(40, k)) @ Q[:, :k].T
            + 1e-3 * r.normal(size=V_ls.shape)
        )
        grad = V @ HHt - X @ H.T
        block = _Block("auto")
        block.accept(r.uniform(1, 64) / curvatures[-1])  # the previous step
        first = block.start(HHt)
        V_new, t = _prox_step(block, first, V, grad, prox, HHt, rows=True)
        D = V_new - V
        bound = f(V) + np.vdot(grad, D) + np.vdot(D, D) / (2 * t)
        assert f(V_new) <= bound + 1e-10 * abs(bound)
        assert t >= block.safe * (1 - 1e-12)
        assert first == 2 * block.accepted
        if t < first:
            V2 = prox(V - 2 * t * grad, 2 * t)
            D2 = V2 - V
            assert f(V2) > f(V) + np.vdot(grad, D2) + np.vdot(D2, D2) / (4 * t)
        outcomes.add("first" if t == first else "shrunk")
    assert outcomes == {"first", "shrunk"} or prox is prox_nonnegative


def test_adaptive_steps_go_beyond_the_lipschitz_bound():
    """The point of the rule: along the directions the iterates take, the
    curvature is below the global bound, so the accepted steps exceed the
    inverse Lipschitz constant of their iteration, while the objective still
    never increases."""
    X, _, _ = make_hyperspectral(12, 12, 30, 3, n_photons=2000, random_state=0)
    W0, H0 = svd_init(X, 3, np.random.RandomState(0))
    W0, H0 = prox_nonnegative(W0, 0.0), prox_nonnegative(H0, 0.0)

    def run(step_size, max_iter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return _run(
                X,
                W0,
                H0,
                prox_nonnegative,
                prox_nonnegative,
                step_size=step_size,
                max_iter=max_iter,
                tol=0,
            )

    auto, lipschitz = run("auto", 40), run("lipschitz", 40)
    # the search starts at 1/L: the same first iteration
    np.testing.assert_allclose(auto.step_sizes[0], lipschitz.step_sizes[0])
    # the W step of iteration j + 1 against 1/L of the H it sees (deterministic
    # runs: the first j iterations of a longer run are those of a shorter one)
    ratios = [
        auto.step_sizes[j, 0] * np.linalg.eigvalsh(H @ H.T)[-1]
        for j in range(5, 40, 5)
        for H in [run("auto", j).H]
    ]
    assert min(ratios) >= 1 - 1e-6 and np.median(ratios) > 1.2, ratios
    assert np.all(np.diff(auto.objective) <= 1e-12 * auto.objective[0])
    assert auto.objective[-1] < lipschitz.objective[-1]
    # two proximal steps per iteration (and per redone iteration) with 1/L;
    # the adaptive rule also computes the trials its test rejects
    assert lipschitz.n_prox == 2 * (lipschitz.n_iter + lipschitz.n_restarts)
    assert auto.n_prox > 2 * (auto.n_iter + auto.n_restarts)


def test_balancing_scales():
    rng = np.random.default_rng(0)
    W, H = rng.uniform(size=(7, 3)), rng.uniform(size=(3, 5))
    W[:, 1] *= 1e3
    d = balancing_scales(W, H)
    # the geometric-mean identity of skfactor._balance for two squared norms
    squared_norms = [penalty_values(W, "l2"), penalty_values(H.T, "l2")]
    np.testing.assert_allclose(d, optimal_scales(squared_norms, [2, 2])[0])
    Wb, Hb = W * d, H / d[:, None]
    np.testing.assert_allclose(Wb @ Hb, W @ H)
    np.testing.assert_allclose(np.linalg.norm(Wb, axis=0), np.linalg.norm(Hb, axis=1))
    # a zero component is left alone; float32 stays float32
    W[:, 2] = 0.0
    d = balancing_scales(W.astype(np.float32), H.astype(np.float32))
    assert d[2] == 1.0 and d.dtype == np.float32
    # norms beyond float64 are left alone rather than raising
    np.testing.assert_array_equal(balancing_scales(W * 1e300, H), np.ones(3))


def test_balanced_solver_ignores_the_scales_of_the_start():
    """With balance=True the iterates' product does not depend on how the
    components of the start are scaled (it does without)."""
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(25, 3)) @ rng.uniform(size=(3, 15))
    X += 0.05 * rng.uniform(size=X.shape)
    W0, H0 = random_unit_rows_init(X, 3, np.random.RandomState(0))
    d = np.array([1e-2, 1.0, 50.0])
    products = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for balance in (True, False):
            for name, (W, H) in {
                "one": (W0, H0),
                "scaled": (W0 * d, H0 / d[:, None]),
            }.items():
                result = _run(
                    X,
                    W,
                    H,
                    prox_nonnegative,
                    prox_nonnegative,
                    balance=balance,
                    max_iter=30,
                    tol=0,
                )
                products[balance, name] = result.W @ result.H
    np.testing.assert_allclose(
        products[True, "scaled"], products[True, "one"], rtol=1e-8
    )
    assert not np.allclose(products[False, "scaled"], products[False, "one"], rtol=1e-4)


# ---------------------------------------------------------------------------
# solver properties

CONES = ("nonnegative", "identity")
PROX_CHOICES = [
    ("nonnegative", {}),
    ("identity", {}),
    ("simplex", {}),
    ("l1", {"alpha": 0.05}),
    ("nonnegative_l1", {"alpha": 0.05}),
    ("group_l2", {"alpha": 0.1}),
    ("max_entropy", {"alpha": 0.01}),
    ("l2_ball", {}),
    ("box", {}),
]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(2, 12), st.integers(2, 12), st.integers(1, 4)),
    choice_W=st.sampled_from(PROX_CHOICES),
    choice_H=st.sampled_from(PROX_CHOICES),
    acceleration=st.booleans(),
    step_size=st.sampled_from(["auto", "lipschitz"]),
)
def test_objective_never_increases(
    seed, shape, choice_W, choice_H, acceleration, step_size
):
    """Automatic steps + restart: a monotone method, whatever the operators
    (components balanced when both are cones, as the estimator does)."""
    n, m, k = shape
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, m)) * rng.lognormal(0, 2)
    prox_W, prox_H = (
        get_prox(choice_W[0], **choice_W[1]),
        get_prox(choice_H[0], **choice_H[1]),
    )
    W0, H0 = svd_init(X, k, np.random.RandomState(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = _run(
            X,
            prox_W(W0, 0.0),
            prox_H(H0, 0.0),
            prox_W,
            prox_H,
            acceleration=acceleration,
            step_size=step_size,
            balance=choice_W[0] in CONES and choice_H[0] in CONES,
            max_iter=60,
            tol=0,
        )
    objective = np.asarray(result.objective)
    # The objective is evaluated from Gram products (||X||^2 - 2<X, WH> + ...),
    # whose cancellation costs a few hundred ulps of the largest value.
    scale = np.abs(objective).max()
    assert np.all(np.diff(objective) <= 1e-9 * scale), np.diff(objective).max() / scale
    assert np.all(np.isfinite(result.W)) and np.all(np.isfinite(result.H))


def test_acceleration_restarts_and_is_faster():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 3)) @ rng.uniform(size=(3, 12))
    W0, H0 = svd_init(X, 3, np.random.RandomState(0))
    W0, H0 = prox_nonnegative(W0, 0.0), prox_nonnegative(H0, 0.0)
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for acceleration in (True, False):
            runs[acceleration] = _run(
                X,
                W0,
                H0,
                prox_nonnegative,
                prox_nonnegative,
                acceleration=acceleration,
                max_iter=150,
                tol=0,
            )
    assert runs[True].n_restarts > 0 and runs[False].n_restarts == 0
    assert runs[True].objective[-1] < 1e-3 * runs[False].objective[-1]


def test_exact_fit_stops_without_warning():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(15, 3)) @ rng.uniform(size=(3, 10))
    W0, H0 = svd_init(X, 3, np.random.RandomState(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = _run(X, W0, H0, max_iter=50)  # unconstrained: SVD is exact
    assert result.exact_fit and result.converged and result.n_iter == 1


def test_fixed_h_solves_the_convex_problem():
    """update_H=False: W converges to the nonnegative least-squares solution."""
    from scipy.optimize import nnls

    rng = np.random.default_rng(3)
    X, H = rng.uniform(size=(8, 10)), rng.uniform(size=(3, 10))
    result = _run(
        X,
        np.zeros((8, 3)),
        H,
        prox_nonnegative,
        None,
        penalty_W=_zero,
        penalty_H=None,
        update_H=False,
        tol=1e-14,
        max_iter=5000,
    )
    expected = np.array([nnls(H.T, x)[0] for x in X])
    np.testing.assert_allclose(result.W, expected, atol=1e-6)
    assert result.H is H and np.all(np.isnan(result.step_sizes[:, 1]))


def test_sparse_and_dense_data_give_the_same_iterates():
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(20, 15)) * (rng.uniform(size=(20, 15)) < 0.3)
    W0, H0 = random_unit_rows_init(X, 3, np.random.RandomState(0))
    kwargs = dict(prox_W=prox_nonnegative, prox_H=prox_nonnegative, max_iter=30, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = _run(X, W0, H0, **kwargs)
        sparse = _run(sp.csr_matrix(X), W0, H0, **kwargs)
    np.testing.assert_allclose(sparse.W @ sparse.H, dense.W @ dense.H, rtol=1e-8)
    np.testing.assert_allclose(sparse.objective, dense.objective, rtol=1e-8)


def test_inputs_not_modified():
    rng = np.random.default_rng(5)
    X, W0, H0 = (
        rng.uniform(size=(6, 5)),
        rng.uniform(size=(6, 2)),
        rng.uniform(size=(2, 5)),
    )
    copies = [a.copy() for a in (X, W0, H0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _run(X, W0, H0, prox_nonnegative, prox_nonnegative, max_iter=5)
    for a, c in zip((X, W0, H0), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------
# initializations


def test_svd_init_is_the_best_low_rank_approximation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 12))
    W, H = svd_init(X, 4, np.random.RandomState(0))
    s = np.linalg.svd(X, compute_uv=False)
    assert np.linalg.norm(X - W @ H) == pytest.approx(
        np.sqrt(np.sum(s[4:] ** 2)), rel=1e-6
    )
    np.testing.assert_allclose(np.abs(H).sum(axis=1), 1.0)


def test_svd_init_signs_keep_the_positive_part():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(20, 12))
    W, H = svd_init(X, 3, np.random.RandomState(0))
    # the leading component of a positive matrix is positive (Perron)
    assert np.all(W[:, 0] > 0) and np.all(H[0] > 0)
    for j in range(3):
        plus = np.linalg.norm(np.maximum(W[:, j], 0)) * np.linalg.norm(
            np.maximum(H[j], 0)
        )
        minus = np.linalg.norm(np.minimum(W[:, j], 0)) * np.linalg.norm(
            np.minimum(H[j], 0)
        )
        assert plus >= minus


@pytest.mark.parametrize("init", [svd_init, random_unit_rows_init])
@pytest.mark.parametrize(
    "shape, k", [((5, 3), 6), ((1, 4), 2), ((4, 1), 1), ((30, 20), 5)]
)
def test_inits_shapes_scale_and_determinism(init, shape, k):
    X = np.random.default_rng(0).uniform(size=shape) * 10
    W, H = init(X, k, np.random.RandomState(0))
    W2, H2 = init(X, k, np.random.RandomState(0))
    assert W.shape == (shape[0], k) and H.shape == (k, shape[1])
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(H, H2)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    # the product has the magnitude of the data
    assert 0.1 < np.abs(W @ H).mean() / X.mean() < 10
    assert (
        init(X.astype(np.float32), k, np.random.RandomState(0))[0].dtype == np.float32
    )


def test_inits_of_zero_data():
    X = np.zeros((4, 3))
    for init in (svd_init, random_unit_rows_init):
        W, H = init(X, 2, np.random.RandomState(0))
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
