"""EM of the Markov latent model (``latent="markov"``, ``switching/_em.py``).

EM is block coordinate descent on the free energy: the penalized negative
log-likelihood never increases, for every loss that is a negative
log-likelihood; ground truth is recovered on sticky data; constraints hold;
bad input gets clear errors.
"""

import warnings
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils._param_validation import InvalidParameterError

from skfactor import SwitchingClassifier, SwitchingRegression
from skfactor.datasets import make_switching_classification
from skfactor.metrics import regime_accuracy
from skfactor.switching._em import Emission, update_transition
from skfactor.switching._hmm import forward_backward, stationary_distribution

from _markov_switching import sticky_regression


def _classification(seed, n_samples=150, n_classes=2):
    X, y, regimes, _ = make_switching_classification(
        n_samples=n_samples,
        n_features=2,
        n_regimes=2,
        n_classes=n_classes,
        transition_matrix=0.9,
        random_state=seed,
    )
    return X, y, regimes


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    loss=st.sampled_from(["squared", "absolute", "logistic", "multinomial"]),
    switching_variance=st.booleans(),
    transition_prior=st.sampled_from([None, 0.5]),
    alpha=st.sampled_from([0.0, 0.3]),
)
def test_em_objective_never_increases(
    seed, loss, switching_variance, transition_prior, alpha
):
    """Every NLL loss: J nonincreasing; it is minus the likelihood without penalties."""
    common = dict(
        n_regimes=2,
        latent="markov",
        transition_prior=transition_prior,
        alpha=alpha,
        n_init=1,
        max_iter=15,
        tol=0.0,
        random_state=seed,
    )
    if loss in ("squared", "absolute"):
        X, y, _ = sticky_regression(seed, n_samples=120)
        model = SwitchingRegression(
            loss=loss, switching_variance=switching_variance, **common
        )
    else:
        X, y, _ = _classification(seed, n_classes=2 if loss == "logistic" else 3)
        model = SwitchingClassifier(loss=loss, **common)
    model.fit(X, y)
    f = model.objective_
    assert np.all(np.diff(f) <= 1e-7 * np.abs(f[:-1]) + 1e-9)
    if alpha == 0 and transition_prior is None:
        # the objective is then minus the log-likelihood
        assert f[-1] == pytest.approx(-model.log_likelihood_, rel=1e-12)


