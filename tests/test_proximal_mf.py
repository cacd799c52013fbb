"""ProximalMF: recovery of known factors, agreement with peers and optima,
automatic steps vs hand-set steps, and the estimator surface."""

import functools
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from skfactor import ProximalMF
from skfactor.datasets import make_hyperspectral
from skfactor.metrics import factor_match_score
from skfactor.prox import (
    PROX_NAMES,
    compose,
    get_prox,
    prox_l1,
    prox_nonnegative,
    prox_simplex,
)


@pytest.fixture(scope="module")
def image():
    return make_hyperspectral(16, 16, 40, 3, n_photons=2000, random_state=0)


def _objective(X, W, H):
    return 0.5 * np.sum((X - W @ H) ** 2)


def _quiet(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit_transform(X)


# ---------------------------------------------------------------------------
# ground truth, peers and optima


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(prox_H="simplex"),
        dict(prox_H="simplex", prox_W="simplex"),
        dict(prox_H="simplex", prox_W="max_entropy", alpha_W=1e-4),
    ],
)
def test_recovers_endmembers(image, params):
    X, W_true, H_true = image
    model = ProximalMF(3, random_state=0, **params)
    W = model.fit_transform(X)
    score = factor_match_score([W_true, H_true.T], [W, model.components_.T])
    assert score > 0.93
    assert np.all(W >= 0) and np.all(model.components_ >= 0)
    if params.get("prox_H") == "simplex":
        np.testing.assert_allclose(model.components_.sum(axis=1), 1.0)
    if params.get("prox_W") == "simplex":
        np.testing.assert_allclose(W.sum(axis=1), 1.0)
    if params.get("prox_W") == "max_entropy":
        assert np.all(W > 0)


def test_same_objective_as_sklearn_nmf():
    """prox "nonnegative" on both factors is NMF: from the same start, both
    solvers reach the same objective, computed by one function."""
    X, _, _ = make_hyperspectral(12, 12, 30, 3, random_state=1)
    model = ProximalMF(3, tol=1e-8, max_iter=3000, random_state=0)
    W = model.fit_transform(X)
    W0, H0 = ProximalMF(3, max_iter=1, random_state=0)._initial_factors(
        X, 3, np.random.RandomState(0)
    )
    nmf = NMF(3, solver="cd", init="custom", tol=1e-10, max_iter=5000)
    W_sk = nmf.fit_transform(X, W=np.maximum(W0, 0), H=np.maximum(H0, 0))
    ours, theirs = (
        _objective(X, W, model.components_),
        _objective(X, W_sk, nmf.components_),
    )
    assert ours == pytest.approx(theirs, rel=1e-4)
    assert model.objective_[-1] == pytest.approx(ours, rel=1e-6)
    assert model.reconstruction_err_ == pytest.approx(np.sqrt(2 * ours), rel=1e-10)


def test_unconstrained_reaches_the_eckart_young_optimum():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 15))
    for init in ("svd", "random"):
        model = ProximalMF(
            4,
            prox_W="identity",
            prox_H="identity",
            init=init,
            tol=1e-12,
            max_iter=3000,
            random_state=0,
        )
        model.fit(X)
        s = np.linalg.svd(X, compute_uv=False)
        assert model.reconstruction_err_ == pytest.approx(
            np.sqrt(np.sum(s[4:] ** 2)), rel=1e-6
        )


