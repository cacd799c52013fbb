"""SwitchingRegression and SwitchingClassifier against known truths.

The three worked examples of Zhu et al. (2025) are reproduced with the tolerances of
issue 3; the rest checks the estimator contract (attributes, restarts,
determinism, warm start) and the fast paths against cvxpy. Bad input:
``test_switching_errors.py``.
"""

import pickle
import warnings

import cvxpy as cp
import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.exceptions import ConvergenceWarning

from skfactor import SwitchingClassifier, SwitchingRegression
from skfactor.datasets import (
    make_forgetting_bandit,
    make_switching_classification,
    make_switching_regression,
)
from skfactor.metrics import match_regimes, regime_accuracy, regime_parameter_error
from skfactor.switching import cvxpy_loss
from skfactor.switching._hmm import stationary_distribution

from _markov_switching import COEF, INTERCEPT, statsmodels_params, sticky_regression

# ---------------------------------------------------------------------------
# Zhu et al.'s three examples
# ---------------------------------------------------------------------------


def test_seed_mixture_of_three_linear_regressions():
    """m=500, n=10, noise 1.5: regime accuracy >= 0.93 (notebook: 0.936)."""
    X, y, regimes, coef = make_switching_regression(
        n_samples=500, n_features=10, n_regimes=3, noise=1.5, random_state=0
    )
    model = SwitchingRegression(n_regimes=3, random_state=0).fit(X, y)
    assert regime_accuracy(regimes, model.labels_) >= 0.93
    error = regime_parameter_error(
        coef, model.coef_, labels_true=regimes, labels_pred=model.labels_
    )
    assert error < 0.03
    assert model.converged_


IOHMM_COEF = np.array([[-2.0, 0.0], [2.0, 6.0], [3.0, -5.0]])
IOHMM_TRANSITIONS = np.array(
    [[0.9, 0.05, 0.05], [0.01, 0.98, 0.01], [0.025, 0.025, 0.95]]
)


def iohmm_data(n_samples=1000, random_state=0):
    """Zhu et al.'s IO-HMM: x = (stimulus, 1), logistic emissions, sticky chain."""
    stimulus, y, regimes, _ = make_switching_classification(
        n_samples=n_samples,
        n_features=1,
        n_regimes=3,
        transition_matrix=IOHMM_TRANSITIONS,
        coef=IOHMM_COEF[:, :1],
        intercept=IOHMM_COEF[:, 1],
        feature_scale=2.0,
        random_state=random_state,
    )
    return np.column_stack([stimulus, np.ones(n_samples)]), y, regimes


def iohmm_signs(k, coef):
    """Zhu et al.'s sign constraints on the stimulus coefficient."""
    return [coef[0] <= 0] if k == 0 else [coef[0] >= 0]


def _reorder(matrix, mapping):
    """Rows/columns of an estimated regime matrix in the order of the truth."""
    order = np.empty(len(mapping), dtype=int)
    for predicted, true in mapping.items():
        order[true] = predicted
    return matrix[np.ix_(order, order)], order


def test_seed_input_output_hmm():
    """Group penalty 0.5, sign constraints, KL smoothing: transition diagonal +-0.05."""
    X, y, regimes = iohmm_data()
    model = SwitchingClassifier(
        n_regimes=3,
        loss="logistic",
        constraints=iohmm_signs,
        penalty="group",
        alpha=0.5,
        latent="smoothed",
        smoothing=2.0,
        fit_intercept=False,
        n_init=1,
        random_state=0,
    ).fit(X, y)
    assert regime_accuracy(regimes, model.labels_) > 0.9
    transitions, order = _reorder(
        model.transition_matrix_, match_regimes(regimes, model.labels_)
    )
    np.testing.assert_allclose(
        np.diag(transitions), np.diag(IOHMM_TRANSITIONS), atol=0.05
    )
    assert model.coef_[0, 0] <= 1e-6 and np.all(model.coef_[1:, 0] >= -1e-6)
    # The recovered decision curves are close to the truth.
    assert regime_parameter_error(IOHMM_COEF, model.coef_[order]) < 0.3


P_ARMS, N_LAGS = 3, 5