def test_em_log_likelihood_is_that_of_forward_backward():
    X, y, _ = sticky_regression(1, n_samples=300)
    model = SwitchingRegression(n_regimes=3, n_init=2, random_state=0).fit(X, y)
    R = (X @ model.coef_.T + model.intercept_ - y[:, None]) ** 2
    s2 = model.noise_variance_
    log_b = -R / (2 * s2) - 0.5 * np.log(2 * np.pi * s2)
    gamma, llf = forward_backward(log_b, model.transition_matrix_, model.startprob_)
    assert llf == pytest.approx(model.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(gamma, model.regime_proba_, atol=1e-8)
    np.testing.assert_allclose(model.transition_matrix_.sum(axis=1), 1.0)


def test_markov_recovers_sticky_regimes_and_their_parameters():
    X, y, regimes = sticky_regression(0, n_samples=1500)
    model = SwitchingRegression(n_regimes=3, n_init=4, random_state=0).fit(X, y)
    assert regime_accuracy(regimes, model.labels_) > 0.95
    np.testing.assert_allclose(np.diag(model.transition_matrix_), 0.95, atol=0.03)
    np.testing.assert_allclose(model.noise_variance_, 1.0, rtol=0.2)
    # regime order is arbitrary: match by coefficients
    truth = np.array([[1.0, -1.0, 0.5], [-1.0, 2.0, 0.0], [0.5, 0.0, -2.0]])
    order = [np.argmin(np.abs(model.coef_ - c).sum(axis=1)) for c in truth]
    np.testing.assert_allclose(model.coef_[order], truth, atol=0.15)
    # better than the KL-smoothed factors and the mixture on the same data
    smoothed = SwitchingRegression(
        n_regimes=3, latent="smoothed", smoothing=4.0, n_init=4, random_state=0
    ).fit(X, y)
    independent = SwitchingRegression(
        n_regimes=3, latent="independent", n_init=4, random_state=0
    ).fit(X, y)
    acc = regime_accuracy(regimes, model.labels_)
    assert acc >= regime_accuracy(regimes, smoothed.labels_) - 0.002
    assert acc > regime_accuracy(regimes, independent.labels_) + 0.05


def test_switching_variance_is_estimated_per_regime():
    rng = np.random.default_rng(0)
    m, stay = 1200, 0.97
    s = np.zeros(m, dtype=int)
    for t in range(1, m):
        s[t] = s[t - 1] if rng.uniform() < stay else 1 - s[t - 1]
    X = rng.standard_normal((m, 1))
    sigma = np.array([0.3, 2.0])
    y = X[:, 0] * np.array([1.0, 1.0])[s] + sigma[s] * rng.standard_normal(m)
    shared = SwitchingRegression(n_regimes=2, switching_variance=False, random_state=0)
    switching = SwitchingRegression(n_regimes=2, random_state=0)
    switching.fit(X, y)
    shared.fit(X, y)
    np.testing.assert_allclose(np.sort(switching.noise_variance_), sigma**2, rtol=0.2)
    assert shared.noise_variance_[0] == shared.noise_variance_[1]
    assert switching.log_likelihood_ > shared.log_likelihood_ + 100
    assert regime_accuracy(s, switching.labels_) > 0.9


def test_laplace_and_glm_emissions_label_sticky_regimes():
    X, y, regimes = sticky_regression(2, n_samples=800)
    model = SwitchingRegression(n_regimes=3, loss="absolute", random_state=0)
    model.fit(X, y)
    assert regime_accuracy(regimes, model.labels_) > 0.93
    # Laplace scale b of N(0, 1) noise fitted by a Laplace: b = E|e| = 0.80
    np.testing.assert_allclose(np.sqrt(model.noise_variance_ / 2), 0.8, rtol=0.15)
    X, y, regimes, _ = make_switching_classification(
        n_samples=1000,
        n_features=1,
        n_regimes=2,
        transition_matrix=0.97,
        coef=np.array([[-3.0], [3.0]]),
        intercept=np.array([0.0, 0.0]),
        feature_scale=2.0,
        random_state=0,
    )
    glm = SwitchingClassifier(n_regimes=2, loss="logistic", random_state=0).fit(X, y)
    assert regime_accuracy(regimes, glm.labels_) > 0.9
    assert not hasattr(glm, "noise_variance_")


@pytest.mark.parametrize("constraints", ["nonnegative", "simplex", "callable"])
def test_constraints_hold_under_the_markov_model(constraints):
    X, y, _ = sticky_regression(3, n_samples=300)
    if constraints == "callable":

        def constraints(k, coef):
            # ordering and a sign, different per regime
            return [coef[0] >= coef[1], coef[2] <= 0] if k == 0 else [coef >= -0.5]

    model = SwitchingRegression(
        n_regimes=2, constraints=constraints, penalty="l1", alpha=1.0, n_init=2
    )
    with warnings.catch_warnings():
        # 30 iterations are enough for the constraints, not for convergence
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(random_state=0, max_iter=30).fit(X, y)
    coef = model.coef_
    if constraints == "nonnegative":
        assert coef.min() >= -1e-6
    elif constraints == "simplex":
        assert coef.min() >= -1e-6
        np.testing.assert_allclose(coef.sum(axis=1), 1.0, atol=1e-6)
    else:
        assert coef[0, 0] >= coef[0, 1] - 1e-6 and coef[0, 2] <= 1e-6
        assert coef[1].min() >= -0.5 - 1e-6
    f = model.objective_
    assert np.all(np.diff(f) <= 1e-6 * np.abs(f[:-1]))


def test_predictions_of_the_markov_model():
    X, y, _ = sticky_regression(4, n_samples=400)
    model = SwitchingRegression(n_regimes=3, n_init=2, gating="prior", random_state=0)
    model.fit(X, y)
    pi = stationary_distribution(model.transition_matrix_)
    expected = (X @ model.coef_.T + model.intercept_) @ pi
    np.testing.assert_allclose(model.predict(X), expected)
    # a new series: smoothed marginals from the stationary distribution; the
    # training series gives the training posterior away from its start
    proba = model.predict_regimes(X, y)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[20:], model.regime_proba_[20:], atol=1e-6)
    assert np.mean(model.predict_regime(X, y) == model.labels_) > 0.99


def test_warm_start_continues_the_markov_fit():
    X, y, _ = sticky_regression(5, n_samples=300)
    model = SwitchingRegression(n_regimes=3, n_init=2, random_state=0, warm_start=True)
    first = model.fit(X, y).objective_[-1]  # minus the log posterior
    assert model.fit(X, y).objective_[-1] <= first + 1e-8 * abs(first)
    assert model.objective_[0] == pytest.approx(first, rel=1e-9)


