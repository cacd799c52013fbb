"""The estimators the way users meet them: pipelines, grid search, pickling,
pandas output, metadata routing and joblib backends."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from _cases import ESTIMATORS, kind, make_estimator, valid_data
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

import skfactor
from skfactor.datasets import (
    make_multilevel_factor,
    make_switching_classification,
    make_switching_regression,
)

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


def _digits(n=300):
    X, y = load_digits(return_X_y=True)
    return X[:n], y[:n]


def _pickle_roundtrip_is_identical(search, X, methods):
    restored = pickle.loads(pickle.dumps(search))
    for method in methods:
        expected = getattr(search, method)(X)
        got = getattr(restored, method)(X)
        np.testing.assert_array_equal(got, expected, err_msg=method, strict=True)
    return restored


# -------------------------------------------------- pipeline + grid search
def test_switching_regression_pipeline_grid_search_pickle():
    X, y, _, _ = make_switching_regression(300, 4, 2, noise=0.5, random_state=0)
    pipe = make_pipeline(
        StandardScaler(), skfactor.SwitchingRegression(n_init=2, random_state=0)
    )
    search = GridSearchCV(
        pipe,
        {
            "switchingregression__n_regimes": [1, 2],
            "switchingregression__alpha": [0.0, 1.0],
        },
        cv=3,
    ).fit(X, y)
    assert search.best_params_["switchingregression__n_regimes"] == 2
    _pickle_roundtrip_is_identical(search, X, ["predict"])


def test_switching_classifier_pipeline_grid_search_pickle():
    X, y, _, _ = make_switching_classification(300, 2, 2, random_state=0)
    pipe = make_pipeline(
        StandardScaler(), skfactor.SwitchingClassifier(n_init=2, random_state=0)
    )
    search = GridSearchCV(
        pipe,
        {
            "switchingclassifier__n_regimes": [1, 2],
            "switchingclassifier__alpha": [0.1, 1.0],
        },
        cv=3,
        scoring="neg_log_loss",
    ).fit(X, y)
    _pickle_roundtrip_is_identical(search, X, ["predict", "predict_proba"])


@pytest.mark.parametrize(
    "extractor, grid, min_score",
    [
        (
            skfactor.BalancedSparseNMF(max_iter=100, random_state=0),
            {"n_components": [6, 12], "alpha_H": [0.0, 1.0]},
            0.8,
        ),
        (
            skfactor.RidgeCPD(tensor_shape=(8, 8), max_iter=100, random_state=0),
            {"n_components": [6, 10], "alpha": [0.1, 1.0]},
            0.75,
        ),
        (
            skfactor.SparseNTD(
                n_components=(16, 6, 6),
                loss="frobenius",
                tensor_shape=(8, 8),
                max_iter=50,
                n_init=1,  # the pipeline is under test, not the restarts
                random_state=0,
            ),
            {"alpha": [0.01, 0.1]},
            0.8,
        ),
        (
            skfactor.ProximalMF(max_iter=100, random_state=0),
            {"n_components": [6, 12], "prox_H": ["nonnegative", "simplex"]},
            0.8,
        ),
    ],
    ids=lambda case: type(case).__name__ if hasattr(case, "fit") else "",
)
def test_factors_feed_a_classifier(extractor, grid, min_score):
    """Digits -> scaled to [0, 1] -> factors -> standardized -> logistic regression."""
    X, y = _digits()
    pipe = make_pipeline(
        MinMaxScaler(clip=True),
        extractor,
        StandardScaler(),
        LogisticRegression(max_iter=500),
    )
    step = pipe.steps[1][0]
    param_grid = {f"{step}__{name}": values for name, values in grid.items()}
    search = GridSearchCV(pipe, param_grid, cv=3).fit(X, y)
    assert search.best_score_ > min_score
    _pickle_roundtrip_is_identical(search, X, ["predict", "predict_proba"])


def test_multilevel_factor_model_selected_by_held_out_log_likelihood():
    X, _ = make_multilevel_factor(
        n_samples=300, n_features=32, ranks=(3, 2), branching=2, random_state=0
    )
    pipe = make_pipeline(StandardScaler(), skfactor.MultilevelFactorModel(max_iter=50))
    search = GridSearchCV(
        pipe,
        {
            "multilevelfactormodel__ranks": [(1,), (3, 2)],
            "multilevelfactormodel__noise_floor": [1e-3, 1e-2],
        },
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X)
    # the true two-level model generalizes better than a one-factor model
    assert search.best_params_["multilevelfactormodel__ranks"] == (3, 2)
    model = search.best_estimator_[-1]
    assert search.best_score_ == pytest.approx(
        np.mean(
            [
                search.cv_results_[f"split{k}_test_score"][search.best_index_]
                for k in range(3)
            ]
        )
    )
    assert np.isfinite(model.score(StandardScaler().fit_transform(X)))
    _pickle_roundtrip_is_identical(search, X, ["transform", "score_samples"])


# ------------------------------------------------------------ pandas output
TRANSFORMERS = [(name, E) for name, E in ESTIMATORS if kind(E) == "transformer"]


@pytest.mark.parametrize("name, Estimator", TRANSFORMERS)
def test_pandas_output_with_feature_names(name, Estimator):
    pd = pytest.importorskip("pandas")
    X, _ = valid_data(Estimator, n_samples=40, n_features=5)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    estimator = make_estimator(Estimator).set_output(transform="pandas")
    out = estimator.fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    names = estimator.get_feature_names_out()
    assert list(out.columns) == list(names)
    assert all(str(n).startswith(name.lower()) for n in names)
    np.testing.assert_array_equal(estimator.feature_names_in_, frame.columns)
    # in a pipeline, after a scaler that also outputs pandas
    pipe = make_pipeline(MaxAbsScaler(), clone(estimator)).set_output(
        transform="pandas"
    )
    assert list(pipe.fit_transform(frame).columns) == list(names)


# ------------------------------------------------------- joblib backends
def test_grid_search_over_switching_regression_on_dask_matches_default_backend():
    distributed = pytest.importorskip("dask.distributed")
    import joblib

    X, y, _, _ = make_switching_regression(200, 3, 2, noise=0.5, random_state=1)
    search = GridSearchCV(
        skfactor.SwitchingRegression(n_init=3, n_jobs=2, random_state=0),
        {"n_regimes": [1, 2], "alpha": [0.0, 0.5]},
        cv=3,
        n_jobs=2,
    )
    default = clone(search).fit(X, y)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        with joblib.parallel_backend("dask"):
            on_dask = clone(search).fit(X, y)
    assert on_dask.best_params_ == default.best_params_
    np.testing.assert_array_equal(
        on_dask.cv_results_["mean_test_score"], default.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(
        on_dask.best_estimator_.coef_, default.best_estimator_.coef_
    )


# -------------------------------------------------------- sparse pipelines
@pytest.mark.parametrize("Estimator", [skfactor.BalancedSparseNMF, skfactor.ProximalMF])
def test_sparse_input_through_a_pipeline(Estimator):
    X, y = _digits(200)
    X = sp.csr_matrix(X)
    pipe = make_pipeline(
        MaxAbsScaler(),
        Estimator(n_components=8, max_iter=50, random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=300),
    )
    scores = cross_validate(pipe, X, y, cv=3)["test_score"]
    assert np.all(scores > 0.6)


# ------------------------------------------------- factorization machine
def _fm_data():
    from skfactor.datasets import make_fm_classification

    X, y, _ = make_fm_classification(3000, random_state=0)
    return X, y


def test_prox_fm_pipeline_grid_search_pickle_and_probabilistic_scorers():
    X, y = _fm_data()
    pipe = make_pipeline(MaxAbsScaler(), skfactor.ProxFMClassifier(random_state=0))
    search = GridSearchCV(
        pipe,
        {
            "proxfmclassifier__n_components": [2, 4],
            "proxfmclassifier__alpha": [0.01, 0.1],
        },
        scoring="roc_auc",
        cv=3,
    ).fit(X, y)
    assert search.best_score_ > 0.7
    _pickle_roundtrip_is_identical(
        search, X, ["predict", "predict_proba", "decision_function"]
    )
    scores = cross_validate(
        search.best_estimator_, X, y, cv=3, scoring=["roc_auc", "neg_log_loss"]
    )
    assert np.all(scores["test_roc_auc"] > 0.7)
    assert np.all(scores["test_neg_log_loss"] > -0.69)  # better than a coin flip


def test_sample_weight_is_routed_through_pipeline_and_grid_search():
    X, y = _fm_data()
    weights = np.random.default_rng(0).uniform(0.0, 2.0, size=y.shape[0])
    with config_context(enable_metadata_routing=True):
        # alpha as in the grid below, so that every fit is the same problem
        fm = skfactor.ProxFMClassifier(n_components=2, alpha=0.03, random_state=0)
        fm.set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
        pipe = make_pipeline(MaxAbsScaler(), fm)
        routed = clone(pipe).fit(X, y, sample_weight=weights)
        search = GridSearchCV(pipe, {"proxfmclassifier__alpha": [0.03]}, cv=2).fit(
            X, y, sample_weight=weights
        )
    direct = skfactor.ProxFMClassifier(n_components=2, alpha=0.03, random_state=0).fit(
        MaxAbsScaler().fit_transform(X), y, sample_weight=weights
    )
    unweighted = clone(pipe).fit(X, y)
    np.testing.assert_array_equal(routed[-1].components_, direct.components_)
    assert not np.array_equal(unweighted[-1].components_, direct.components_)
    np.testing.assert_array_equal(
        search.best_estimator_[-1].components_, direct.components_
    )