@cvxpy_loss(coef_shape=N_LAGS)
def choice_loss(X, y, coef, intercept):
    """Softmax over the arms of X(t) @ theta, X(t) flattened arm-major."""
    m = X.shape[0]
    utilities = cp.vstack(
        [X[:, a * N_LAGS : (a + 1) * N_LAGS] @ coef for a in range(P_ARMS)]
    ).T
    chosen = X.reshape(m, P_ARMS, N_LAGS)[np.arange(m), y] @ coef
    return cp.log_sum_exp(utilities, axis=1) - chosen


def forgetting_constraints(k, coef):
    """Regime 0 nonnegative non-increasing, regime 1 nonpositive non-decreasing."""
    if k == 0:
        return [coef >= 0, cp.diff(coef) <= 0]
    return [coef <= 0, cp.diff(coef) >= 0]


def test_seed_hierarchical_forgetting_q_learning():
    """Smoothing 1 lifts the regime accuracy from ~0.8 to >= 0.9."""
    X, y, regimes, coef = make_forgetting_bandit(n_samples=400, random_state=0)
    accuracy = {}
    for smoothing in (0.0, 1.0):
        model = SwitchingClassifier(
            n_regimes=2,
            loss=choice_loss,
            constraints=forgetting_constraints,
            penalty=None,
            fit_intercept=False,
            latent="smoothed",
            smoothing=smoothing,
            n_init=1,
            random_state=0,
        ).fit(X, y)
        accuracy[smoothing] = regime_accuracy(regimes, model.labels_)
        assert model.coef_.shape == (2, N_LAGS)
        assert np.all(model.coef_[0] >= -1e-6) and np.all(
            np.diff(model.coef_[0]) <= 1e-6
        )
        assert np.all(model.coef_[1] <= 1e-6) and np.all(
            np.diff(model.coef_[1]) >= -1e-6
        )
    assert accuracy[0.0] < 0.85
    assert accuracy[1.0] >= 0.9
    # Class probabilities of a callable loss come from exp(-loss).
    proba = model.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


# ---------------------------------------------------------------------------
# Markov-switching regression: the fit against the exact HMM posterior
# ---------------------------------------------------------------------------


def test_markov_switching_fit_labels_as_well_as_smoothing_at_the_truth():
    """The BCD reaches the best labeling of its model; that model is near the HMM.

    On the benchmark's sticky Markov-switching regression, the fitted
    labels are as accurate as the smoothed F-step at the *true* parameters
    (restarts or tuning have nothing left to gain), and that labeling is
    within 0.01 of the exact HMM posterior at the true parameters, computed
    by statsmodels (the user guide reports the remaining gap over seeds).
    """
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    stay, smoothing = 0.95, 4.0
    coef, intercept = COEF, INTERCEPT
    X, y, regimes = sticky_regression(3, stay=stay)
    model = SwitchingRegression(
        n_regimes=3, latent="smoothed", smoothing=smoothing, n_init=5, random_state=0
    ).fit(X, y)
    fitted = regime_accuracy(regimes, model.labels_)
    # The same F-step at the true parameters.
    model.coef_, model.intercept_ = coef, intercept
    smoothed_at_truth = regime_accuracy(regimes, model.predict_regime(X, y))

    hmm = MarkovRegression(y, k_regimes=3, exog=X, trend="c")
    leave = (1.0 - stay) / 2
    transition = np.full((3, 3), leave) + (stay - leave) * np.eye(3)
    params = statsmodels_params(hmm, coef, intercept, transition, 1.0)
    posterior = hmm.smooth(params).smoothed_marginal_probabilities
    hmm_at_truth = regime_accuracy(regimes, posterior.argmax(axis=1))

    assert fitted >= smoothed_at_truth - 0.003
    assert smoothed_at_truth >= hmm_at_truth - 0.01
    assert smoothed_at_truth >= 0.96


# ---------------------------------------------------------------------------
# Fast paths give the cvxpy path's answer
# ---------------------------------------------------------------------------


def test_regression_fast_path_matches_cvxpy_path():
    X, y, regimes, _ = make_switching_regression(
        n_samples=200, n_features=3, n_regimes=2, random_state=1
    )
    params = dict(n_regimes=2, alpha=2.0, init=regimes, random_state=0)
    fast = SwitchingRegression(**params).fit(X, y)
    slow = SwitchingRegression(solver="CLARABEL", **params).fit(X, y)
    np.testing.assert_array_equal(fast.labels_, slow.labels_)
    np.testing.assert_allclose(fast.coef_, slow.coef_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast.objective_[-1], slow.objective_[-1], rtol=1e-6)