@pytest.mark.parametrize(
    "prox_W, alpha_W, prox_H, alpha_H",
    [
        ("nonnegative", 0.0, "nonnegative", 0.0),
        ("l1", 0.05, "simplex", 0.0),
        ("nonnegative_l1", 0.05, "l2_ball", 0.0),
        ("max_entropy", 0.01, "group_l2", 0.05),
        ("box", 0.0, "nonnegative_l1", 0.02),
    ],
)
def test_converges_to_a_stationary_point(image, prox_W, alpha_W, prox_H, alpha_H):
    """First-order optimality: each factor is a fixed point of its own
    proximal gradient map, W = prox_{tg}(W - t grad_W f)."""
    X = image[0][:80] * 10
    model = ProximalMF(
        3,
        prox_W=prox_W,
        alpha_W=alpha_W,
        prox_H=prox_H,
        alpha_H=alpha_H,
        tol=1e-10,
        max_iter=5000,
        random_state=0,
    )
    W = _quiet(model, X)  # checks stationarity, whatever the stopping rule says
    H = model.components_
    op_W = get_prox(prox_W, alpha=alpha_W) if alpha_W else get_prox(prox_W)
    op_H = get_prox(prox_H, alpha=alpha_H) if alpha_H else get_prox(prox_H)
    t_W = 1 / np.linalg.eigvalsh(H @ H.T)[-1]
    t_H = 1 / np.linalg.eigvalsh(W.T @ W)[-1]
    W_map = op_W(W - t_W * (W @ H - X) @ H.T, t_W)
    H_map = op_H(H - t_H * W.T @ (W @ H - X), t_H)
    assert np.linalg.norm(W_map - W) <= 1e-3 * np.linalg.norm(W)
    assert np.linalg.norm(H_map - H) <= 1e-3 * np.linalg.norm(H)


def test_group_l2_selects_components():
    """A group penalty on the rows of H switches surplus components off."""
    X, _, _ = make_hyperspectral(12, 12, 30, 2, n_photons=None, random_state=3)
    model = ProximalMF(
        5,
        prox_W="simplex",
        prox_H="group_l2",
        alpha_H=0.01,
        max_iter=1000,
        random_state=0,
    )
    _quiet(model, X)
    active = np.linalg.norm(model.components_, axis=1) > 0
    assert active.sum() == 2


def test_l1_penalty_sparsifies(image):
    X = image[0]
    dense = ProximalMF(3, prox_H="simplex", random_state=0).fit_transform(X)
    sparse = ProximalMF(
        3, prox_H="simplex", prox_W="nonnegative_l1", alpha_W=0.01, random_state=0
    ).fit_transform(X)
    assert np.mean(sparse == 0) > np.mean(dense == 0) + 0.1


