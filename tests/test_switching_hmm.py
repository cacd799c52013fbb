"""Forward-backward recursions of the Markov latent model (``switching/_hmm.py``).

Marginals, expected transitions and log-likelihood are checked against
brute-force enumeration of every state path and against statsmodels'
MarkovRegression smoother at given parameters.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from skfactor import SwitchingRegression
from skfactor.switching._hmm import forward_backward, stationary_distribution

from _markov_switching import statsmodels_params, sticky_regression


def _brute_force(log_b, P, pi):
    """Posterior marginals and log-likelihood by summing over all K^m paths."""
    m, K = log_b.shape
    marginals = np.zeros((m, K))
    pairs = np.zeros((K, K))
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
        for t in range(1, m):
            pairs[path[t - 1], path[t]] += np.exp(w - log_z)
    return marginals, log_z, pairs


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
    gamma, log_lik, xi = forward_backward(log_b, P, pi, transitions=True)
    expected, expected_log_lik, pairs = _brute_force(log_b, P, pi)
    np.testing.assert_allclose(gamma, expected, atol=1e-10)
    np.testing.assert_allclose(xi, pairs, atol=1e-10)
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


def test_stationary_distribution():
    rng = np.random.default_rng(0)
    P = rng.uniform(0.1, 1, size=(4, 4))
    P /= P.sum(axis=1, keepdims=True)
    pi = stationary_distribution(P)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-12)
    assert pi.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [1e-150, 1.0, 1e150])
@pytest.mark.parametrize("n_samples", [1, 2, 40])
def test_markov_fit_is_finite_or_a_clear_error(scale, n_samples):
    """Tiny and huge targets, one or two samples: finite posteriors or ValueError."""
    X, y, _ = sticky_regression(0, n_samples=max(n_samples, 2))
    X, y = X[:n_samples], scale * y[:n_samples]
    model = SwitchingRegression(n_regimes=min(2, n_samples), n_init=1)
    try:
        model.fit(X, y)
    except ValueError as exc:
        assert str(exc)  # a message, raised by our validation
        return
    assert np.all(np.isfinite(model.regime_proba_))
    np.testing.assert_allclose(model.regime_proba_.sum(axis=1), 1.0)
    assert np.all(np.isfinite(model.predict_regimes(X, y)))
    assert np.isfinite(model.log_likelihood_)
