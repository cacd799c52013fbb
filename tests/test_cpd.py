"""RidgeCPD: estimator behaviour, input handling and transform."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls
from sklearn.exceptions import ConvergenceWarning

from skfactor import RidgeCPD
from skfactor.datasets import make_cp_tensor
from skfactor.metrics import factor_match_score
from skfactor.tensor._tensor_algebra import cp_to_tensor, khatri_rao


@pytest.fixture(scope="module")
def cp_data():
    X, factors = make_cp_tensor((40, 12, 10), n_components=3, snr_db=40, random_state=0)
    return X, factors


def _fit(X, **params):
    params = {"n_components": 5, "alpha": 0.2, "random_state": 0, **params}
    model = RidgeCPD(**params)
    return model, model.fit_transform(X)


@pytest.mark.parametrize("nonnegative", [False, True])
def test_recovers_factors_and_rank_of_a_cp_tensor(cp_data, nonnegative):
    X, truth = cp_data
    model, U = _fit(X, nonnegative=nonnegative)
    assert model.n_components_effective_ == 3
    assert factor_match_score(truth, [U, *model.components_]) > 0.99
    assert model.tensor_shape_ == (12, 10)
    assert [c.shape for c in model.components_] == [(12, 5), (10, 5)]
    assert model.weights_.shape == (5,)
    assert np.all(np.diff(model.weights_) <= 0)  # sorted by decreasing norm
    assert model.n_iter_ == model.objective_.shape[0] - 1
    assert np.all(np.diff(model.objective_) <= 1e-9 * model.objective_[:-1])
    residual = X - cp_to_tensor([U, *model.components_])
    assert model.reconstruction_err_ == pytest.approx(
        np.linalg.norm(residual), rel=1e-6
    )
    penalty = 0.2 * sum((f**2).sum() for f in (U, *model.components_))
    assert model.objective_[-1] == pytest.approx(
        np.linalg.norm(residual) ** 2 + penalty, rel=1e-6
    )
    if nonnegative:
        assert np.all(U >= 0) and all(np.all(c >= 0) for c in model.components_)


def test_balanced_columns_and_weights(cp_data):
    X, _ = cp_data
    model, U = _fit(X, balance="every")
    norms = np.array([np.linalg.norm(f, axis=0) for f in (U, *model.components_)])
    np.testing.assert_allclose(np.prod(norms, axis=0), model.weights_, rtol=1e-10)
    # every column of a component has the norm weights ** (1 / N)
    np.testing.assert_allclose(
        norms,
        np.broadcast_to(model.weights_ ** (1 / 3), norms.shape),
        rtol=1e-8,
        atol=1e-12,
    )


def test_2d_input_with_tensor_shape_equals_nd_input(cp_data):
    X, _ = cp_data
    model_nd, U_nd = _fit(X)
    model_2d, U_2d = _fit(X.reshape(40, -1), tensor_shape=(12, 10))
    np.testing.assert_array_equal(U_nd, U_2d)
    for a, b in zip(model_nd.components_, model_2d.components_):
        np.testing.assert_array_equal(a, b)
    assert model_2d.n_features_in_ == model_nd.n_features_in_ == 120
    # inverse_transform returns the layout the model was fitted on
    assert model_2d.inverse_transform(U_2d).shape == (40, 120)
    assert model_nd.inverse_transform(U_nd).shape == (40, 12, 10)
    # a fitted model folds 2-D samples of the right size, whatever it was fitted on
    np.testing.assert_allclose(
        model_nd.transform(X[:5].reshape(5, -1)), model_nd.transform(X[:5])
    )


def test_matrix_input_is_the_two_way_model():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 4)) @ rng.uniform(size=(4, 8))
    model = RidgeCPD(alpha=0.05, random_state=0).fit(X)
    assert model.tensor_shape_ == (8,)
    assert len(model.components_) == 1 and model.components_[0].shape == (8, 8)
    assert model.n_components_effective_ == 4
    assert model.get_feature_names_out().tolist() == [f"ridgecpd{i}" for i in range(8)]


@pytest.mark.parametrize("nonnegative", [False, True])
def test_transform_of_new_samples(cp_data, nonnegative):
    """New samples from the same components get their true sample factors."""
    X, truth = cp_data
    model, U = _fit(X[:30], nonnegative=nonnegative, tol=1e-10, max_iter=3000)
    U_new = model.transform(X[30:])
    assert (
        factor_match_score([truth[0][30:], *truth[1:]], [U_new, *model.components_])
        > 0.99
    )
    # on the training data, transform is the solver's sample-mode update
    np.testing.assert_allclose(
        model.transform(X[:30]), U, rtol=1e-4, atol=1e-6 * np.abs(U).max()
    )


def test_transform_solves_the_ridge_regression_exactly(cp_data):
    X, _ = cp_data
    model, _ = _fit(X, alpha=0.5, nonnegative=False)
    K = khatri_rao(model.components_)
    samples = X[:7].reshape(7, -1)
    expected = np.linalg.solve(K.T @ K + 0.5 * np.eye(5), K.T @ samples.T).T
    np.testing.assert_allclose(model.transform(X[:7]), expected, rtol=1e-9, atol=1e-12)


def test_nonnegative_transform_is_nnls_on_the_ridge_system(cp_data):
    X, _ = cp_data
    model, _ = _fit(X, alpha=0.5, nonnegative=True)
    K = khatri_rao(model.components_)
    augmented = np.vstack([K, np.sqrt(0.5) * np.eye(5)])
    samples = -X[:5].reshape(5, -1) + 0.1  # signed data, so the constraint binds
    expected = np.array(
        [nnls(augmented, np.concatenate([x, np.zeros(5)]))[0] for x in samples]
    )
    np.testing.assert_allclose(model.transform(samples), expected, atol=1e-10)


def test_negative_data_are_allowed_with_nonnegative_factors(cp_data):
    X, _ = cp_data
    signed = X - 0.3 * X.mean()
    assert signed.min() < 0
    model, U = _fit(signed, nonnegative=True)
    assert np.all(U >= 0) and all(np.all(c >= 0) for c in model.components_)
    assert np.all(np.isfinite(model.objective_))


def test_same_random_state_gives_identical_fits(cp_data):
    X, _ = cp_data
    for init in ("svd", "random"):
        a, Ua = _fit(X, init=init, random_state=3, nonnegative=True)
        b, Ub = _fit(X, init=init, random_state=3, nonnegative=True)
        np.testing.assert_array_equal(Ua, Ub)
        np.testing.assert_array_equal(a.objective_, b.objective_)
        for ca, cb in zip(a.components_, b.components_):
            np.testing.assert_array_equal(ca, cb)


def test_float32_in_float32_out(cp_data):
    X, _ = cp_data
    model, U = _fit(X.astype(np.float32))
    assert U.dtype == np.float32
    assert all(c.dtype == np.float32 for c in model.components_)
    assert model.weights_.dtype == np.float32
    assert model.transform(X[:3].astype(np.float32)).dtype == np.float32
    assert model.transform(X[:3]).dtype == np.float64
    U64 = _fit(X)[1]
    np.testing.assert_allclose(U, U64, rtol=1e-3, atol=1e-3 * np.abs(U64).max())


@settings(max_examples=15, deadline=None)
@given(exponent=st.integers(-300, 300), seed=st.integers(0, 1000))
def test_rescaling_the_data_rescales_the_solution(exponent, seed):
    """fit(c X, alpha c^(2 - 2/N)) = c^(1/N) fit(X, alpha), even for extreme c."""
    X, _ = make_cp_tensor((6, 5, 4), n_components=2, snr_db=30, random_state=seed)
    c = 2.0 ** (3 * (exponent // 3))
    alpha = 0.05
    params = {"n_components": 3, "max_iter": 200, "tol": 0.0}
    base, U = _fit(X, alpha=alpha, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / underflow warnings either
        scaled, Uc = _fit(X * c, alpha=alpha * c ** (4 / 3), **params)
    root = c ** (1 / 3)
    # exact in arithmetic; in floating point the line search of the initial
    # scalar rescaling is equivariant to 1e-10 only, which the iterations
    # (a component dying) amplify to about 1e-7
    tol = {"rtol": 1e-5, "atol": 1e-5 * np.abs(U).max()}
    np.testing.assert_allclose(Uc / root, U, **tol)
    for a, b in zip(scaled.components_, base.components_):
        np.testing.assert_allclose(a / root, b, **tol)
    assert scaled.n_components_effective_ == base.n_components_effective_
    np.testing.assert_allclose(
        scaled.transform(X[:2] * c) / root, base.transform(X[:2]), **tol
    )


@pytest.mark.parametrize("magnitude", [1e-300, 1e300])
def test_extreme_magnitudes_give_finite_factors(cp_data, magnitude):
    X, truth = cp_data
    # alpha * magnitude^(4/3) underflows, so the scale-free comparison is at alpha=0
    model, U = _fit(X * magnitude, n_components=3, alpha=0.0)
    assert np.all(np.isfinite(U)) and all(
        np.all(np.isfinite(c)) for c in model.components_
    )
    assert np.all(np.isfinite(model.transform(X[:3] * magnitude)))
    assert factor_match_score(truth, [U, *model.components_]) > 0.99
    assert not np.any(np.isnan(model.objective_))


def test_tiny_data_with_a_fixed_ridge_give_the_zero_model(cp_data):
    X, _ = cp_data
    model, U = _fit(X * 1e-300, alpha=1.0)
    np.testing.assert_array_equal(U, 0.0)
    assert model.n_components_effective_ == 0
    np.testing.assert_array_equal(model.transform(X[:2] * 1e-300), 0.0)


def test_all_zero_data():
    model, U = _fit(np.zeros((5, 4, 3)), n_components=2)
    np.testing.assert_array_equal(U, 0.0)
    assert model.n_components_effective_ == 0 and model.n_iter_ == 0
    np.testing.assert_array_equal(model.weights_, 0.0)
    np.testing.assert_array_equal(model.transform(np.ones((2, 4, 3))), 0.0)


@pytest.mark.parametrize("shape", [(1, 6, 5), (7, 1, 5), (7, 6, 1), (1, 1, 1)])
def test_degenerate_shapes(shape):
    X = np.random.default_rng(0).uniform(size=shape)
    model, U = _fit(X, n_components=2, alpha=0.01)
    assert U.shape == (shape[0], 2)
    assert np.all(np.isfinite(U))


def test_default_n_components_is_the_smallest_sample_dimension():
    X = np.random.default_rng(0).uniform(size=(9, 4, 6))
    assert RidgeCPD(random_state=0).fit(X).weights_.shape == (4,)


# --------------------------------------------------------------- bad input
def test_tensor_shape_mismatch_names_both_sizes():
    X = np.ones((5, 12))
    with pytest.raises(
        ValueError, match=r"12 features .* tensor_shape=\(3, 5\) holds 15"
    ):
        RidgeCPD(tensor_shape=(3, 5)).fit(X)
    with pytest.raises(ValueError, match=r"shape \(3, 4\) but tensor_shape=\(4, 3\)"):
        RidgeCPD(tensor_shape=(4, 3)).fit(np.ones((5, 3, 4)))


@pytest.mark.parametrize("tensor_shape", [(0, 12), (-3, -4), (3.0, 4.0), [[3, 4]], ()])
def test_invalid_tensor_shape(tensor_shape):
    with pytest.raises(ValueError, match="tensor_shape must be a sequence"):
        RidgeCPD(tensor_shape=tensor_shape).fit(np.ones((5, 12)))


def test_transform_shape_mismatch(cp_data):
    X, _ = cp_data
    model, _ = _fit(X)
    with pytest.raises(ValueError, match=r"samples of shape \(10, 12\).*\(12, 10\)"):
        model.transform(np.ones((3, 10, 12)))
    with pytest.raises(ValueError, match="X has 100 features"):
        model.transform(np.ones((3, 100)))
    with pytest.raises(ValueError, match="columns but RidgeCPD has 5 components"):
        model.inverse_transform(np.ones((3, 4)))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("ndim", [2, 3])
def test_non_finite_values_are_rejected(value, ndim):
    X = np.ones((4, 3, 2))
    X[1, 2, 0] = value
    if ndim == 2:
        X = X.reshape(4, -1)
    with pytest.raises(ValueError, match="NaN|infinity"):
        RidgeCPD().fit(X)
    model = RidgeCPD(random_state=0).fit(np.ones(X.shape))
    with pytest.raises(ValueError, match="NaN|infinity"):
        model.transform(X)


def test_bad_dtypes_and_formats():
    import scipy.sparse as sp

    with pytest.raises(ValueError, match="[Cc]omplex"):
        RidgeCPD().fit(np.ones((4, 3, 2)) * 1j)
    with pytest.raises(ValueError, match="[Cc]omplex"):
        RidgeCPD().fit(np.ones((4, 3)) * 1j)
    with pytest.raises(ValueError, match="could not convert"):
        RidgeCPD().fit(np.array([[["a", "b"]]], dtype=object))
    with pytest.raises(TypeError, match="[Ss]parse"):
        RidgeCPD().fit(sp.csr_matrix(np.ones((4, 3))))
    with pytest.raises(ValueError, match="empty"):
        RidgeCPD().fit(np.ones((4, 0, 3)))
    with pytest.raises(ValueError, match="2D array"):
        RidgeCPD().fit(np.ones(5))
    # booleans and integers are data
    model = RidgeCPD(random_state=0).fit(np.ones((4, 3, 2), dtype=bool))
    assert model.transform(np.ones((1, 3, 2), dtype=int)).dtype == np.float64


# --------------------------------------------------------------- API surface
def test_pandas_output_and_feature_names(cp_data):
    pd = pytest.importorskip("pandas")
    X, _ = cp_data
    frame = pd.DataFrame(X.reshape(40, -1), columns=[f"f{i}" for i in range(120)])
    model = RidgeCPD(3, alpha=0.2, tensor_shape=(12, 10), random_state=0).set_output(
        transform="pandas"
    )
    out = model.fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["ridgecpd0", "ridgecpd1", "ridgecpd2"]
    assert list(model.feature_names_in_) == list(frame.columns)
    # refitting on an N-D array forgets the names
    model.fit(X)
    assert not hasattr(model, "feature_names_in_")


def test_pickle_round_trip(cp_data):
    X, _ = cp_data
    model, _ = _fit(X, nonnegative=True)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.transform(X[:4]), model.transform(X[:4]))


def test_verbose_prints_every_iteration(cp_data, capsys):
    X, _ = cp_data
    model, _ = _fit(X, verbose=1, max_iter=5, tol=0)
    out = capsys.readouterr().out
    assert "[RidgeCPD] initialization: objective" in out
    assert out.count("[RidgeCPD] iteration") == model.n_iter_ == 5


def test_verbose_names_the_rescaled_objective(cp_data, capsys):
    X, _ = cp_data
    _fit(X * 1e30, alpha=0.0, verbose=1, max_iter=2, tol=0)
    out = capsys.readouterr().out
    assert "initialization: objective (data scaled by 2^-102)" in out


def test_convergence_warning(cp_data):
    X, _ = cp_data
    with pytest.warns(ConvergenceWarning, match="RidgeCPD did not converge"):
        _fit(X, max_iter=2)


@pytest.mark.parametrize("balance", ["every", "init", "none"])
@pytest.mark.parametrize("init", ["svd", "random"])
def test_all_balance_and_init_options_fit(cp_data, balance, init):
    X, truth = cp_data
    model, U = _fit(X, balance=balance, init=init, nonnegative=True, max_iter=3000)
    assert model.n_components_effective_ == 3
    assert factor_match_score(truth, [U, *model.components_]) > 0.99


# --------------------------------------------------------------- make_cp_tensor
@pytest.mark.parametrize("snr_db", [0.0, 20.0, 40.0])
def test_make_cp_tensor_has_the_requested_snr(snr_db):
    X, factors = make_cp_tensor(
        (8, 7, 6, 5), n_components=3, snr_db=snr_db, random_state=1
    )
    clean = cp_to_tensor(factors)
    noise = X - clean
    measured = 10 * np.log10((clean**2).sum() / (noise**2).sum())
    assert measured == pytest.approx(snr_db, abs=1e-9)
    assert X.shape == (8, 7, 6, 5)
    assert all(f.shape == (s, 3) for f, s in zip(factors, X.shape))
    assert all(np.all((f >= 0) & (f <= 1)) for f in factors)
    # Gaussian noise: symmetric, no structure left in the mean
    assert abs(noise.mean()) < 4 * noise.std() / np.sqrt(noise.size)


def test_make_cp_tensor_noiseless_and_reproducible():
    X, factors = make_cp_tensor((4, 3), n_components=2, snr_db=None, random_state=0)
    np.testing.assert_allclose(X, factors[0] @ factors[1].T)
    X2, _ = make_cp_tensor((4, 3), n_components=2, snr_db=None, random_state=0)
    np.testing.assert_array_equal(X, X2)


@pytest.mark.parametrize("shape", [(5,), (5, 0), (5, 2.5), [[2, 3]]])
def test_make_cp_tensor_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="shape must be"):
        make_cp_tensor(shape)


def test_make_cp_tensor_validates_parameters():
    with pytest.raises(ValueError, match="n_components"):
        make_cp_tensor((3, 3), n_components=0)
    with pytest.raises(ValueError, match="snr_db"):
        make_cp_tensor((3, 3), snr_db=np.inf)