def test_classifier_fast_path_matches_cvxpy_path():
    X, y, regimes, _ = make_switching_classification(
        n_samples=200, n_features=2, n_regimes=2, transition_matrix=0.95, random_state=2
    )
    params = dict(
        n_regimes=2,
        loss="logistic",
        latent="smoothed",
        smoothing=1.0,
        init=regimes,
        random_state=0,
    )
    fast = SwitchingClassifier(**params).fit(X, y)
    slow = SwitchingClassifier(solver="cvxpy", **params).fit(X, y)
    np.testing.assert_allclose(fast.regime_proba_, slow.regime_proba_, atol=1e-3)
    np.testing.assert_allclose(fast.coef_, slow.coef_, rtol=1e-3, atol=1e-3)


def test_callable_loss_and_penalty_match_builtins():
    X, y, regimes, _ = make_switching_regression(
        n_samples=120, n_features=2, n_regimes=2, random_state=3
    )

    def absolute(X, y, coef, intercept):
        return cp.abs(X @ coef + intercept - y)

    params = dict(
        n_regimes=2, alpha=5.0, init=regimes, latent="independent", random_state=0
    )
    builtin = SwitchingRegression(loss="absolute", penalty="l1", **params).fit(X, y)
    custom = SwitchingRegression(loss=absolute, penalty=cp.norm1, **params).fit(X, y)
    np.testing.assert_allclose(custom.coef_, builtin.coef_, atol=1e-4)
    np.testing.assert_allclose(custom.objective_, builtin.objective_, rtol=1e-5)


# ---------------------------------------------------------------------------
# Fitted attributes and predictions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 1.0])
def test_regression_attributes(smoothing):
    X, y, _, _ = make_switching_regression(
        n_samples=150, n_features=3, n_regimes=3, transition_matrix=0.9, random_state=0
    )
    model = SwitchingRegression(
        n_regimes=3, latent="smoothed", smoothing=smoothing, random_state=0
    ).fit(X, y)
    assert model.coef_.shape == (3, 3) and model.intercept_.shape == (3,)
    assert model.regime_proba_.shape == (150, 3)
    np.testing.assert_allclose(model.regime_proba_.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.labels_, model.regime_proba_.argmax(axis=1))
    np.testing.assert_allclose(model.weights_, model.regime_proba_.mean(axis=0))
    np.testing.assert_allclose(model.transition_matrix_.sum(axis=1), 1.0)
    assert model.objective_.shape == (model.n_iter_ + 1,)
    assert np.all(np.diff(model.objective_) <= 1e-8 * np.abs(model.objective_[:-1]))
    assert model.predict(X).shape == (150,)
    # At convergence an F-step at the fitted parameters returns the training factors.
    np.testing.assert_allclose(
        model.predict_regimes(X, y), model.regime_proba_, atol=1e-3
    )


def test_multi_output_regression_uses_the_frobenius_loss():
    X, Y, regimes, coef = make_switching_regression(
        n_samples=300, n_features=3, n_regimes=2, n_targets=2, noise=0.5, random_state=0
    )
    model = SwitchingRegression(n_regimes=2, random_state=0).fit(X, Y)
    assert model.coef_.shape == (2, 3, 2) and model.intercept_.shape == (2, 2)
    assert model.predict(X).shape == (300, 2)
    assert regime_accuracy(regimes, model.labels_) > 0.95
    assert (
        regime_parameter_error(
            coef, model.coef_, labels_true=regimes, labels_pred=model.labels_
        )
        < 0.05
    )


