"""Private mathematics of SparseNTD against dense oracles, and its invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skfactor._balance import balance_blocks, sinkhorn_balance_tucker
from skfactor.tensor import _ntd_hals, _ntd_mu
from skfactor.tensor._tensor_algebra import (
    mode_dot,
    multi_mode_dot,
    tucker_to_tensor,
    unfold,
)

SETTINGS = settings(max_examples=12, deadline=None)


def _kron(matrices):
    out = np.ones((1, 1))
    for m in matrices:
        out = np.kron(out, m)
    return out


def _random_model(rng, n_modes, max_size=5, max_rank=3):
    shape = tuple(int(s) for s in rng.integers(2, max_size + 1, size=n_modes))
    ranks = tuple(int(rng.integers(1, min(s, max_rank) + 1)) for s in shape)
    core = rng.uniform(0.1, 1.0, size=ranks)
    factors = [rng.uniform(0.1, 1.0, size=(s, r)) for s, r in zip(shape, ranks)]
    return shape, ranks, core, factors


def _problem(rng, n_modes, beta):
    weights = list(rng.uniform(0.0, 1.0, size=n_modes + 1))
    penalties = list(rng.choice(["l1", "l2"], size=n_modes + 1))
    return _ntd_mu.NTDProblem(beta, weights, penalties)


@given(seed=st.integers(0, 2**31), n_modes=st.integers(2, 4))
@SETTINGS
def test_tucker_model_is_the_kronecker_unfolding(seed, n_modes):
    rng = np.random.default_rng(seed)
    _, _, core, factors = _random_model(rng, n_modes)
    model = tucker_to_tensor(core, factors)
    for n in range(n_modes):
        others = [factors[k] for k in range(n_modes) if k != n]
        expected = factors[n] @ unfold(core, n) @ _kron(others).T
        np.testing.assert_allclose(unfold(model, n), expected, rtol=1e-12)


def test_mode_dot_matches_einsum():
    rng = np.random.default_rng(0)
    T = rng.standard_normal((3, 4, 5))
    M = rng.standard_normal((2, 4))
    np.testing.assert_allclose(mode_dot(T, M, 1), np.einsum("ajc,bj->abc", T, M))
    # the first and the last mode (one matrix product each)
    first, last = rng.standard_normal((2, 3)), rng.standard_normal((6, 5))
    np.testing.assert_allclose(
        mode_dot(T, first, 0), np.einsum("jbc,aj->abc", T, first)
    )
    np.testing.assert_allclose(mode_dot(T, last, 2), np.einsum("abj,cj->abc", T, last))
    np.testing.assert_allclose(
        mode_dot(T[:, ::2], last, 2), mode_dot(T, last, 2)[:, ::2]
    )
    skip = multi_mode_dot(
        T, [M.T[:3], None, rng.standard_normal((5, 2))], skip=1, transpose=True
    )
    assert skip.shape == (2, 4, 2)


def _coordinate_descent(f, numerator, normal, alpha, pen, sweeps):
    """Plain cyclic coordinate descent on min 1/2 f Q f - a f + penalty, f >= eps."""
    f = f.astype(float).copy()
    for _ in range(sweeps):
        for k in range(f.size):
            curvature = normal[k, k] + (2 * alpha if pen == "l2" else 0.0)
            rest = normal[k] @ f - normal[k, k] * f[k]
            value = numerator[k] - rest - (alpha if pen == "l1" else 0.0)
            f[k] = max(value / curvature, _ntd_mu.EPSILON)
    return f


def _dense_factor_step(tensor, core, factors, n, problem):
    """The NMF block update of mode n on the explicit unfolding.

    Kullback-Leibler: the multiplicative step; Frobenius: HALS sweeps, i.e.
    coordinate descent on each row (the rows of A_n are independent).
    """
    others = [factors[k] for k in range(len(factors)) if k != n]
    B = unfold(core, n) @ _kron(others).T
    X, A = unfold(tensor, n), factors[n]
    alpha, pen = problem.weights[n + 1], problem.penalties[n + 1]
    if problem.beta == 2:
        sweeps = _ntd_hals.FACTOR_SWEEPS
        rows = [
            _coordinate_descent(a, x @ B.T, B @ B.T, alpha, pen, sweeps)
            for a, x in zip(A, X)
        ]
        return np.array(rows)
    s = A * ((X / (A @ B)) @ B.T)
    c = B.sum(axis=1)[None, :]
    if pen == "l1" or alpha == 0:
        new = s / (c + alpha)
    else:  # eq. 36 of Cohen and Leplat with mu = 2 alpha
        new = (np.sqrt(c**2 + 8 * alpha * s) - c) / (4 * alpha)
    return np.maximum(new, _ntd_mu.EPSILON)


@pytest.mark.parametrize("beta", [1, 2])
@given(seed=st.integers(0, 2**31), n_modes=st.integers(2, 4))
@SETTINGS
def test_factor_update_matches_the_dense_nmf_step(beta, seed, n_modes):
    rng = np.random.default_rng(seed)
    _, _, core, factors = _random_model(rng, n_modes)
    tensor = rng.uniform(0, 2, size=tucker_to_tensor(core, factors).shape)
    problem = _problem(rng, n_modes, beta)
    for n in range(n_modes):
        new = _ntd_mu.update_factor(tensor, core, factors, n, problem)
        expected = _dense_factor_step(tensor, core, factors, n, problem)
        np.testing.assert_allclose(new, expected, rtol=1e-9)


@given(seed=st.integers(0, 2**31), n_modes=st.integers(2, 4))
@SETTINGS
def test_frobenius_core_update_is_coordinate_descent_on_the_kronecker_problem(
    seed, n_modes
):
    # vec(T) ~ (A_0 kron ... kron A_{N-1}) vec(G) in C order: with the same
    # number of sweeps, the HALS core update is plain cyclic coordinate
    # descent on the explicit Kronecker design, entry for entry
    rng = np.random.default_rng(seed)
    _, _, core, factors = _random_model(rng, n_modes)
    tensor = rng.uniform(0, 2, size=tucker_to_tensor(core, factors).shape)
    problem = _problem(rng, n_modes, 2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_ntd_hals, "CORE_SWEEPS", 7)
        patch.setattr(_ntd_hals, "_CORE_RTOL", 0.0)
        new = _ntd_mu.update_core(tensor, core, factors, problem)
    design = _kron(factors)
    expected = _coordinate_descent(
        core.ravel(),
        design.T @ tensor.ravel(),
        design.T @ design,
        problem.weights[0],
        problem.penalties[0],
        sweeps=7,
    )
    np.testing.assert_allclose(new.ravel(), expected, rtol=1e-9, atol=1e-12)


def _core_sweeps_reference(entries, numerator, kron, alpha, pen, max_sweeps, rtol):
    """The core's sweep loop as it was in Python: a sweep, then the test on
    the change of the entries relative to their norm."""
    for sweep in range(1, max_sweeps + 1):
        before = entries
        entries = _coordinate_descent(before, numerator, kron, alpha, pen, sweeps=1)
        if np.linalg.norm(entries - before) <= rtol * np.linalg.norm(entries):
            return entries, sweep
    return entries, max_sweeps


@given(seed=st.integers(0, 2**31), n_modes=st.integers(2, 4))
@SETTINGS
def test_compiled_core_sweeps_stop_as_the_python_loop(seed, n_modes):
    # same entries and same number of sweeps, with the stopping test active
    # (rtol large enough that it stops within the budget on most draws)
    rng = np.random.default_rng(seed)
    _, _, core, factors = _random_model(rng, n_modes)
    tensor = rng.uniform(0, 2, size=tucker_to_tensor(core, factors).shape)
    problem = _problem(rng, n_modes, 2)
    kron = _kron([f.T @ f for f in factors])
    numerator = multi_mode_dot(tensor, factors, transpose=True).reshape(1, -1)
    rtol = float(rng.choice([1e-3, 1e-6]))
    entries = core.reshape(1, -1).copy()
    sweeps = _ntd_hals._core_sweeps(
        entries, numerator, kron, _ntd_hals._penalty(problem, 0), 40, rtol
    )
    expected, expected_sweeps = _core_sweeps_reference(
        core.ravel(),
        numerator.ravel(),
        kron,
        problem.weights[0],
        problem.penalties[0],
        40,
        rtol,
    )
    assert sweeps == expected_sweeps
    np.testing.assert_allclose(entries.ravel(), expected, rtol=1e-9, atol=1e-12)


def test_kron_is_numpys():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((4, 5))
    np.testing.assert_array_equal(_ntd_hals._kron(a, b), np.kron(a, b))


def test_projection_reuses_its_first_product_only_for_the_same_factor():
    rng = np.random.default_rng(0)
    tensor = rng.uniform(size=(9, 7, 6))
    factors = [rng.uniform(size=(s, 2)) for s in tensor.shape]
    # mode 0 has the smallest ratio 2/9: both other modes contract it first
    one, first = _ntd_hals.project_others(tensor, factors, 1)
    np.testing.assert_array_equal(
        one, multi_mode_dot(tensor, factors, skip=1, transpose=True)
    )
    two, again = _ntd_hals.project_others(tensor, factors, 2, reuse=first)
    assert again is first
    np.testing.assert_array_equal(
        two, multi_mode_dot(tensor, factors, skip=2, transpose=True)
    )
    factors[0] = factors[0] * 2.0  # a new A_0: the product is formed anew
    two, fresh = _ntd_hals.project_others(tensor, factors, 2, reuse=first)
    assert fresh is not first
    np.testing.assert_array_equal(
        two, multi_mode_dot(tensor, factors, skip=2, transpose=True)
    )


def _block_by_block(tensor, core, factors, problem, how, n_iter):
    """fit_ntd's iterations written as the block updates in turn."""
    core = np.maximum(core, _ntd_mu.EPSILON)
    factors = [np.maximum(f, _ntd_mu.EPSILON) for f in factors]
    if how != "none":
        core, factors = _ntd_mu.rescale_init(tensor, core, factors, problem)
        core, factors = _ntd_mu.balance(core, factors, problem, how)
    for _ in range(n_iter):
        for n in range(len(factors)):
            factors[n] = _ntd_mu.update_factor(tensor, core, factors, n, problem)
        core = _ntd_mu.update_core(tensor, core, factors, problem)
        core, factors = _ntd_mu.balance(core, factors, problem, how)
    return core, factors


