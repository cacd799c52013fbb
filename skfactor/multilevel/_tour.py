"""Tour row of the multilevel family (see :mod:`skfactor._tour`)."""

from .._tour import TourCase


def _make_data():
    from ..datasets import make_multilevel_factor

    X, truth = make_multilevel_factor(
        n_samples=1000, n_features=200, ranks=(4, 2, 1), snr=4.0, random_state=0
    )
    return {"X": X[:500], "X_test": X[500:], "truth": truth}


def _make_estimator():
    from . import MultilevelFactorModel

    return MultilevelFactorModel(ranks=(4, 2, 1), hierarchy="auto", random_state=0)


def _loglik_gap(model, data):
    """Held-out log-likelihood per sample, model minus the true model."""
    X_test = data["X_test"]
    return model.score(X_test) - data["truth"].covariance.logpdf(X_test).mean()


TOUR_CASES = [
    TourCase(
        estimator="MultilevelFactorModel",
        description="500 x 200, hierarchy learned (1/2/4 groups)",
        make_data=_make_data,
        make_estimator=_make_estimator,
        quality=_loglik_gap,
        quality_name="held-out log-lik - truth's (nats/sample)",
        min_quality=-5.0,
    )
]
