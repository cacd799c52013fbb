"""Private mathematics of RidgeCPD against dense oracles and tensorly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

from skfactor._balance import penalty_values
from skfactor.tensor._als import (
    fit_ridge_cp,
    hals_update,
    nonnegative_ridge_least_squares,
    objective_terms,
    ridge_least_squares,
)
from skfactor.tensor._init import initialize_cp
from skfactor.tensor._tensor_algebra import (
    component_norms,
    cp_to_tensor,
    gram_hadamard,
    khatri_rao,
    mttkrp,
    unfold,
)

SHAPES = st.lists(st.integers(1, 5), min_size=2, max_size=4)


def _einsum_cp(factors):
    """Dense CP model by einsum, independent of khatri_rao."""
    letters = "abcdefgh"[: len(factors)]
    return np.einsum(",".join(f"{c}z" for c in letters) + "->" + letters, *factors)


def _random_problem(seed, shape, rank, nonnegative=False):
    rng = np.random.default_rng(seed)
    tensor = rng.standard_normal(shape)
    draw = rng.uniform if nonnegative else rng.standard_normal
    factors = [draw(size=(size, rank)) for size in shape]
    return rng, tensor, factors


def _dense_objective(tensor, factors, alpha):
    residual = tensor - _einsum_cp(factors)
    return float((residual**2).sum() + alpha * sum((f**2).sum() for f in factors))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=SHAPES, rank=st.integers(1, 4))
def test_mttkrp_and_reconstruction_match_dense_oracles(seed, shape, rank):
    _, tensor, factors = _random_problem(seed, shape, rank)
    model = _einsum_cp(factors)
    np.testing.assert_allclose(cp_to_tensor(factors), model, atol=1e-12)
    for mode in range(len(shape)):
        others = [f for k, f in enumerate(factors) if k != mode]
        # unfold + khatri_rao give the C-order unfolding of the model ...
        np.testing.assert_allclose(
            unfold(model, mode), factors[mode] @ khatri_rao(others).T, atol=1e-12
        )
        # ... and the MTTKRP is the unfolding times the Khatri-Rao product
        dense = np.einsum(
            unfold(tensor, mode), [0, 1], khatri_rao(others), [1, 2], [0, 2]
        )
        np.testing.assert_allclose(mttkrp(tensor, factors, mode), dense, atol=1e-10)
    grams = [f.T @ f for f in factors]
    np.testing.assert_allclose(gram_hadamard(grams).sum(), (model**2).sum(), rtol=1e-10)
    np.testing.assert_allclose(
        component_norms(factors),
        [np.linalg.norm(_einsum_cp([f[:, [q]] for f in factors])) for q in range(rank)],
        rtol=1e-10,
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=SHAPES,
    rank=st.integers(1, 3),
    alpha=st.floats(0, 3),
)
def test_objective_matches_dense_computation(seed, shape, rank, alpha):
    _, tensor, factors = _random_problem(seed, shape, rank)
    expected = _dense_objective(tensor, factors, alpha)
    inner = float((tensor * _einsum_cp(factors)).sum())
    fit, penalty = objective_terms(
        float((tensor**2).sum()), inner, [f.T @ f for f in factors], alpha
    )
    assert penalty == pytest.approx(alpha * sum((f**2).sum() for f in factors))
    assert fit + penalty == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_ridge_least_squares_is_the_ridge_regression():
    rng = np.random.default_rng(0)
    K, Y = rng.standard_normal((40, 5)), rng.standard_normal((7, 40))
    alpha = 0.3
    X = ridge_least_squares(Y @ K, K.T @ K, alpha)
    # dense oracle: least squares on the augmented system [K; sqrt(alpha) I]
    augmented = np.vstack([K, np.sqrt(alpha) * np.eye(5)])
    targets = np.hstack([Y, np.zeros((7, 5))])
    expected = np.linalg.lstsq(augmented, targets.T, rcond=None)[0].T
    np.testing.assert_allclose(X, expected, rtol=1e-10)


def test_ridge_least_squares_without_ridge_and_a_dead_component():
    """alpha=0 with an all-zero component: finite minimum-norm solution."""
    rng = np.random.default_rng(1)
    K = rng.standard_normal((20, 3))
    K[:, 1] = 0.0
    Y = rng.standard_normal((4, 20))
    X = ridge_least_squares(Y @ K, K.T @ K, 0.0)
    assert np.all(np.isfinite(X))
    np.testing.assert_allclose(X[:, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(X, np.linalg.lstsq(K, Y.T, rcond=None)[0].T, atol=1e-10)


def _subproblem(X, rhs, normal, alpha):
    system = normal + alpha * np.eye(normal.shape[0])
    return float(np.einsum("ij,jk,ik->", X, system, X) - 2 * (rhs * X).sum())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rank=st.integers(1, 5),
    alpha=st.floats(0, 2),
    sweeps=st.integers(1, 5),
)
def test_hals_update_never_increases_the_subproblem(seed, rank, alpha, sweeps):
    rng = np.random.default_rng(seed)
    K = rng.uniform(size=(12, rank))
    Y = rng.standard_normal((6, 12))
    rhs, normal = Y @ K, K.T @ K
    X0 = rng.uniform(size=(6, rank))
    X = hals_update(X0, rhs, normal, alpha, n_sweeps=sweeps, tol=0.0)
    assert np.all(X >= 0)
    assert (
        _subproblem(X, rhs, normal, alpha)
        <= _subproblem(X0, rhs, normal, alpha) + 1e-12
    )


def test_hals_update_does_not_modify_its_input_and_kills_dead_columns():
    rng = np.random.default_rng(2)
    X0 = rng.uniform(size=(5, 3))
    copy = X0.copy()
    normal = np.diag([1.0, 0.0, 2.0])  # component 1 is zero in the other modes
    X = hals_update(X0, rng.uniform(size=(5, 3)), normal, 0.0)
    np.testing.assert_array_equal(X0, copy)
    np.testing.assert_array_equal(X[:, 1], 0.0)


def _nnls_oracle(K, Y, alpha):
    """Row-by-row scipy NNLS on the augmented system [K; sqrt(alpha) I]."""
    rank = K.shape[1]
    augmented = np.vstack([K, np.sqrt(alpha) * np.eye(rank)])
    return np.array(
        [nnls(augmented, np.concatenate([y, np.zeros(rank)]))[0] for y in Y]
    )


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_nonnegative_solvers_reach_the_nnls_solution(alpha):
    rng = np.random.default_rng(3)
    K = rng.uniform(size=(30, 4))
    Y = rng.standard_normal((10, 30))
    expected = _nnls_oracle(K, Y, alpha)
    rhs, normal = Y @ K, K.T @ K
    np.testing.assert_allclose(
        nonnegative_ridge_least_squares(rhs, normal, alpha), expected, atol=1e-10
    )
    # HALS run to convergence reaches the same point
    X = hals_update(np.ones((10, 4)), rhs, normal, alpha, n_sweeps=5000, tol=0.0)
    np.testing.assert_allclose(X, expected, atol=1e-7)


def test_nonnegative_ridge_least_squares_rows_are_independent():
    rng = np.random.default_rng(4)
    K = rng.uniform(size=(15, 3))
    Y = rng.standard_normal((9, 15))
    full = nonnegative_ridge_least_squares(Y @ K, K.T @ K, 0.1)
    part = nonnegative_ridge_least_squares(Y[3:5] @ K, K.T @ K, 0.1)
    np.testing.assert_array_equal(full[3:5], part)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.lists(st.integers(2, 6), min_size=2, max_size=4),
    rank=st.integers(1, 4),
    alpha=st.sampled_from([0.0, 0.01, 0.3, 3.0]),
    nonnegative=st.booleans(),
    balance=st.sampled_from(["every", "init", "none"]),
)
def test_objective_never_increases(seed, shape, rank, alpha, nonnegative, balance):
    rng, tensor, _ = _random_problem(seed, shape, rank)
    factors = initialize_cp(tensor, rank, "random", nonnegative, rng)
    out, fit, monitor = fit_ridge_cp(
        tensor,
        factors,
        alpha,
        nonnegative=nonnegative,
        balance=balance,
        max_iter=30,
        tol=0.0,
    )
    history = np.asarray(monitor.history)
    assert np.all(np.diff(history) <= 1e-9 * np.abs(history[:-1]) + 1e-12)
    # the reported objective is the objective of the returned factors
    assert history[-1] == pytest.approx(
        _dense_objective(tensor, out, alpha), rel=1e-8, abs=1e-10
    )
    assert fit + alpha * sum((f**2).sum() for f in out) == pytest.approx(
        history[-1], rel=1e-8, abs=1e-10
    )
    if nonnegative:
        assert all(np.all(f >= 0) for f in out)


@pytest.mark.parametrize("n_iter", [1, 6])
def test_unbalanced_als_iterates_equal_tensorly_parafac_l2_reg(n_iter):
    """balance='none' ALS is tensorly's parafac with l2_reg, iterate by iterate.

    tensorly solves A (H + l2_reg I) = M per mode with unit weights, which is
    exactly the ridge update with alpha = l2_reg.
    """
    tl = pytest.importorskip("tensorly")
    from tensorly.cp_tensor import CPTensor
    from tensorly.decomposition import parafac

    rng = np.random.default_rng(5)
    tensor = rng.standard_normal((6, 5, 4))
    rank, alpha = 3, 0.7
    init = [rng.standard_normal((size, rank)) for size in tensor.shape]
    cp = parafac(
        tl.tensor(tensor),
        rank,
        n_iter_max=n_iter,
        tol=0,
        l2_reg=alpha,
        init=CPTensor((np.ones(rank), [f.copy() for f in init])),
    )
    ours, _, _ = fit_ridge_cp(
        tensor, init, alpha, balance="none", max_iter=n_iter, tol=0.0
    )
    np.testing.assert_allclose(cp.weights, 1.0)
    for theirs, mine in zip(cp.factors, ours):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def _numerical_gradient(tensor, factors, alpha, step=1e-6):
    grads = []
    for k, factor in enumerate(factors):
        grad = np.zeros_like(factor)
        for index in np.ndindex(factor.shape):
            shifted = [f.copy() for f in factors]
            shifted[k][index] += step
            up = _dense_objective(tensor, shifted, alpha)
            shifted[k][index] -= 2 * step
            down = _dense_objective(tensor, shifted, alpha)
            grad[index] = (up - down) / (2 * step)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("nonnegative", [False, True])
def test_converged_solution_is_stationary_by_finite_differences(nonnegative):
    """KKT conditions at the solution, with gradients by finite differences."""
    rng = np.random.default_rng(6)
    truth = [rng.uniform(size=(size, 2)) for size in (7, 6, 5)]
    tensor = cp_to_tensor(truth) + 0.05 * rng.standard_normal((7, 6, 5))
    alpha = 0.2
    factors = initialize_cp(tensor, 3, "svd", nonnegative, rng)
    out, _, monitor = fit_ridge_cp(
        tensor, factors, alpha, nonnegative=nonnegative, max_iter=5000, tol=1e-15
    )
    scale = np.sqrt(_dense_objective(tensor, out, alpha))
    for factor, grad in zip(out, _numerical_gradient(tensor, out, alpha)):
        if nonnegative:
            # zero gradient where positive, nonnegative gradient at zero
            positive = factor > 1e-10
            np.testing.assert_allclose(grad[positive], 0.0, atol=1e-5 * scale)
            assert np.all(grad[~positive] >= -1e-5 * scale)
        else:
            np.testing.assert_allclose(grad, 0.0, atol=1e-5 * scale)


def test_unbalanced_solver_converges_to_balanced_solutions():
    """Stationary points are balanced (seed: p_i mu_i g_i(X_i[:, q]) equal)."""
    rng = np.random.default_rng(7)
    truth = [rng.uniform(size=(size, 2)) for size in (8, 7, 6)]
    tensor = cp_to_tensor(truth) + 0.01 * rng.standard_normal((8, 7, 6))
    init = initialize_cp(tensor, 2, "svd", False, rng)
    # unbalance the start on purpose
    init = [init[0] * 10.0, init[1] / 10.0, init[2]]
    out, _, _ = fit_ridge_cp(
        tensor, init, 0.5, balance="none", max_iter=20000, tol=1e-14
    )
    norms = np.array([penalty_values(f, "l2") for f in out])
    np.testing.assert_allclose(
        norms, np.broadcast_to(norms[:1], norms.shape), rtol=1e-4
    )


@pytest.mark.parametrize("nonnegative", [False, True])
def test_penalty_of_balanced_factors_is_the_implicit_penalty(nonnegative):
    """Eq. 25: alpha sum_k ||A_k||^2 = N alpha sum_q ||L_q||^(2/N) once balanced."""
    rng = np.random.default_rng(8)
    tensor = np.abs(rng.standard_normal((6, 5, 4, 3)))
    alpha = 0.05
    factors = initialize_cp(tensor, 3, "random", nonnegative, rng)
    out, _, _ = fit_ridge_cp(
        tensor, factors, alpha, nonnegative=nonnegative, max_iter=20
    )
    explicit = alpha * sum((f**2).sum() for f in out)
    implicit = 4 * alpha * (component_norms(out) ** (2 / 4)).sum()
    assert explicit == pytest.approx(implicit, rel=1e-10)


def test_matrix_case_is_singular_value_soft_thresholding():
    """N = 2: ridge on both factors is the nuclear norm, solved by SVT.

    min ||Y - W H^T||^2 + alpha (||W||^2 + ||H||^2) has the same minimizers
    (in L = W H^T) as min ||Y - L||^2 + 2 alpha ||L||_*, whose solution
    soft-thresholds the singular values of Y at alpha (Srebro et al. 2005).
    """
    rng = np.random.default_rng(9)
    Y = rng.standard_normal((12, 3)) @ rng.standard_normal(
        (3, 9)
    ) + 0.3 * rng.standard_normal((12, 9))
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    alpha = float(s[3] + s[2]) / 2  # keeps exactly three singular values
    expected = (U * np.maximum(s - alpha, 0)) @ Vt
    factors = initialize_cp(Y, 6, "svd", False, rng)
    out, _, _ = fit_ridge_cp(Y, factors, alpha, max_iter=5000, tol=1e-14)
    np.testing.assert_allclose(out[0] @ out[1].T, expected, atol=1e-6)
    assert np.count_nonzero(component_norms(out) > 1e-8) == 3


def test_nonnegative_hals_reaches_tensorly_non_negative_parafac_hals():
    """At the true rank without ridge the nonnegative CP is unique: the two
    HALS implementations must reach the same objective and factors."""
    tl = pytest.importorskip("tensorly")
    from tensorly.decomposition import non_negative_parafac_hals

    from skfactor import RidgeCPD
    from skfactor.datasets import make_cp_tensor
    from skfactor.metrics import factor_match_score

    X, _ = make_cp_tensor((12, 10, 8), n_components=3, snr_db=30, random_state=0)
    cp = non_negative_parafac_hals(
        tl.tensor(X), 3, n_iter_max=150, tol=0, init="svd", random_state=0
    )
    theirs = [np.asarray(f, dtype=float) for f in cp.factors]
    theirs[0] = theirs[0] * np.asarray(cp.weights, dtype=float)
    model = RidgeCPD(
        3, alpha=0.0, nonnegative=True, tol=1e-13, max_iter=3000, random_state=0
    )
    ours = [model.fit_transform(X), *model.components_]
    # tensorly is stopped early for speed (at 300 iterations they agree to
    # 1e-9): ours is at least as low and both describe the same factors
    objective, theirs_objective = (_dense_objective(X, f, 0.0) for f in (ours, theirs))
    assert theirs_objective * (1 - 1e-3) <= objective <= theirs_objective
    assert factor_match_score(theirs, ours) > 0.9999


def test_initial_rescaling_never_kills_every_component():
    """A start whose best common scale is zero is kept as it is."""
    rng = np.random.default_rng(10)
    truth = [rng.uniform(size=(size, 2)) for size in (8, 7, 6)]
    tensor = cp_to_tensor(truth)
    # anti-correlated with the data: no positive common scale improves the
    # fit, so the best one is (numerically) zero; one ALS sweep fixes the sign
    start = [-truth[0], truth[1], truth[2]]
    out, _, _ = fit_ridge_cp(tensor, start, 0.1, max_iter=20, tol=0.0)
    assert _dense_objective(tensor, out, 0.1) < 0.1 * (tensor**2).sum()
