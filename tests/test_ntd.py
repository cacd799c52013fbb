"""SparseNTD: recovery, balancing, peers, input handling and transform."""

import warnings

import numpy as np
import pytest

from skfactor import SparseNTD
from skfactor.metrics import factor_match_score
from skfactor.tensor._synthetic import make_song_spectrogram, make_sparse_tucker
from skfactor.tensor._tensor_algebra import tucker_to_tensor


@pytest.fixture(scope="module")
def poisson_tucker():
    return make_sparse_tucker(
        (30, 12, 10), (3, 3, 3), density=0.4, level=50.0, random_state=0
    )


def _quiet_fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit_transform(X)


def test_recovers_the_arrangement_of_a_song():
    T, truth = make_song_spectrogram(bars_per_section=2, random_state=0)
    model = SparseNTD(n_components=(3, 5, 3), alpha=0.5, random_state=0, max_iter=300)
    Q = _quiet_fit(model, T)
    assert factor_match_score([truth["Q"]], [Q]) > 0.95
    # every bar is assigned to its section
    labels = np.argmax(Q, axis=1)
    for section in range(len(truth["sections"])):
        assert len(set(labels[truth["labels"] == section])) == 1


def test_recovers_factors_of_a_sparse_tucker_tensor(poisson_tucker):
    T, truth = poisson_tucker
    model = SparseNTD(n_components=3, alpha=0.1, random_state=0, max_iter=400)
    U = _quiet_fit(model, T)
    estimated = [U, *model.components_]
    for true, est in zip(truth["factors"], estimated):
        assert factor_match_score([true], [est]) > 0.99
    relative = np.linalg.norm(model.inverse_transform(U) - truth["model"])
    assert relative / np.linalg.norm(truth["model"]) < 0.1


@pytest.mark.parametrize("balance", ["sinkhorn", "scalar", "none"])
@pytest.mark.parametrize("loss", ["kullback-leibler", "frobenius"])
def test_objective_never_increases_and_fit_transform_is_transform(balance, loss):
    T, _ = make_sparse_tucker((12, 6, 5), (2, 2, 2), level=20.0, random_state=1)
    model = SparseNTD(
        n_components=2, loss=loss, balance=balance, random_state=0, max_iter=60
    )
    U = _quiet_fit(model, T)
    history = model.objective_
    assert history.shape == (model.n_iter_ + 1,)
    assert np.all(np.diff(history) <= 1e-10 * history[0])
    np.testing.assert_allclose(model.transform(T), U, rtol=1e-5, atol=1e-6 * U.max())


def test_sinkhorn_balancing_gives_a_lower_objective_than_none():
    """The seed's question: does explicit balancing help? At equal iterations."""
    wins = 0
    for seed in range(3):
        T, _ = make_sparse_tucker((20, 8, 6), (3, 3, 3), level=20, random_state=seed)
        values = {}
        for balance in ("sinkhorn", "none"):
            model = SparseNTD(
                n_components=3, alpha=1.0, balance=balance, random_state=0, max_iter=50
            )
            _quiet_fit(model, T)
            values[balance] = model.objective_[-1]
        wins += values["sinkhorn"] <= values["none"]
    assert wins >= 2


def test_frobenius_matches_tensorly_non_negative_tucker():
    tensorly = pytest.importorskip("tensorly")
    from tensorly.decomposition import non_negative_tucker

    T, _ = make_sparse_tucker(
        (15, 8, 6), (3, 2, 2), noise="gaussian", level=30, random_state=0
    )
    tensorly.set_backend("numpy")
    (core, factors), errors = non_negative_tucker(
        T, rank=(3, 2, 2), n_iter_max=200, tol=0, init="svd", return_errors=True
    )
    theirs = np.linalg.norm(T - tucker_to_tensor(core, factors))
    assert np.isclose(theirs / np.linalg.norm(T), errors[-1], rtol=1e-6)
    model = SparseNTD(
        n_components=(3, 2, 2),
        loss="frobenius",
        alpha=0.0,
        balance="none",
        random_state=0,
        max_iter=200,
        tol=0,
    )
    _quiet_fit(model, T)
    # the same unpenalized problem: we reach at least tensorly's fit
    assert model.reconstruction_err_ <= theirs * 1.01


def test_float32_n_d_and_folded_input_agree():
    T, _ = make_sparse_tucker((10, 4, 3), (2, 2, 2), random_state=2)
    params = {"n_components": 2, "random_state": 0, "max_iter": 20}
    U = _quiet_fit(SparseNTD(**params), T)
    folded = SparseNTD(tensor_shape=(4, 3), **params)
    np.testing.assert_allclose(_quiet_fit(folded, T.reshape(10, -1)), U, rtol=1e-8)
    assert folded.inverse_transform(U).shape == (10, 12)
    model = SparseNTD(**params)
    U32 = _quiet_fit(model, T.astype(np.float32))
    assert U32.dtype == model.core_.dtype == model.components_[0].dtype
    assert U32.dtype == np.float32
    assert model.transform(T.astype(np.float32)).dtype == np.float32