def test_restarts_in_parallel_keep_the_best_likelihood(capsys):
    X, y, _ = sticky_regression(6, n_samples=300)
    params = dict(n_regimes=3, n_init=3, random_state=0)
    serial = SwitchingRegression(**params).fit(X, y)
    parallel = SwitchingRegression(**params, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(parallel.coef_, serial.coef_)
    singles = [
        SwitchingRegression(n_regimes=3, n_init=1, random_state=s).fit(X, y)
        for s in range(3)
    ]
    best = max(m.log_likelihood_ for m in singles)
    best_of_8 = SwitchingRegression(n_regimes=3, n_init=8, random_state=0).fit(X, y)
    # both stop at a relative change of tol = 1e-7 per iteration, so they
    # agree to a few times that much when they find the same maximum
    assert best_of_8.log_likelihood_ >= best - 1e-5 * abs(best)
    SwitchingRegression(
        n_regimes=2, n_init=1, max_iter=50, tol=0, verbose=1, random_state=0
    ).fit(X, y)
    lines = [x for x in capsys.readouterr().out.splitlines() if "log-likelihood" in x]
    assert 5 <= len(lines) <= 13  # about one line per 10% of the iterations


def test_update_transition_adds_the_prior_and_keeps_empty_rows():
    xi = np.array([[8.0, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(
        update_transition(xi, 1.0, np.eye(2)), [[0.75, 0.25], [0.5, 0.5]]
    )
    np.testing.assert_allclose(update_transition(xi, None, np.eye(2))[1], [0, 1])


def test_emission_scales_are_the_maximum_likelihood_ones():
    rng = np.random.default_rng(0)
    e = rng.normal(scale=1.5, size=(20000, 1))
    R = np.column_stack([e[:, 0] ** 2, (e[:, 0] + 3) ** 2])
    gamma = np.column_stack([np.ones(20000), np.zeros(20000)])
    gamma[:100] = [0.0, 1.0]
    scales = Emission("squared").update_scales(R, gamma, np.ones(2))
    assert scales[0] == pytest.approx(2.25, rel=0.03)
    assert scales[1] == pytest.approx(np.mean(R[:100, 1]))
    laplace = np.abs(rng.laplace(scale=0.7, size=(20000, 1)))
    b = Emission("absolute", switching=False).update_scales(
        laplace, np.ones_like(laplace), np.ones(1)
    )
    assert b[0] == pytest.approx(0.7, rel=0.03)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("prior", [0.0, -1.0])
def test_transition_prior_must_be_positive(prior):
    X, y, _ = sticky_regression(0, n_samples=40)
    with pytest.raises(InvalidParameterError, match="transition_prior"):
        SwitchingRegression(transition_prior=prior).fit(X, y)


def test_more_regimes_than_samples_is_a_clear_error():
    X, y, _ = sticky_regression(0, n_samples=40)
    with pytest.raises(ValueError, match="n_regimes=5 exceeds the number of samples"):
        SwitchingRegression(n_regimes=5).fit(X[:3], y[:3])


def test_constant_series_is_a_clear_error():
    X, _, _ = sticky_regression(0, n_samples=40)
    with pytest.raises(ValueError, match="y is constant"):
        SwitchingRegression().fit(X, np.full(40, 2.5))
    # the other latent models fit a constant target exactly
    # a constant target makes one regime redundant: it is re-seeded, with a warning
    with pytest.warns(UserWarning, match="became empty"):
        model = SwitchingRegression(latent="independent", n_init=1).fit(X, np.ones(40))
    np.testing.assert_allclose(model.predict(X), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "loss", ["huber", lambda X, y, coef, intercept: (X @ coef + intercept - y) ** 2]
)
def test_markov_needs_a_likelihood_loss(loss):
    X, y, _ = sticky_regression(0, n_samples=50)
    with pytest.raises(ValueError, match="latent='markov' reads the loss"):
        SwitchingRegression(n_regimes=2, loss=loss, n_init=1).fit(X, y)


def test_restarts_are_screened_then_the_best_is_refined_to_tol():
    """Restarts stop at the screening tolerance; the winner runs on to ``tol``.

    The refined fit continues the winner: its history starts with the
    winner's and keeps decreasing, it stays within ``max_iter`` and ends at
    least as high as the winner stopped.
    """
    X, y, _ = sticky_regression(3, n_samples=400)
    coarse = SwitchingRegression(n_regimes=3, n_init=4, tol=1e-4, random_state=0)
    coarse.fit(X, y)
    fine = SwitchingRegression(n_regimes=3, n_init=4, tol=1e-9, random_state=0)
    fine.fit(X, y)
    n = coarse.objective_.size
    np.testing.assert_allclose(fine.objective_[:n], coarse.objective_)
    assert np.all(np.diff(fine.objective_) <= 1e-9 * np.abs(fine.objective_[1:]))
    assert fine.n_iter_ == fine.objective_.size - 1 <= fine.max_iter
    assert fine.log_likelihood_ >= coarse.log_likelihood_
    assert fine.n_iter_ > coarse.n_iter_