@pytest.mark.parametrize("penalty", ["l1", "nonnegative_l1", "group_l2"])
def test_penalty_escaped_by_rescaling_warns(penalty):
    X = np.random.default_rng(0).uniform(size=(10, 6))
    with pytest.warns(UserWarning, match="rescaling H -> c H, W -> W / c"):
        _quiet(ProximalMF(2, prox_H=penalty, alpha_H=0.1), X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _quiet(ProximalMF(2, prox_W="simplex", prox_H=penalty, alpha_H=0.1), X)
        _quiet(
            ProximalMF(2, prox_W=penalty, prox_H=penalty, alpha_W=0.1, alpha_H=0.1), X
        )


# ---------------------------------------------------------------------------
# the seed's open problem: automatic vs hand-set steps


def test_automatic_steps_versus_hand_set_steps(image):
    """The seed's open problem, measured: iterations to reach 0.1% of the
    minimum with the automatic steps, with one hand-set step for both factors
    (a log grid over six decades), and with every hand-set pair of a grid
    centred on the inverse Lipschitz constants at the start (which a user
    would not know in advance). Deterministic: same data, same start."""
    X = image[0]
    minimum = ProximalMF(3, tol=1e-9, max_iter=2000, random_state=0).fit(X)
    target = minimum.objective_[-1] * (1 + 1e-3)

    def iterations_to_target(step_size):
        model = ProximalMF(3, step_size=step_size, tol=0, max_iter=300, random_state=0)
        with warnings.catch_warnings():
            # bad fixed steps stall, or zero a factor (and say so)
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            try:
                model.fit(X)
            except ValueError:  # diverged
                return np.inf, model
        reached = np.flatnonzero(model.objective_ <= target)
        return (reached[0] if reached.size else np.inf), model

    auto, _ = iterations_to_target("auto")
    lipschitz, model = iterations_to_target("lipschitz")
    t_W, t_H = model.step_sizes_[0]
    single = min(iterations_to_target(t)[0] for t in np.logspace(-4, 2, 7))
    pairs = {
        (a, b): iterations_to_target((a * t_W, b * t_H))[0]
        for a in (0.25, 0.5, 1.0, 2.0, 4.0)
        for b in (0.25, 0.5, 1.0, 2.0, 4.0)
    }
    assert np.isfinite(auto)
    assert auto * 1.5 <= single  # one step cannot suit both factors
    assert auto < lipschitz  # the adaptive steps beat the inverse Lipschitz ones
    # and no more iterations than any pair of the grid (57 vs 69 for the best)
    assert all(auto <= n for n in pairs.values()), (auto, min(pairs.values()))


@pytest.mark.parametrize("step", ["auto", "lipschitz"])
def test_automatic_steps_are_scale_invariant(image, step):
    """Rescaling the components of the start, (W, H) -> (W D, D^-1 H), leaves
    the iterates' product unchanged with the automatic steps: for any
    positive diagonal D with "auto" (balanced components), for D = cI with
    "lipschitz"; not with a fixed step."""
    X = image[0][:100]
    W0, H0 = ProximalMF(3)._initial_factors(X, 3, np.random.RandomState(0))
    W0, H0 = np.maximum(W0, 0), np.maximum(H0, 0)
    scales = np.array([1.0, 30.0, 0.1]) if step == "auto" else np.full(3, 30.0)
    products = {}
    for step_size in (step, 1.0):
        for name, d in (("one", np.ones(3)), ("scaled", scales)):
            model = ProximalMF(
                3,
                init=(W0 * d, H0 / d[:, None]),
                step_size=step_size,
                max_iter=20,
                tol=0,
            )
            with warnings.catch_warnings():
                if step_size == 1.0:
                    # far too large for the rescaled start: it zeroes the
                    # factors, which fit reports
                    warnings.simplefilter("ignore", UserWarning)
                W = _quiet(model, X)
            products[step_size, name] = W @ model.components_
    np.testing.assert_allclose(
        products[step, "scaled"], products[step, "one"], rtol=1e-6, atol=1e-12
    )
    assert not np.allclose(products[1.0, "scaled"], products[1.0, "one"], rtol=1e-3)


def test_balanced_components_only_for_cones(image):
    """With cone constraints "auto" returns components of equal norms in W
    and H (up to the last iteration's change); with a simplex on H the
    normalization is kept and nothing is rescaled."""
    X = image[0]
    model = ProximalMF(3, random_state=0, max_iter=50, tol=0)
    W = _quiet(model, X)
    ratio = np.linalg.norm(W, axis=0) / np.linalg.norm(model.components_, axis=1)
    np.testing.assert_allclose(ratio, 1.0, rtol=0.05)
    lipschitz = ProximalMF(3, random_state=0, max_iter=50, tol=0, step_size="lipschitz")
    W = _quiet(lipschitz, X)
    ratio = np.linalg.norm(W, axis=0) / np.linalg.norm(lipschitz.components_, axis=1)
    assert not np.allclose(ratio, 1.0, rtol=0.05)
    simplex = ProximalMF(3, prox_H="simplex", random_state=0, max_iter=50, tol=0)
    _quiet(simplex, X)
    np.testing.assert_allclose(simplex.components_.sum(axis=1), 1.0)


# ---------------------------------------------------------------------------
# estimator surface


def test_attributes_and_monotone_objective(image):
    X = image[0]
    model = ProximalMF(3, random_state=0).fit(X)
    assert model.components_.shape == (3, X.shape[1])
    assert model.n_components_ == 3
    assert model.objective_.shape == (model.n_iter_ + 1,)
    assert model.step_sizes_.shape == (model.n_iter_, 2)
    # at least the two proximal steps of every iteration
    assert model.n_prox_ >= 2 * model.n_iter_
    assert np.all(np.diff(model.objective_) <= 1e-12 * model.objective_[0])
    assert model.n_features_in_ == X.shape[1]
    assert list(model.get_feature_names_out()) == [
        "proximalmf0",
        "proximalmf1",
        "proximalmf2",
    ]


def test_transform_matches_fit_transform_and_is_row_independent(image):
    X = image[0]
    model = ProximalMF(3, prox_W="simplex", prox_H="simplex", random_state=0)
    W = model.fit_transform(X)
    np.testing.assert_allclose(model.transform(X), W, atol=1e-3 * np.abs(W).max())
    np.testing.assert_allclose(model.transform(X[:10]), W[:10], atol=1e-3)
    np.testing.assert_allclose(model.transform(X[:10]).sum(axis=1), 1.0)
    np.testing.assert_allclose(
        model.inverse_transform(W), W @ model.components_, rtol=1e-12
    )


def test_float32_sparse_and_pandas(image):
    X = image[0]
    model = ProximalMF(3, random_state=0)
    W64 = model.fit_transform(X)
    W32 = ProximalMF(3, random_state=0).fit_transform(X.astype(np.float32))
    assert W32.dtype == np.float32
    np.testing.assert_allclose(W32, W64, rtol=1e-2, atol=1e-2 * np.abs(W64).max())
    W_sparse = ProximalMF(3, random_state=0).fit_transform(sp.csr_matrix(X))
    np.testing.assert_allclose(W_sparse, W64, rtol=1e-5, atol=1e-8)
    pd = pytest.importorskip("pandas")
    out = model.set_output(transform="pandas").transform(pd.DataFrame(X))
    assert list(out.columns) == ["proximalmf0", "proximalmf1", "proximalmf2"]


def test_determinism_and_pickle(image):
    X = image[0]
    a = ProximalMF(3, init="random", random_state=7).fit(X)
    b = ProximalMF(3, init="random", random_state=7).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.objective_, b.objective_)
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.transform(X), a.transform(X))


