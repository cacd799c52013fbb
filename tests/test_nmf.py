"""BalancedSparseNMF: peer agreement with scikit-learn, reproduction of seed 002,
recovery of known factors, sparse input, the estimator surface and bad input."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning

from skfactor import BalancedSparseNMF
from skfactor.datasets import make_sparse_nmf
from skfactor.decomposition import _mu
from skfactor.metrics import factor_match_score


def _seed_setup(seed):
    """Seed 002's sparse NMF set-up: 30 x 30, rank 4, 30% zeros, Poisson at
    40 dB, and the uniform random initialization of the authors' script."""
    X, W, H = make_sparse_nmf(30, 30, 4, sparsity=0.3, snr=40, random_state=seed)
    rng = np.random.RandomState(1000 + seed)
    return X, W, H, (rng.uniform(size=(30, 4)), rng.uniform(size=(4, 30)))


def _fms(W_true, H_true, W, H):
    return factor_match_score([W_true, H_true.T], [W, H.T])


def _first_reach(history, target):
    reached = np.nonzero(np.asarray(history) <= target)[0]
    return int(reached[0]) if reached.size else np.inf


# -- agreement with scikit-learn ---------------------------------------------


@pytest.mark.parametrize(
    "beta_loss, penalty, l1_ratio",
    [
        ("kullback-leibler", "l1", 1.0),
        ("frobenius", "l1", 1.0),
        ("frobenius", "l2", 0.0),
    ],
)
def test_unbalanced_updates_are_sklearns_with_converted_alphas(
    beta_loss, penalty, l1_ratio
):
    """With balance="none", our updates are scikit-learn's MU updates once its
    alphas are converted (n_features / n_samples scaling, 1/2 on ridge), which
    also checks the conversion documented in the docstring."""
    X, _, _, (W0, H0) = _seed_setup(0)
    X = X[:, :25]
    H0 = H0[:, :25]
    n_samples, n_features = X.shape
    sk_alpha_W, sk_alpha_H = 0.004, 0.002
    factor = 1.0 if penalty == "l1" else 0.5
    alpha_W = factor * sk_alpha_W * n_features
    alpha_H = factor * sk_alpha_H * n_samples
    n_iter = 30
    sk = NMF(
        4,
        solver="mu",
        beta_loss=beta_loss,
        l1_ratio=l1_ratio,
        alpha_W=sk_alpha_W,
        alpha_H=sk_alpha_H,
        init="custom",
        max_iter=n_iter,
        tol=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W_sk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    ours = BalancedSparseNMF(
        4,
        beta_loss=beta_loss,
        alpha_W=alpha_W,
        alpha_H=alpha_H,
        penalty_W=penalty,
        penalty_H=penalty,
        balance="none",
        init=(W0, H0),
        solver="mu",
        max_iter=n_iter,
        tol=0,
    ).fit(X)
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-8)
    beta = _mu.BETA[beta_loss]
    sk_objective = _mu.objective(
        X, W_sk, sk.components_, beta, alpha_W, alpha_H, penalty, penalty
    )
    assert ours.objective_[n_iter] == pytest.approx(sk_objective, rel=1e-10)
    # the final exact W-step can only improve on the MU iterate
    assert ours.objective_[-1] <= sk_objective


# -- seed 002 ----------------------------------------------------------------


@pytest.mark.parametrize("mu", [0.05, 0.1])
def test_seed_reproduction_balanced_reaches_unbalanced_100_iterations(mu):
    """Seed 002: balanced KL-NMF reaches the loss of 100 unbalanced iterations
    in 7 (mu = 0.05) and 11 (mu = 0.1) iterations; issue: in at most 15.

    The seed's iterations are outer iterations of inner multiplicative
    updates (``n_inner``); over 10 draws of data and initialization the
    median is at most 15 and every draw gets there in at most 25, and the
    factor match score of the balanced run is at least the unbalanced one."""
    reached = []
    for seed in range(10):
        X, W_true, H_true, init = _seed_setup(seed)
        runs = {}
        for balance in ("every", "none"):
            model = BalancedSparseNMF(
                4,
                alpha_W=mu,
                alpha_H=mu,
                balance=balance,
                init=init,
                n_inner=20,
                max_iter=100,
                tol=0,
            )
            W = model.fit_transform(X)
            runs[balance] = (
                model.objective_,
                _fms(W_true, H_true, W, model.components_),
            )
        target = runs["none"][0][100]
        reached.append(_first_reach(runs["every"][0][:101], target))
        assert runs["every"][1] >= runs["none"][1] - 1e-4
    assert np.median(reached) <= 15, reached
    assert max(reached) <= 25, reached