def test_per_factor_penalties_and_weights():
    T, _ = make_sparse_tucker((10, 4, 3), (2, 2, 2), random_state=3)
    model = SparseNTD(
        n_components=(3, 2, 2),
        alpha_core=0.0,
        alpha_factors=[1.0, 0.1, 0.1],
        factor_penalty=["l1", "l2", "l2"],
        random_state=0,
        max_iter=20,
    )
    U = _quiet_fit(model, T)
    assert U.shape == (10, 3) and model.n_components_ == (3, 2, 2)
    strong = SparseNTD(
        n_components=(3, 2, 2),
        alpha_factors=[50.0, 0.1, 0.1],
        factor_penalty="l1",
        random_state=0,
        max_iter=20,
    )
    # a heavier l1 weight on the sample mode gives it a smaller l1 norm
    assert _quiet_fit(strong, T).sum() < U.sum()


def test_extreme_magnitudes_give_the_same_factors_up_to_scale():
    T, _ = make_sparse_tucker((8, 4, 3), (2, 2, 2), random_state=4)
    params = {"n_components": 2, "random_state": 0, "max_iter": 10, "alpha": 0.0}
    params["n_init"] = 1  # random restarts are rescaled to the data with rounding
    small = SparseNTD(**params)
    U = _quiet_fit(small, T)
    huge = SparseNTD(**params)
    U_huge = _quiet_fit(huge, T * 2.0**600)
    assert np.all(np.isfinite(U_huge)) and np.all(np.isfinite(huge.core_))
    np.testing.assert_allclose(
        huge.inverse_transform(U_huge) / 2.0**600,
        small.inverse_transform(U),
        rtol=1e-6,
    )


def test_all_zero_data_give_a_zero_model():
    model = SparseNTD(n_components=2).fit(np.zeros((5, 3, 2)))
    assert not np.any(model.core_) and model.n_iter_ == 0
    assert not np.any(model.transform(np.ones((2, 3, 2))))


@pytest.mark.parametrize(
    "params, X, match",
    [
        ({}, -np.ones((4, 3, 2)), "negative"),
        ({"n_components": (2, 5, 2)}, np.ones((4, 3, 2)), r"n_components\[1\]=5"),
        ({"n_components": (2, 2)}, np.ones((4, 3, 2)), "3 modes"),
        ({"n_components": (2, 1.5, 2)}, np.ones((4, 3, 2)), "positive integers"),
        ({"tensor_shape": (4, 3)}, np.ones((4, 3, 2)), "tensor_shape"),
        ({"tensor_shape": (5, 2)}, np.ones((4, 12)), "sizes must match"),
        ({"alpha_factors": [1.0, 1.0]}, np.ones((4, 3, 2)), "alpha_factors"),
        ({"factor_penalty": ["l1", "l3", "l2"]}, np.ones((4, 3, 2)), "'l1' or 'l2'"),
    ],
)
def test_bad_input_gives_clear_errors(params, X, match):
    with pytest.raises(ValueError, match=match):
        SparseNTD(**params).fit(X)


def test_transform_checks_its_input():
    model = SparseNTD(n_components=2, max_iter=5)
    _quiet_fit(model, np.ones((4, 3, 2)))
    with pytest.raises(ValueError, match="shape"):
        model.transform(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="negative"):
        model.transform(-np.ones((2, 3, 2)))
    with pytest.raises(ValueError, match="sample-mode components"):
        model.inverse_transform(np.ones((2, 3)))


def test_svd_initialization_is_nndsvda_of_every_unfolding():
    """Factors: NNDSVDa of each unfolding, one scale per factor (largest
    column norm 1); core: the projection of the data on them. Scaling the
    data scales the core only."""
    from skfactor.decomposition._init import nndsvda_init
    from skfactor.tensor._init import initialize_tucker
    from skfactor.tensor._tensor_algebra import multi_mode_dot, unfold

    T, _ = make_sparse_tucker((9, 6, 5), (3, 2, 2), random_state=1)
    ranks = (3, 2, 2)
    core, factors = initialize_tucker(T, ranks, "svd", np.random.RandomState(0))
    rng = np.random.RandomState(0)
    for mode, (factor, rank) in enumerate(zip(factors, ranks)):
        U = nndsvda_init(unfold(T, mode), rank, rng)[0]
        np.testing.assert_allclose(factor * np.linalg.norm(U, axis=0).max(), U)
        assert np.all(factor >= 0) and np.isclose(
            np.linalg.norm(factor, axis=0).max(), 1.0
        )
    np.testing.assert_allclose(core, multi_mode_dot(T, factors, transpose=True))
    big_core, big_factors = initialize_tucker(
        T * 2.0**600, ranks, "svd", np.random.RandomState(0)
    )
    np.testing.assert_allclose(big_core / 2.0**600, core, rtol=1e-10)
    for big, factor in zip(big_factors, factors):
        np.testing.assert_allclose(big, factor, rtol=1e-10)


