"""Valid data and quick settings for every public estimator.

Shared by the integration tests (robustness, determinism, ecosystem): each
estimator is described once here, from its tags, so a new estimator is
covered as soon as it exists. Settings only make fits on tiny data quick;
the integration tests check behaviour, not accuracy.
"""

import collections

import numpy as np
from sklearn.utils import get_tags

from skfactor.utils.discovery import all_estimators

ESTIMATORS = all_estimators()

QUICK_PARAMS = {
    "BalancedSparseNMF": {"n_components": 2, "max_iter": 50},
    "MultilevelFactorModel": {"max_iter": 20},
    "ProxFMClassifier": {"n_components": 2, "max_iter": 3},
    "ProximalMF": {"n_components": 2, "max_iter": 50},
    "RidgeCPD": {"n_components": 2, "max_iter": 30},
    "SparseNTD": {"n_components": 2, "max_iter": 30},
    "SwitchingClassifier": {"n_init": 2, "max_iter": 20},
    "SwitchingRegression": {"n_init": 2, "max_iter": 20},
}

# Cases tried by the robustness suite, per estimator and outcome; printed at
# the end of the test session (tests/conftest.py).
COUNTS = collections.defaultdict(collections.Counter)


def make_estimator(Estimator, **params):
    """Instance with the quick settings and a fixed random_state."""
    estimator = Estimator(**{**QUICK_PARAMS.get(Estimator.__name__, {}), **params})
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=0)
    return estimator


def kind(Estimator):
    """'classifier', 'regressor' or 'transformer'."""
    tags = get_tags(Estimator())
    return tags.estimator_type or "transformer"


def valid_data(Estimator, n_samples=24, n_features=4, seed=0):
    """Data every estimator of the package accepts: positive X, and y when needed."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.1, 1.0, size=(n_samples, n_features))
    estimator_kind = kind(Estimator)
    if estimator_kind == "classifier":
        y = rng.permutation(np.arange(n_samples) % 2)
    elif estimator_kind == "regressor":
        y = X @ rng.standard_normal(n_features) + 0.1 * rng.standard_normal(n_samples)
    else:
        y = None
    return X, y


def fit(estimator, X, y):
    return estimator.fit(X) if y is None else estimator.fit(X, y)


OUTPUT_METHODS = (
    "predict",
    "predict_proba",
    "decision_function",
    "transform",
    "score_samples",
)


def outputs(estimator, X):
    """Every output of a fitted estimator on X, by method name."""
    return {
        name: getattr(estimator, name)(X)
        for name in OUTPUT_METHODS
        if hasattr(estimator, name)
    }