def test_verbose_prints_the_objective(image, capsys):
    ProximalMF(3, max_iter=3, tol=0, verbose=1, random_state=0).fit(image[0])
    out = capsys.readouterr().out
    assert "[ProximalMF] initialization: objective" in out
    assert "[ProximalMF] iteration    3: objective" in out
    # the final W-solve of fit is internal: not printed (issue 18)
    assert "[ProximalMF.transform]" not in out


# ---------------------------------------------------------------------------
# callables


def test_callable_operators(image):
    X = image[0]
    columns_on_simplex = functools.partial(prox_simplex, axis=0)
    model = ProximalMF(3, prox_W=columns_on_simplex, random_state=0)
    W = model.fit_transform(X)
    np.testing.assert_allclose(W.sum(axis=0), 1.0)
    sparse_nonnegative = compose(
        prox_nonnegative, functools.partial(prox_l1, alpha=0.01)
    )
    model = ProximalMF(3, prox_H=sparse_nonnegative, random_state=0)
    _quiet(model, X)
    H = model.components_
    W = model.transform(X)
    # the composed operator's penalty is part of the objective
    assert model.objective_[-1] >= _objective(X, W, H) + 0.01 * H.sum() * (1 - 1e-6)


def test_user_callable_with_a_penalty_attribute(image):
    X = image[0]

    def prox(V, step):
        return np.maximum(V - step * 0.01, 0)

    plain = ProximalMF(3, prox_H=prox, max_iter=5, tol=0, random_state=0)
    _quiet(plain, X)
    prox.penalty = lambda H: 0.01 * H.sum()
    weighted = ProximalMF(3, prox_H=prox, max_iter=5, tol=0, random_state=0)
    _quiet(weighted, X)
    np.testing.assert_allclose(weighted.components_, plain.components_)
    difference = weighted.objective_[-1] - plain.objective_[-1]
    assert difference == pytest.approx(0.01 * plain.components_.sum())


# ---------------------------------------------------------------------------
# bad input


def test_unknown_operator_lists_the_valid_names():
    with pytest.raises(InvalidParameterError, match="'prox_W' parameter") as info:
        ProximalMF(prox_W="sparse").fit(np.ones((3, 3)))
    for name in PROX_NAMES:
        assert repr(name) in str(info.value)


def test_callable_with_wrong_shape_or_values_names_the_factor():
    X = np.random.default_rng(0).uniform(size=(10, 6))
    with pytest.raises(
        ValueError, match="prox_W returned an array of shape \\(3,\\).*factor W"
    ):
        ProximalMF(2, prox_W=lambda V, step: np.zeros(3)).fit(X)
    with pytest.raises(ValueError, match="prox_H returned non-finite values.*factor H"):
        ProximalMF(2, prox_H=lambda V, step: np.full_like(V, np.nan)).fit(X)
    with pytest.raises(ValueError, match="prox_H returned .* not a real array"):
        ProximalMF(2, prox_H=lambda V, step: "nope").fit(X)