def test_balancing_helps_with_one_update_per_iteration():
    """With the default n_inner=1 balancing still wins at equal iterations."""
    for seed in range(3):
        X, _, _, init = _seed_setup(seed)
        final = {}
        for balance in ("every", "init", "none"):
            model = BalancedSparseNMF(
                4,
                alpha_W=0.1,
                alpha_H=0.1,
                balance=balance,
                init=init,
                solver="mu",
                max_iter=100,
                tol=0,
            ).fit(X)
            final[balance] = model.objective_[100]
        assert final["every"] < 0.5 * final["none"]
        assert final["init"] < final["none"]


def test_recovers_known_sparse_factors():
    X, W_true, H_true = make_sparse_nmf(60, 40, 3, sparsity=0.3, snr=50, random_state=3)
    model = BalancedSparseNMF(
        3, alpha_W=0.05, alpha_H=0.05, max_iter=1000, tol=1e-6, random_state=0
    )
    W = model.fit_transform(X)
    assert _fms(W_true, H_true, W, model.components_) > 0.99
    assert np.mean(W <= 1e-8) == pytest.approx(0.3, abs=0.02)  # the true zeros
    # a strong l1 penalty (the data are counts of ~5e4) makes sparser factors
    strong = BalancedSparseNMF(
        3, alpha_W=3000.0, alpha_H=3000.0, max_iter=1000, tol=1e-6, random_state=0
    )
    W_strong = strong.fit_transform(X)
    assert np.mean(W_strong <= 1e-8) > np.mean(W <= 1e-8)


# -- sparse input --------------------------------------------------------------