@pytest.mark.parametrize(
    "loss, shape", [("multinomial", (2, 4, 3)), ("logistic", (2, 4))]
)
def test_classifier_attributes_and_proba(loss, shape):
    n_classes = 3 if loss == "multinomial" else 2
    X, y, _, _ = make_switching_classification(
        n_samples=200, n_features=4, n_regimes=2, n_classes=n_classes, random_state=0
    )
    labels = np.array(["a", "b", "c"])[y]
    model = SwitchingClassifier(n_regimes=2, loss=loss, random_state=0).fit(X, labels)
    assert model.coef_.shape == shape
    np.testing.assert_array_equal(model.classes_, np.array(["a", "b", "c"])[:n_classes])
    proba = model.predict_proba(X)
    assert proba.shape == (200, n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= set(model.classes_)
    assert model.predict_regime(X, labels).shape == (200,)


def test_gating_predicts_regimes_that_depend_on_the_features():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 2))
    regimes = (X[:, 0] > 0).astype(int)
    coef = np.array([[2.0, -1.0], [-3.0, 1.0]])
    y = np.einsum("ij,ij->i", X, coef[regimes]) + 0.1 * rng.standard_normal(400)
    logistic = SwitchingRegression(n_regimes=2, random_state=0).fit(X, y)
    prior = SwitchingRegression(n_regimes=2, gating="prior", random_state=0).fit(X, y)
    assert logistic.score(X, y) > 0.9 > prior.score(X, y)
    # the prior of the Markov model: the stationary distribution of its chain
    np.testing.assert_allclose(
        prior._gating_proba(X[:3]),
        np.tile(stationary_distribution(prior.transition_matrix_), (3, 1)),
    )
    mixture = SwitchingRegression(
        n_regimes=2, latent="independent", gating="prior", random_state=0
    ).fit(X, y)
    np.testing.assert_allclose(
        mixture._gating_proba(X[:3]), np.tile(mixture.weights_, (3, 1))
    )


# ---------------------------------------------------------------------------
# Restarts, determinism, warm start, verbose
# ---------------------------------------------------------------------------


def _fitted_state(model):
    return [model.coef_, model.intercept_, model.regime_proba_, model.objective_]


def test_same_random_state_same_fit_across_n_jobs_and_backends():
    X, y, _, _ = make_switching_regression(
        n_samples=120, n_features=2, n_regimes=3, random_state=4
    )
    reference = SwitchingRegression(n_regimes=3, n_init=4, random_state=7).fit(X, y)
    again = SwitchingRegression(n_regimes=3, n_init=4, random_state=7).fit(X, y)
    parallel = SwitchingRegression(n_regimes=3, n_init=4, n_jobs=2, random_state=7).fit(
        X, y
    )
    with parallel_backend("threading", n_jobs=2):
        threads = SwitchingRegression(n_regimes=3, n_init=4, random_state=7).fit(X, y)
    for other in (again, parallel, threads):
        for a, b in zip(_fitted_state(reference), _fitted_state(other)):
            np.testing.assert_array_equal(a, b)


def test_dask_backend_gives_the_same_fit():
    distributed = pytest.importorskip("dask.distributed")
    X, y, _, _ = make_switching_regression(
        n_samples=120, n_features=2, n_regimes=3, random_state=4
    )
    params = dict(
        n_regimes=3, n_init=3, latent="smoothed", smoothing=0.5, random_state=7
    )
    reference = SwitchingRegression(**params).fit(X, y)
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ):
        with parallel_backend("dask"):
            remote = SwitchingRegression(**params).fit(X, y)
    for a, b in zip(_fitted_state(reference), _fitted_state(remote)):
        np.testing.assert_array_equal(a, b)


def test_restarts_keep_the_best_objective():
    X, y, _, _ = make_switching_regression(
        n_samples=150, n_features=3, n_regimes=3, random_state=5
    )
    finals = [
        SwitchingRegression(n_regimes=3, n_init=1, random_state=seed)
        .fit(X, y)
        .objective_[-1]
        for seed in range(6)
    ]
    best = SwitchingRegression(n_regimes=3, n_init=8, random_state=0).fit(X, y)
    assert best.objective_[-1] <= np.median(finals) + 1e-9


def test_warm_start_continues_from_the_previous_fit():
    X, y, _, _ = make_switching_regression(
        n_samples=200, n_features=3, n_regimes=2, random_state=6
    )
    model = SwitchingRegression(n_regimes=2, warm_start=True, random_state=0).fit(X, y)
    first = model.objective_[-1]
    model.fit(X, y)
    assert model.objective_[0] <= first + 1e-9
    assert model.n_iter_ <= 2


