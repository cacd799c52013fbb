"""Markov-switching regression data for the switching tests, and statsmodels' view."""

import numpy as np

from skfactor.datasets import make_switching_regression

# Three regimes, three features, sticky chain: the set-up of
# benchmarks/bench_switching.py.
COEF = np.array([[1.0, -1.0, 0.5], [-1.0, 2.0, 0.0], [0.5, 0.0, -2.0]])
INTERCEPT = np.array([0.0, 1.0, -1.0])


def sticky_regression(
    random_state, n_samples=1000, stay=0.95, coef=COEF, intercept=INTERCEPT
):
    """(X, y, regimes) of a Markov-switching Gaussian regression, noise 1."""
    X, y, regimes, _ = make_switching_regression(
        n_samples=n_samples,
        n_features=coef.shape[1],
        n_regimes=coef.shape[0],
        noise=1.0,
        coef=coef,
        intercept=intercept,
        transition_matrix=stay,
        random_state=random_state,
    )
    return X, y, regimes


def statsmodels_params(model, coef, intercept, transition, sigma2):
    """Parameters in the order of a statsmodels ``MarkovRegression``'s names."""
    K, n = coef.shape
    values = {"sigma2": sigma2}
    for i in range(K):
        for j in range(K):
            values[f"p[{i}->{j}]"] = transition[i, j]
        values[f"const[{i}]"] = intercept[i]
        for j in range(n):
            values[f"x{j + 1}[{i}]"] = coef[i, j]
    return np.array([values[name] for name in model.param_names])