@pytest.mark.parametrize("beta_loss", ["kullback-leibler", "frobenius"])
@pytest.mark.parametrize("solver", ["mu", "cd"])
def test_sparse_input_gives_the_dense_result(beta_loss, solver):
    X, _, _ = make_sparse_nmf(25, 20, 3, sparsity=0.5, snr=20, random_state=1)
    kwargs = dict(
        n_components=3,
        beta_loss=beta_loss,
        solver=solver,
        alpha_W=0.1,
        alpha_H=0.2,
        penalty_H="l2",
        max_iter=40,
        tol=0,
        init="random",
        random_state=0,
    )
    dense = BalancedSparseNMF(**kwargs)
    W = dense.fit_transform(X)
    for container in (sp.csr_matrix, sp.csc_matrix, sp.coo_array):
        est = BalancedSparseNMF(**kwargs)
        W_sparse = est.fit_transform(container(X))
        np.testing.assert_allclose(W_sparse, W, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(
            est.components_, dense.components_, rtol=1e-7, atol=1e-10
        )
        np.testing.assert_allclose(est.objective_, dense.objective_, rtol=1e-9)
        np.testing.assert_allclose(
            est.transform(container(X)), W, rtol=1e-7, atol=1e-10
        )


def test_sparse_kl_never_densifies(monkeypatch):
    """A 4000 x 3000 CSR matrix with 12000 nonzeros: the dense matrix would
    take 96 MB; the fit allocates far less, and never calls toarray."""
    rng = np.random.default_rng(0)
    n_samples, n_features, nnz = 4000, 3000, 12000
    X = sp.csr_matrix(
        (
            rng.poisson(3, nnz) + 1.0,
            (rng.integers(0, n_samples, nnz), rng.integers(0, n_features, nnz)),
        ),
        shape=(n_samples, n_features),
    )

    def forbidden(*args, **kwargs):
        raise AssertionError("the sparse data matrix was densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", forbidden)
        monkeypatch.setattr(cls, "todense", forbidden)
    model = BalancedSparseNMF(
        5, alpha_W=0.1, alpha_H=0.1, init="random", max_iter=3, tol=0, random_state=0
    )
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    dense_bytes = n_samples * n_features * 8
    assert peak < dense_bytes / 8, f"peak {peak / 1e6:.1f} MB"
    assert W.shape == (n_samples, 5) and np.all(np.isfinite(W))


# -- transform and the surface ---------------------------------------------------


@pytest.mark.parametrize("beta_loss", ["kullback-leibler", "frobenius"])
def test_transform_solves_the_w_subproblem_exactly(beta_loss):
    """On noiseless data built from the fitted components, transform returns
    the activations that generated the data."""
    X, _, _ = make_sparse_nmf(40, 30, 3, snr=None, random_state=2)
    model = BalancedSparseNMF(3, beta_loss=beta_loss, max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    rng = np.random.default_rng(0)
    W_new = rng.uniform(0.5, 2.0, size=(15, 3))
    recovered = model.transform(W_new @ model.components_)
    np.testing.assert_allclose(recovered, W_new, rtol=1e-6)


def test_fit_transform_agrees_with_transform():
    X, _, _ = make_sparse_nmf(30, 20, 4, random_state=4)
    model = BalancedSparseNMF(
        4, alpha_W=0.5, alpha_H=0.2, penalty_W="l2", max_iter=30, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(X)
    np.testing.assert_allclose(model.transform(X), W, rtol=1e-6, atol=1e-9)


def test_attributes_and_objective_history():
    X, _, _ = make_sparse_nmf(random_state=0)
    model = BalancedSparseNMF(4, alpha_W=0.1, alpha_H=0.1, random_state=0, max_iter=500)
    W = model.fit_transform(X)
    H = model.components_
    assert W.shape == (30, 4) and H.shape == (4, 30)
    assert model.n_components_ == 4 and model.n_features_in_ == 30
    assert model.objective_.shape == (model.n_iter_ + 2,)
    assert np.all(np.diff(model.objective_) <= 1e-10 * model.objective_[:-1])
    final = _mu.objective(X, W, H, 1, 0.1, 0.1, "l1", "l1")
    assert model.objective_[-1] == pytest.approx(final, rel=1e-9)
    divergence = _mu.beta_divergence(X, W, H, 1)
    assert model.reconstruction_err_ == pytest.approx(np.sqrt(2 * divergence), rel=1e-9)
    np.testing.assert_allclose(model.inverse_transform(W), W @ H)
    assert list(model.get_feature_names_out()) == [
        f"balancedsparsenmf{i}" for i in range(4)
    ]


def test_frobenius_reconstruction_error_is_the_residual_norm():
    X, _, _ = make_sparse_nmf(random_state=1)
    model = BalancedSparseNMF(3, beta_loss="frobenius", random_state=0, max_iter=500)
    W = model.fit_transform(X)
    assert model.reconstruction_err_ == pytest.approx(
        np.linalg.norm(X - W @ model.components_), rel=1e-9
    )


def test_float32_deterministic_pickle_pandas():
    X, _, _ = make_sparse_nmf(random_state=5)
    X32 = X.astype(np.float32)
    model = BalancedSparseNMF(
        3, alpha_W=0.1, alpha_H=0.1, random_state=0, init="random"
    )
    W32 = model.fit_transform(X32)
    assert W32.dtype == np.float32 and model.components_.dtype == np.float32
    assert model.transform(X32).dtype == np.float32
    again = BalancedSparseNMF(
        3, alpha_W=0.1, alpha_H=0.1, random_state=0, init="random"
    )
    np.testing.assert_array_equal(again.fit_transform(X32), W32)
    np.testing.assert_array_equal(again.components_, model.components_)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.transform(X32), model.transform(X32))
    pd = pytest.importorskip("pandas")
    frame = model.set_output(transform="pandas").transform(X)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [f"balancedsparsenmf{i}" for i in range(3)]


def test_verbose_prints_every_iteration(capsys):
    X, _, _ = make_sparse_nmf(random_state=0)
    BalancedSparseNMF(2, max_iter=3, tol=0, verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert out.count("[BalancedSparseNMF] iteration") == 3
    assert "exact W-step" in out


def test_convergence_warning_and_n_iter():
    X, _, _ = make_sparse_nmf(random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=2"):
        model = BalancedSparseNMF(4, max_iter=2, random_state=0).fit(X)
    assert model.n_iter_ == 2


@pytest.mark.parametrize("init", ["random", "nndsvda"])
@pytest.mark.parametrize("balance", ["every", "init", "none"])
def test_options_fit(init, balance):
    X, W_true, H_true = make_sparse_nmf(random_state=6)
    model = BalancedSparseNMF(
        4,
        alpha_W=0.1,
        alpha_H=0.05,
        penalty_H="l2",
        balance=balance,
        init=init,
        max_iter=300,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(X)
    assert _fms(W_true, H_true, W, model.components_) > 0.9


def test_n_components_auto_and_none():
    X, _, _ = make_sparse_nmf(20, 10, 2, random_state=0)
    init = (np.ones((20, 3)), np.ones((3, 10)))
    model = BalancedSparseNMF(init=init, max_iter=5, tol=0).fit(X)
    assert model.n_components_ == 3
    model = BalancedSparseNMF(None, max_iter=5, tol=0).fit(X)
    assert model.n_components_ == 10
    with pytest.raises(
        ValueError, match=r"init W has shape \(20, 3\); expected \(20, 2\)"
    ):
        BalancedSparseNMF(2, init=init).fit(X)


# -- bad input -------------------------------------------------------------------


def test_negative_entries_are_counted():
    X, _, _ = make_sparse_nmf(random_state=0)
    X[0, :3] = -1.0
    with pytest.raises(ValueError, match="3 negative entries"):
        BalancedSparseNMF(2).fit(X)
    with pytest.raises(ValueError, match="3 negative entries"):
        BalancedSparseNMF(2).fit(sp.csr_matrix(X))
    model = BalancedSparseNMF(2, max_iter=5, tol=0).fit(np.abs(X))
    with pytest.raises(ValueError, match="transform: 3 negative entries"):
        model.transform(X)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((5, 4), np.nan), "NaN"),
        (np.full((5, 4), np.inf), "infinity"),
        (np.ones((5, 4), dtype=complex), "[Cc]omplex"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), "could not convert"),
        (np.ones((0, 4)), "0 sample"),
        (np.ones((4, 0)), "0 feature"),
        (np.ones(4), "2D array"),
    ],
)
def test_bad_data_gets_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        BalancedSparseNMF(2).fit(bad)


def test_wrong_number_of_features_in_transform():
    X, _, _ = make_sparse_nmf(random_state=0)
    model = BalancedSparseNMF(2, max_iter=5, tol=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :5])