@pytest.mark.parametrize("beta", [1, 2])
@pytest.mark.parametrize("how", ["sinkhorn", "none"])
@given(seed=st.integers(0, 2**31), n_modes=st.integers(2, 4))
@SETTINGS
def test_fit_iterations_are_the_block_updates_in_turn(beta, how, seed, n_modes):
    # the shared products (projections, Grams) of fit_ntd change no iterate
    rng = np.random.default_rng(seed)
    _, _, core, factors = _random_model(rng, n_modes)
    tensor = rng.poisson(3.0, size=tucker_to_tensor(core, factors).shape) * 1.0
    problem = _problem(rng, n_modes, beta)
    expected_core, expected = _block_by_block(
        tensor, core, list(factors), problem, how, 4
    )
    core, factors, _ = _ntd_mu.fit_ntd(
        tensor, core, factors, problem, balance_how=how, max_iter=4, tol=0
    )
    np.testing.assert_allclose(core, expected_core, rtol=1e-10)
    for factor, expected_factor in zip(factors, expected):
        np.testing.assert_allclose(factor, expected_factor, rtol=1e-10)


@pytest.mark.parametrize("beta", [1, 2, "2, core too large for HALS"])
@pytest.mark.parametrize("how", ["sinkhorn", "scalar", "none"])
@given(seed=st.integers(0, 2**31), n_modes=st.integers(2, 4))
@SETTINGS
def test_iterations_never_increase_the_objective(beta, how, seed, n_modes):
    if beta == "2, core too large for HALS":
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_ntd_mu, "CORE_MAX_SIZE", 0)
            return _never_increase(2, how, seed, n_modes)
    _never_increase(beta, how, seed, n_modes)


