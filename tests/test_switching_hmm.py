"""Hidden Markov model read-out of the switching estimators (decoding="hmm").

The forward-backward recursions are checked against brute-force enumeration
of every state path and against statsmodels' MarkovRegression smoother; the
estimators' read-out against the KL-smoothed factors on sticky data.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from skfactor import SwitchingClassifier, SwitchingRegression
from skfactor.datasets import make_switching_classification
from skfactor.metrics import regime_accuracy
from skfactor.switching._hmm import (
    emission_scale,
    forward_backward,
    hmm_transition_matrix,
    stationary_distribution,
)

from _markov_switching import statsmodels_params, sticky_regression


def _brute_force(log_b, P, pi):
    """Posterior marginals and log-likelihood by summing over all K^m paths."""
    m, K = log_b.shape
    marginals = np.zeros((m, K))
    log_weights, paths = [], list(itertools.product(range(K), repeat=m))
    for path in paths:
        w = np.log(pi[path[0]]) + log_b[0, path[0]]
        for t in range(1, m):
            w += np.log(P[path[t - 1], path[t]]) + log_b[t, path[t]]
        log_weights.append(w)
    log_weights = np.array(log_weights)
    log_z = logsumexp(log_weights)
    for path, w in zip(paths, log_weights):
        marginals[np.arange(m), path] += np.exp(w - log_z)
    return marginals, log_z


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 5),
    K=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
    spread=st.sampled_from([1.0, 30.0, 800.0]),
)
def test_forward_backward_matches_enumeration(m, K, seed, spread):
    rng = np.random.default_rng(seed)
    P = rng.uniform(0.05, 1, size=(K, K))
    P /= P.sum(axis=1, keepdims=True)
    pi = rng.dirichlet(np.ones(K)) + 1e-3
    pi /= pi.sum()
    # large spreads: exp(log_b) would underflow without the per-row shift
    log_b = -spread * rng.uniform(size=(m, K))
    gamma, log_lik = forward_backward(log_b, P, pi)
    expected, expected_log_lik = _brute_force(log_b, P, pi)
    np.testing.assert_allclose(gamma, expected, atol=1e-10)
    np.testing.assert_allclose(gamma.sum(axis=1), 1.0)
    assert log_lik == pytest.approx(expected_log_lik, rel=1e-10, abs=1e-10)


def test_forward_backward_matches_statsmodels_smoother():
    """Gaussian emissions at given parameters: statsmodels' smoothed marginals."""
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    coef = np.array([[1.0, -1.0], [-1.0, 2.0], [0.5, 0.0]])
    intercept = np.array([0.0, 1.0, -1.0])
    X, y, _ = sticky_regression(
        0, n_samples=300, stay=0.9, coef=coef, intercept=intercept
    )
    P = np.full((3, 3), 0.05) + 0.85 * np.eye(3)
    sigma2 = 1.3
    model = MarkovRegression(y, k_regimes=3, exog=X, trend="c")
    params = statsmodels_params(model, coef, intercept, P, sigma2)
    smoothed = model.smooth(params)
    # statsmodels starts from the stationary distribution of P (uniform here)
    log_b = -((X @ coef.T + intercept - y[:, None]) ** 2) / (2 * sigma2)
    gamma, log_lik = forward_backward(log_b, P, np.full(3, 1 / 3))
    np.testing.assert_allclose(
        gamma, smoothed.smoothed_marginal_probabilities, atol=1e-8
    )
    # its log-likelihood includes the Gaussian normalization
    normalization = -0.5 * y.size * np.log(2 * np.pi * sigma2)
    assert log_lik + normalization == pytest.approx(smoothed.llf, rel=1e-9)


def test_emission_scale_is_the_maximum_likelihood_noise():
    rng = np.random.default_rng(0)
    residuals = rng.normal(scale=1.5, size=20000)
    R = np.column_stack([residuals**2, residuals**2 + 5])
    Z = np.column_stack([np.ones(20000), np.zeros(20000)])
    assert emission_scale("squared", R, Z) == pytest.approx(2 * 1.5**2, rel=0.03)
    laplace = np.abs(rng.laplace(scale=0.7, size=20000))[:, None]
    assert emission_scale("absolute", laplace, np.ones_like(laplace)) == pytest.approx(
        0.7, rel=0.03
    )
    assert emission_scale("logistic", R, Z) == 1.0
    assert emission_scale("squared", np.zeros((3, 2)), np.ones((3, 2)) / 2) > 0