def test_alpha_without_effect_is_an_error():
    X = np.ones((4, 3))
    with pytest.raises(
        ValueError, match="alpha_H=0.1 has no effect with prox_H='simplex'"
    ):
        ProximalMF(prox_H="simplex", alpha_H=0.1).fit(X)
    with pytest.raises(ValueError, match="alpha_W=0.1 only weighs the named operators"):
        ProximalMF(prox_W=prox_nonnegative, alpha_W=0.1).fit(X)


def test_initialization_violating_the_constraints_is_projected():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(10, 6))
    W0, H0 = rng.normal(size=(10, 2)), rng.normal(size=(2, 6)) + 5
    model = ProximalMF(2, prox_H="simplex", init=(W0, H0), max_iter=1, tol=0)
    _quiet(model, X)
    projected = (np.maximum(W0, 0), prox_simplex(H0, 0.0))
    assert model.objective_[0] == pytest.approx(_objective(X, *projected))
    np.testing.assert_array_equal(W0, model.init[0])  # not modified


def test_bad_init_and_step_size():
    X = np.ones((4, 3))
    with pytest.raises(
        ValueError, match="initial W given in init has shape \\(4, 3\\)"
    ):
        ProximalMF(2, init=(np.ones((4, 3)), np.ones((2, 3)))).fit(X)
    with pytest.raises(ValueError, match="pair \\(W, H\\)"):
        ProximalMF(2, init=(np.ones((4, 2)),)).fit(X)
    with pytest.raises(ValueError, match="init W.*NaN"):
        ProximalMF(2, init=(np.full((4, 2), np.nan), np.ones((2, 3)))).fit(X)
    for bad in ((1.0,), (1.0, -1.0), (1.0, "a"), (1.0, np.inf)):
        with pytest.raises(
            ValueError, match="step_size must be 'auto', 'lipschitz', a positive float"
        ):
            ProximalMF(2, step_size=bad).fit(X)
    model = ProximalMF(init=(np.ones((4, 2)), np.ones((2, 3))), max_iter=2)
    _quiet(model, X)
    assert model.n_components_ == 2


def test_too_large_fixed_step_diverges_with_a_clear_error(image):
    with pytest.raises(
        ValueError, match="diverged with step_size=1000.0.*t_W = .*step_size='auto'"
    ):
        ProximalMF(3, step_size=1000.0, max_iter=500, random_state=0).fit(image[0])


def test_penalty_that_kills_every_component_warns():
    X = np.random.default_rng(0).uniform(size=(10, 6))
    with pytest.warns(UserWarning, match="every component is zero"):
        W = ProximalMF(
            2, prox_W="simplex", prox_H="nonnegative_l1", alpha_H=1e6
        ).fit_transform(X)
    assert np.all(np.isfinite(W))


@pytest.mark.parametrize(
    "X",
    [
        np.zeros((5, 4)),
        np.full((5, 4), 3.0),
        np.random.default_rng(0).uniform(size=(1, 4)),
        np.random.default_rng(0).uniform(size=(5, 1)),
        np.random.default_rng(0).uniform(size=(5, 4)) * 1e-300,
        np.random.default_rng(0).uniform(size=(5, 4)) * 1e150,
        -np.random.default_rng(0).uniform(size=(5, 4)),
    ],
    ids=["zeros", "constant", "one-sample", "one-feature", "tiny", "huge", "negative"],
)
def test_degenerate_data_gives_finite_results(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ProximalMF(2, random_state=0)
        W = model.fit_transform(X)
        W2 = model.transform(X)
    for A in (W, W2, model.components_, model.objective_):
        assert np.all(np.isfinite(A))
    assert np.isfinite(model.reconstruction_err_)


def test_overflowing_data_is_rejected():
    with pytest.raises(ValueError, match="overflows"):
        ProximalMF(2).fit(np.full((3, 3), 1e300))