@pytest.mark.parametrize(
    "shape, ranks, true_ranks",
    [((40, 30, 20), (5, 4, 3), (5, 4, 3)), ((12, 9, 8), (4, 4, 4), (2, 2, 2))],
)
def test_gram_route_start_is_nndsvda_of_the_svd(shape, ranks, true_ranks):
    """The NNDSVDa factors from the Gram matrices of the unfoldings are those
    from the SVD (the benchmark's first shape); an exact Tucker tensor of
    lower rank than asked has no third singular value, so the Gram route
    declines and the factors are the SVD's, bit for bit."""
    from skfactor.decomposition._init import nndsvda_init
    from skfactor.tensor._init import _leading_triplets
    from skfactor.tensor._tensor_algebra import unfold
    from skfactor.utils._linalg import gram_svd

    if true_ranks == ranks:
        T, _ = make_sparse_tucker(
            shape, ranks, density=0.4, noise="gaussian", level=30.0, random_state=0
        )
    else:
        rng = np.random.default_rng(0)
        core = rng.uniform(size=true_ranks)
        T = tucker_to_tensor(
            core, [rng.uniform(size=(s, r)) for s, r in zip(shape, true_ranks)]
        )
    for mode, rank in enumerate(ranks):
        matrix = unfold(T, mode)
        gram_route = gram_svd(matrix, rank) is not None
        assert gram_route == (true_ranks == ranks)
        factor = nndsvda_init(
            matrix, rank, np.random.RandomState(0), svd=_leading_triplets
        )[0]
        expected = nndsvda_init(matrix, rank, np.random.RandomState(0))[0]
        if gram_route:
            np.testing.assert_allclose(factor, expected, rtol=1e-10, atol=1e-12)
        else:
            np.testing.assert_array_equal(factor, expected)


def test_restarts_keep_the_run_with_the_lowest_objective(monkeypatch):
    """n_init runs: the first from ``init``, the others random; the kept run
    is the one of lowest final objective (after its exact sample-mode step),
    so the first run alone can only end higher."""
    from skfactor.tensor import _ntd

    T, _ = make_sparse_tucker(
        (14, 7, 6), (3, 3, 2), noise="gaussian", level=20.0, random_state=3
    )
    inits, histories = [], []
    real_run = _ntd._run

    def recording_run(tensor, ranks, init, *args):
        inits.append(init)
        result = real_run(tensor, ranks, init, *args)
        histories.append(result[3])
        return result

    monkeypatch.setattr(_ntd, "_run", recording_run)
    params = {"n_components": (3, 3, 2), "loss": "frobenius", "max_iter": 40}
    model = SparseNTD(n_init=4, random_state=0, **params)
    _quiet_fit(model, T)
    assert inits == ["svd", "random", "random", "random"]
    finals = [history[-1] for history in histories]
    assert len(set(finals)) == 4  # the choice is not a tie
    best = int(np.argmin(finals))
    np.testing.assert_array_equal(model.objective_, histories[best])
    assert model.n_iter_ == len(histories[best]) - 1
    single = SparseNTD(n_init=1, random_state=0, **params)
    _quiet_fit(single, T)
    np.testing.assert_array_equal(single.objective_, histories[0])
    assert model.objective_[-1] <= single.objective_[-1]


def test_restarts_are_compared_after_the_exact_sample_step():
    """Ten iterations from each start: the random run ends lower than the
    svd run before the final exact sample-mode step and higher after it, so
    choosing before the step would keep the worse model."""
    T, _ = make_sparse_tucker((8, 4, 3), (2, 2, 2), random_state=4)
    params = {"n_components": 2, "random_state": 0, "max_iter": 10, "alpha": 0.0}
    single, both = SparseNTD(n_init=1, **params), SparseNTD(n_init=2, **params)
    _quiet_fit(single, T)
    _quiet_fit(both, T)
    assert both.objective_[-1] <= single.objective_[-1]


def test_restarts_in_parallel_give_the_same_model():
    T, _ = make_sparse_tucker(
        (12, 6, 5), (2, 2, 2), noise="gaussian", level=20.0, random_state=4
    )
    params = {"n_components": 2, "loss": "frobenius", "max_iter": 30, "n_init": 3}
    models = [SparseNTD(random_state=0, n_jobs=n, **params) for n in (None, 2)]
    outputs = [_quiet_fit(model, T) for model in models]
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-12)
    np.testing.assert_allclose(models[1].objective_, models[0].objective_, rtol=1e-12)
    np.testing.assert_allclose(models[1].core_, models[0].core_, rtol=1e-12)
