"""Published maximum likelihoods of Markov-switching regressions, reached by EM.

statsmodels ships, with its regime-switching tests, the U.S. federal funds
rate, output gap and inflation series of Kim and Nelson (1999) and the
absolute stock returns of Hamilton and Susmel (1994), with the maximum
log-likelihoods Stata reports for Markov-switching regressions fitted to
them (Stata manual ``mswitch``). The data arrays and the published values
are imported from statsmodels' test module, not copied.

Initial distribution: statsmodels and Stata draw the first regime from the
stationary distribution of the chain; ``latent="markov"`` estimates it
(``startprob_``), a larger model, so its log-likelihood may exceed the
published one. Both are checked: the log-likelihood at our fit, and the
log-likelihood of our fitted parameters with the first regime drawn from
the stationary distribution, the published convention.
"""

import numpy as np
import pytest

from skfactor import SwitchingRegression
from skfactor.switching._hmm import forward_backward, stationary_distribution

published = pytest.importorskip(
    "statsmodels.tsa.regime_switching.tests.test_markov_regression"
)

fedfunds = np.asarray(published.fedfunds)
ogap = np.asarray(published.ogap)
inflation = np.asarray(published.inf)
areturns = np.asarray(published.areturns)
lag_exog = np.c_[fedfunds[3:-1], ogap[4:], inflation[4:]]

# name: (y, X, n_regimes, switching_variance, statsmodels test class)
CASES = {
    # switching constant only: a zero feature column, coefficient 0
    "fedfunds, switching constant": (
        fedfunds,
        np.zeros((fedfunds.size, 1)),
        2,
        False,
        published.TestFedFundsConst,
    ),
    "fedfunds, switching lag": (
        fedfunds[1:],
        fedfunds[:-1, None],
        2,
        False,
        published.TestFedFundsConstL1,
    ),
    "fedfunds, switching lag, output gap, inflation": (
        fedfunds[4:],
        lag_exog,
        2,
        False,
        published.TestFedFundsConstL1Exog,
    ),
    "fedfunds, 3 regimes": (
        fedfunds[4:],
        lag_exog,
        3,
        False,
        published.TestFedFundsConstL1Exog3,
    ),
    "absolute returns, switching variance": (
        areturns[1:],
        areturns[:-1, None],
        2,
        True,
        published.TestAreturnsConstL1Variance,
    ),
}


def _published_llf(test_class):
    """``llf_fit`` of a statsmodels test class (its setup only smooths once)."""
    test_class.setup_class()
    return test_class.true["llf_fit"]


@pytest.mark.parametrize("case", list(CASES))
def test_markov_reaches_the_published_log_likelihood(case):
    y, X, K, switching_variance, test_class = CASES[case]
    llf = _published_llf(test_class)
    # the defaults (restarts, tolerance, iterations), as a user would fit,
    # with the maximum-likelihood chain of the published fits
    model = SwitchingRegression(
        n_regimes=K,
        switching_variance=switching_variance,
        transition_prior=None,
        random_state=0,
    ).fit(X, y)
    assert model.log_likelihood_ >= llf - 0.05
    # the published convention: first regime from the stationary distribution
    R = (X @ model.coef_.T + model.intercept_ - y[:, None]) ** 2
    s2 = model.noise_variance_
    log_b = -R / (2 * s2) - 0.5 * np.log(2 * np.pi * s2)
    P = model.transition_matrix_
    stationary_llf = forward_backward(log_b, P, stationary_distribution(P))[1]
    assert stationary_llf >= llf - 0.05
    if not switching_variance:
        assert np.ptp(model.noise_variance_) == 0