def _never_increase(beta, how, seed, n_modes):
    rng = np.random.default_rng(seed)
    _, _, core, factors = _random_model(rng, n_modes)
    shape = tucker_to_tensor(core, factors).shape
    tensor = rng.poisson(3.0, size=shape).astype(float)
    problem = _problem(rng, n_modes, beta)
    start = _ntd_mu.objective(tensor, core, factors, problem)
    # every single block update is a descent step
    for n in range(n_modes):
        factors[n] = _ntd_mu.update_factor(tensor, core, factors, n, problem)
        value = _ntd_mu.objective(tensor, core, factors, problem)
        assert value <= start * (1 + 1e-12) + 1e-12
        start = value
    core = _ntd_mu.update_core(tensor, core, factors, problem)
    assert _ntd_mu.objective(tensor, core, factors, problem) <= start * (1 + 1e-12)
    # and so is every outer iteration, balancing included
    core, factors, monitor = _ntd_mu.fit_ntd(
        tensor, core, factors, problem, balance_how=how, max_iter=15, tol=0
    )
    history = np.asarray(monitor.history)
    assert np.all(np.diff(history) <= 1e-10 * np.abs(history[:-1]) + 1e-12)
    # the tracked objective (for Frobenius from the projection on the
    # factors, shared with the core update) is that of the returned blocks
    exact = _ntd_mu.objective(tensor, core, factors, problem)
    assert history[-1] == pytest.approx(exact, rel=1e-9, abs=1e-9)