def test_verbose_prints_the_objective(capsys):
    X, y, _, _ = make_switching_regression(
        n_samples=60, n_features=2, n_regimes=2, random_state=0
    )
    SwitchingRegression(
        n_regimes=2, latent="independent", n_init=1, verbose=2, random_state=0
    ).fit(X, y)
    out = capsys.readouterr().out
    # verbose=2 prints every iteration (verbose=1 about a tenth of them)
    assert "[SwitchingRegression] initialization: objective" in out
    assert "[SwitchingRegression] iteration    1: objective" in out


def test_max_iter_reached_warns():
    X, y, _, _ = make_switching_regression(
        n_samples=200, n_features=3, n_regimes=3, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=1"):
        SwitchingRegression(
            n_regimes=3, n_init=1, max_iter=1, tol=1e-12, random_state=0
        ).fit(X, y)


@pytest.mark.parametrize("init", ["kmeans", "labels", "soft"])
def test_init_options(init):
    X, y, regimes, _ = make_switching_regression(
        n_samples=150, n_features=2, n_regimes=2, random_state=8
    )
    if init == "labels":
        init = regimes
    elif init == "soft":
        init = 0.8 * np.eye(2)[regimes] + 0.1
    model = SwitchingRegression(n_regimes=2, init=init, random_state=0).fit(X, y)
    assert regime_accuracy(regimes, model.labels_) > 0.9


def test_empty_regime_is_reseeded_with_a_warning():
    X, y, _, _ = make_switching_regression(
        n_samples=90, n_features=2, n_regimes=2, random_state=0
    )
    y = y + 1000.0  # a regime with zero parameters fits nothing
    init = np.zeros(90, dtype=int)
    init[::2] = 1  # regime 2 starts empty
    with pytest.warns(
        UserWarning, match="regime 2 became empty at iteration 1; re-seeded"
    ):
        model = SwitchingRegression(
            n_regimes=3, latent="independent", init=init, random_state=0
        ).fit(X, y)
    assert model.regime_proba_[:, 2].sum() >= 1


def test_pickle_round_trip_with_callable_loss():
    X, y, _ = iohmm_data(n_samples=80)
    model = SwitchingClassifier(
        n_regimes=2, loss=choice_loss_binary, n_init=1, max_iter=3, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


def choice_loss_binary(X, y, coef, intercept):
    """Binary logistic loss written by hand (module level, so picklable)."""
    u = X @ coef + intercept
    return cp.logistic(u) - cp.multiply(y, u)


def test_callable_classification_loss_matches_builtin_logistic():
    X, y, regimes = iohmm_data(n_samples=150)
    params = dict(n_regimes=2, init=regimes % 2, alpha=1.0, random_state=0)
    builtin = SwitchingClassifier(loss="logistic", **params).fit(X, y)
    custom = SwitchingClassifier(loss=choice_loss_binary, **params).fit(X, y)
    np.testing.assert_allclose(custom.coef_, builtin.coef_, atol=1e-3)
    np.testing.assert_allclose(
        custom.predict_proba(X), builtin.predict_proba(X), atol=1e-3
    )


# ---------------------------------------------------------------------------
# Constraints and penalties
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("constraints", ["nonnegative", "unit_ball", "simplex"])
def test_builtin_constraints_hold(constraints):
    X, y, _, _ = make_switching_regression(
        n_samples=100, n_features=3, n_regimes=2, random_state=0
    )
    model = SwitchingRegression(
        n_regimes=2, constraints=constraints, n_init=2, random_state=0
    ).fit(X, y)
    coef = model.coef_
    if constraints == "nonnegative":
        assert coef.min() >= -1e-6
    elif constraints == "unit_ball":
        assert np.linalg.norm(coef, axis=1).max() <= 1 + 1e-6
    else:
        assert coef.min() >= -1e-6
        np.testing.assert_allclose(coef.sum(axis=1), 1.0, atol=1e-6)


def test_l1_penalty_gives_sparse_regimes():
    X, y, regimes, _ = make_switching_regression(
        n_samples=200,
        n_features=6,
        n_regimes=2,
        coef=np.array([[5.0, 0, 0, 0, 0, -4.0], [0, 0, 6.0, 0, 0, 0]]),
        noise=0.5,
        random_state=0,
    )
    model = SwitchingRegression(
        n_regimes=2, penalty="l1", alpha=20.0, init=regimes, random_state=0
    ).fit(X, y)
    assert np.sum(np.abs(model.coef_) < 1e-5) >= 6