@pytest.mark.parametrize("beta_loss", ["kullback-leibler", "frobenius"])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_zero_rows_and_columns_are_allowed(beta_loss, fmt):
    X, _, _ = make_sparse_nmf(random_state=0)
    X[3] = 0
    X[:, 7] = 0
    X = sp.csr_matrix(X) if fmt == "csr" else X
    model = BalancedSparseNMF(
        4, beta_loss=beta_loss, alpha_W=0.1, alpha_H=0.1, max_iter=50, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(X)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(model.components_))
    assert np.all(np.isfinite(model.objective_))
    assert W[3].max() < 1e-10 and model.components_[:, 7].max() < 1e-10
    W_zero = model.transform(np.zeros((2, 30)))
    assert np.all(np.isfinite(W_zero)) and W_zero.max() < 1e-10


def test_all_zero_data():
    model = BalancedSparseNMF(2, max_iter=5, tol=0)
    W = model.fit_transform(np.zeros((6, 4)))
    assert np.all(np.isfinite(W)) and W.max() < 1e-10
    assert np.all(np.isfinite(model.objective_))


def test_n_components_above_min_dimension_warns():
    X, _, _ = make_sparse_nmf(10, 6, 2, random_state=0)
    message = r"n_components=8 is larger than min\(n_samples, n_features\) = 6"
    with pytest.warns(UserWarning, match=message):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = BalancedSparseNMF(8, max_iter=20).fit(X)
    assert np.all(np.isfinite(model.components_))