def test_hmm_transition_matrix_keeps_every_transition_possible():
    P = hmm_transition_matrix(np.array([0, 0, 0, 0, 1, 1]), 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert np.all(P > 0)
    np.testing.assert_allclose(P[0], [4 / 7, 2 / 7, 1 / 7])  # 3, 1, 0 counts + 1


def test_hmm_decoding_labels_sticky_regimes_better_than_the_factors():
    """On the benchmark's Markov-switching data the posterior labels more samples."""
    gains = []
    for seed in (0, 4):
        X, y, regimes = sticky_regression(seed)
        params = dict(n_regimes=3, smoothing=4.0, n_init=3, random_state=seed)
        factors = SwitchingRegression(**params).fit(X, y)
        hmm = SwitchingRegression(**params, decoding="hmm").fit(X, y)
        # same regimes: decoding is a read-out, not a different fit
        np.testing.assert_array_equal(hmm.coef_, factors.coef_)
        gains.append(
            regime_accuracy(regimes, hmm.labels_)
            - regime_accuracy(regimes, factors.labels_)
        )
        np.testing.assert_allclose(hmm.regime_proba_.sum(axis=1), 1.0)
        assert hmm.emission_scale_ == pytest.approx(2.0, rel=0.15)  # 2 sigma^2
        # predict_regime_proba on the training sequence is the same read-out
        np.testing.assert_allclose(
            hmm.predict_regime_proba(X, y), hmm.regime_proba_, atol=1e-10
        )
    assert min(gains) >= 0 and max(gains) >= 0.005


def test_hmm_decoding_classifier_iohmm():
    X, y, regimes, _ = make_switching_classification(
        n_samples=600,
        n_features=1,
        n_regimes=2,
        transition_matrix=0.97,
        coef=np.array([[-3.0], [3.0]]),
        intercept=np.array([0.0, 0.0]),
        feature_scale=2.0,
        random_state=0,
    )
    model = SwitchingClassifier(
        n_regimes=2, loss="logistic", smoothing=2.0, decoding="hmm", random_state=0
    ).fit(X, y)
    assert model.emission_scale_ == 1.0
    assert regime_accuracy(regimes, model.labels_) > 0.9


@pytest.mark.parametrize(
    "loss", ["huber", lambda X, y, coef, intercept: (X @ coef + intercept - y) ** 2]
)
def test_hmm_decoding_needs_a_likelihood_loss(loss):
    X, y, _ = sticky_regression(0, n_samples=50)
    with pytest.raises(ValueError, match="decoding='hmm' needs a loss"):
        SwitchingRegression(n_regimes=2, loss=loss, decoding="hmm", n_init=1).fit(X, y)


def test_stationary_distribution():
    rng = np.random.default_rng(0)
    P = rng.uniform(0.1, 1, size=(4, 4))
    P /= P.sum(axis=1, keepdims=True)
    pi = stationary_distribution(P)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-12)
    assert pi.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [1e-150, 1.0, 1e150])
@pytest.mark.parametrize("n_samples", [1, 2, 40])
def test_hmm_decoding_is_finite_or_a_clear_error(scale, n_samples):
    """Tiny and huge targets, one or two samples: finite posteriors or ValueError."""
    X, y, _ = sticky_regression(0, n_samples=max(n_samples, 2))
    X, y = X[:n_samples], scale * y[:n_samples]
    model = SwitchingRegression(n_regimes=min(2, n_samples), decoding="hmm", n_init=1)
    try:
        model.fit(X, y)
    except ValueError as exc:
        assert str(exc)  # a message, raised by our validation
        return
    assert np.all(np.isfinite(model.regime_proba_))
    np.testing.assert_allclose(model.regime_proba_.sum(axis=1), 1.0)
    assert np.all(np.isfinite(model.predict_regime_proba(X, y)))