@given(seed=st.integers(0, 2**31), n_modes=st.integers(2, 4))
@SETTINGS
def test_sinkhorn_balancing_keeps_the_model_and_lowers_the_penalty(seed, n_modes):
    rng = np.random.default_rng(seed)
    _, _, core, factors = _random_model(rng, n_modes)
    # badly scaled blocks
    factors = [f * 10.0 ** rng.uniform(-2, 2, size=f.shape[1]) for f in factors]
    problem = _problem(rng, n_modes, 1)
    problem.weights[:] = list(rng.uniform(0.1, 1.0, size=n_modes + 1))
    before = _ntd_mu.penalty(core, factors, problem)
    G, A = sinkhorn_balance_tucker(
        core, factors, problem.weights, problem.penalties, max_sweeps=500, rtol=1e-13
    )
    np.testing.assert_allclose(
        tucker_to_tensor(G, A), tucker_to_tensor(core, factors), rtol=1e-9
    )
    after = _ntd_mu.penalty(G, A, problem)
    assert after <= before * (1 + 1e-12)
    # converged Sinkhorn is optimal over every diagonal rescaling, among them
    # the block-scalar ones and random perturbations of its own scales
    blocks, _ = balance_blocks([core, *factors], problem.weights, problem.penalties)
    assert after <= _ntd_mu.penalty(blocks[0], blocks[1:], problem) * (1 + 1e-6)
    for k in range(n_modes):
        scale = np.exp(rng.normal(0, 0.1, size=G.shape[k]))
        shape = [1] * n_modes
        shape[k] = -1
        perturbed = [f if j != k else f / scale for j, f in enumerate(A)]
        value = _ntd_mu.penalty(G * scale.reshape(shape), perturbed, problem)
        assert after <= value * (1 + 1e-6)


def test_block_balancing_keeps_the_model():
    rng = np.random.default_rng(1)
    _, _, core, factors = _random_model(rng, 3)
    problem = _ntd_mu.NTDProblem(1, [1.0, 0.5, 0.5, 2.0], ["l1", "l2", "l2", "l1"])
    blocks, scales = balance_blocks(
        [core, *factors], problem.weights, problem.penalties
    )
    assert np.isclose(np.prod(scales), 1.0)
    np.testing.assert_allclose(
        tucker_to_tensor(blocks[0], blocks[1:]), tucker_to_tensor(core, factors)
    )
    assert _ntd_mu.penalty(blocks[0], blocks[1:], problem) <= _ntd_mu.penalty(
        core, factors, problem
    )


@pytest.mark.parametrize("beta", [1, 2])
def test_sample_factor_is_the_minimizer(beta):
    rng = np.random.default_rng(2)
    _, _, core, factors = _random_model(rng, 3, max_size=6)
    tensor = rng.poisson(4.0, size=tucker_to_tensor(core, factors).shape) + 0.0
    problem = _ntd_mu.NTDProblem(beta, [0.1, 0.3, 0.1, 0.1], ["l1", "l2", "l2", "l2"])
    A0 = _ntd_mu.sample_factor(tensor, core, factors, problem)
    best = _ntd_mu.objective(tensor, core, [A0, *factors[1:]], problem)
    for _ in range(20):
        moved = np.maximum(A0 * np.exp(rng.normal(0, 1e-3, size=A0.shape)), 1e-16)
        value = _ntd_mu.objective(tensor, core, [moved, *factors[1:]], problem)
        assert best <= value * (1 + 1e-12)