@pytest.mark.parametrize("beta_loss", ["kullback-leibler", "frobenius"])
def test_penalty_that_zeroes_every_component_warns(beta_loss):
    X, _, _ = make_sparse_nmf(random_state=0)
    model = BalancedSparseNMF(
        4, beta_loss=beta_loss, alpha_W=1e7, alpha_H=1e7, max_iter=50, random_state=0
    )
    with pytest.warns(UserWarning, match="Every component is zero"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            W = model.fit_transform(X)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(model.objective_))
    assert np.abs(W @ model.components_).max() < 1e-6 * X.max()


@pytest.mark.parametrize("magnitude", [1e-300, 1e300])
@pytest.mark.parametrize("beta_loss", ["kullback-leibler", "frobenius"])
def test_extreme_magnitudes(magnitude, beta_loss):
    """Without penalty the problem is scale-equivariant: the fit of c X is c
    times the fit of X, also where the 1e-16 floor or overflow would bite."""
    X, _, _ = make_sparse_nmf(random_state=0)
    kwargs = dict(
        n_components=4, beta_loss=beta_loss, max_iter=30, tol=0, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = BalancedSparseNMF(**kwargs)
        W = reference.fit_transform(X)
        model = BalancedSparseNMF(**kwargs)
        W_c = model.fit_transform(X * magnitude)
    assert np.all(np.isfinite(W_c)) and np.all(np.isfinite(model.components_))
    model_ref = W @ reference.components_
    # the data scaled back differ at rounding level, which 30 iterations
    # amplify; entries near the floor agree relative to the largest
    np.testing.assert_allclose(
        W_c @ model.components_ / magnitude,
        model_ref,
        rtol=1e-5,
        atol=1e-12 * model_ref.max(),
    )
    assert model.reconstruction_err_ == pytest.approx(
        reference.reconstruction_err_
        * magnitude ** (1 if beta_loss == "frobenius" else 0.5),
        rel=1e-6,
    )


def test_parameter_validation():
    X, _, _ = make_sparse_nmf(random_state=0)
    with pytest.raises(ValueError, match="alpha_W"):
        BalancedSparseNMF(alpha_W=-1.0).fit(X)
    with pytest.raises(ValueError, match="balance"):
        BalancedSparseNMF(balance="sometimes").fit(X)
    with pytest.raises(ValueError, match="penalty_H"):
        BalancedSparseNMF(penalty_H="l0").fit(X)
    with pytest.raises(ValueError, match="init"):
        BalancedSparseNMF(init="nndsvd").fit(X)


def test_only_the_geometric_mean_of_the_l1_weights_matters_when_balanced():
    """Cohen and Leplat, eq. 19: the balanced problem depends on sqrt(alpha_W alpha_H)
    only. With balancing every iteration, (0.1, 0.1), (1, 0.01) and (0.01, 1)
    give the same model W @ H and the same objective; without, they do not."""
    X, _, _, init = _seed_setup(0)
    products, objectives = {}, {}
    for balance in ("every", "none"):
        for alphas in ((0.1, 0.1), (1.0, 0.01), (0.01, 1.0)):
            model = BalancedSparseNMF(
                4,
                alpha_W=alphas[0],
                alpha_H=alphas[1],
                balance=balance,
                init=init,
                solver="mu",
                max_iter=60,
                tol=0,
            )
            W = model.fit_transform(X)
            products[balance, alphas] = W @ model.components_
            objectives[balance, alphas] = model.objective_
    for alphas in ((1.0, 0.01), (0.01, 1.0)):
        np.testing.assert_allclose(
            products["every", alphas],
            products["every", (0.1, 0.1)],
            rtol=1e-8,
            atol=1e-8 * X.max(),
        )
        # from the first iteration on (the seed's initial scalar scaling,
        # applied before balancing, sees the individual weights)
        np.testing.assert_allclose(
            objectives["every", alphas][1:],
            objectives["every", (0.1, 0.1)][1:],
            rtol=1e-9,
        )
        assert not np.allclose(
            objectives["none", alphas], objectives["none", (0.1, 0.1)], rtol=1e-3
        )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    exponent=st.sampled_from([-300, -20, 0, 20, 300]),
    kind=st.sampled_from(["counts", "zeros", "constant column", "bool"]),
    sparse=st.booleans(),
    beta_loss=st.sampled_from(["kullback-leibler", "frobenius"]),
    alphas=st.sampled_from([(0.0, 0.0), (0.1, 10.0), (1e8, 1e8)]),
    penalties=st.sampled_from([("l1", "l1"), ("l2", "l1"), ("l2", "l2")]),
    balance=st.sampled_from(["every", "init", "none"]),
)
def test_any_nonnegative_input_gives_finite_output_and_monotone_objective(
    seed, shape, exponent, kind, sparse, beta_loss, alphas, penalties, balance
):
    rng = np.random.default_rng(seed)
    X = rng.poisson(2.0, size=shape).astype(float)
    if kind == "zeros":
        X[:] = 0
    elif kind == "constant column":
        X[:, 0] = 3.0
    elif kind == "bool":
        X = X > 1
    if kind != "bool":
        X = X * 10.0**exponent
    X = sp.csr_matrix(X) if sparse else X
    model = BalancedSparseNMF(
        int(rng.integers(1, 5)),
        beta_loss=beta_loss,
        alpha_W=alphas[0],
        alpha_H=alphas[1],
        penalty_W=penalties[0],
        penalty_H=penalties[1],
        balance=balance,
        max_iter=15,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = model.fit_transform(X)
        W_new = model.transform(X)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(W_new))
    assert np.all(np.isfinite(model.components_)) and np.all(W >= 0)
    history = model.objective_[np.isfinite(model.objective_)]
    assert not np.any(np.isnan(model.objective_))
    dense = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    with np.errstate(over="ignore"):
        size = (
            dense.sum() if beta_loss == "kullback-leibler" else 0.5 * np.sum(dense**2)
        )
    assert np.all(
        np.diff(history) <= 1e-9 * np.abs(history[:-1]) + 1e-12 * size + 1e-300
    )


def test_transform_converges_on_a_row_where_newton_crawls(monkeypatch):
    """The README's digits pipeline, one fold and start found by search: from
    the 30 multiplicative updates transform then used as warm-up, one
    held-out row's exact W-step needed 121 Newton iterations (a binding
    variable with a small gradient crept to the bound by projected gradient
    steps; it warned at the former cap of 100). The active-set trial point
    takes it there at once: a few iterations, no warning, and the minimizer
    the default (coordinate-descent) warm-up reaches from another start."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import MinMaxScaler

    from skfactor.decomposition import _mu, _nmf

    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    train, test = list(StratifiedKFold(3).split(X, y))[1]
    scaler = MinMaxScaler(clip=True).fit(X[train])
    model = BalancedSparseNMF(8, tol=1e-3, max_iter=200, random_state=85)
    model.fit(scaler.transform(X[train]))
    row = scaler.transform(X[test])[31:32]
    W_default = model.transform(row)
    # the multiplicative warm-up the crawl was found with
    monkeypatch.setitem(_nmf._WARM_UP, 1, (_mu.fit_mu, 30))
    newton_iterations = []
    solve_W = BalancedSparseNMF._solve_W

    def counting(self, *args):
        W, monitor = solve_W(self, *args)
        newton_iterations.append(len(monitor.history) - 1)
        return W, monitor

    monkeypatch.setattr(BalancedSparseNMF, "_solve_W", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        W = model.transform(row)
    assert newton_iterations[0] <= 10  # 121 without the active-set point
    np.testing.assert_allclose(W, W_default, rtol=1e-7, atol=1e-9 * W_default.max())
