"""SwitchingRegression and SwitchingClassifier: bad input gets a clear error
naming the parameter or the offending value (shapes, non-finite or too large
values, targets, callables, constraints, solvers)."""

import cvxpy as cp
import numpy as np
import pytest

from skfactor import SwitchingClassifier, SwitchingRegression
from skfactor.datasets import make_switching_regression
from skfactor.switching import cvxpy_loss


def test_more_regimes_than_samples():
    with pytest.raises(
        ValueError, match=r"n_regimes=5 exceeds the number of samples \(n_samples=3\)"
    ):
        SwitchingRegression(n_regimes=5).fit(np.ones((3, 2)), np.arange(3.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input(bad):
    X, y = np.random.default_rng(0).standard_normal((20, 2)), np.arange(20.0)
    Xb = X.copy()
    Xb[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains"):
        SwitchingRegression().fit(Xb, y)
    yb = y.copy()
    yb[5] = bad
    with pytest.raises(ValueError, match="Input y contains"):
        SwitchingRegression().fit(X, yb)


def test_values_too_large_to_square_are_rejected():
    X, y = np.random.default_rng(0).standard_normal((20, 2)), np.arange(20.0)
    with pytest.raises(
        ValueError, match="X passed to SwitchingRegression.fit has values up to"
    ):
        SwitchingRegression().fit(X * 1e300, y)
    with pytest.raises(
        ValueError, match="y passed to SwitchingRegression.fit has values up to"
    ):
        SwitchingRegression().fit(X, y * 1e200)
    with pytest.raises(ValueError, match="X passed to SwitchingClassifier.fit"):
        SwitchingClassifier().fit(X * 1e300, np.arange(20) % 2)
    model = SwitchingRegression(n_init=1).fit(X, y)
    with pytest.raises(ValueError, match="X passed to SwitchingRegression.predict has"):
        model.predict(X * 1e300)


def test_classifier_target_errors():
    X = np.random.default_rng(0).standard_normal((20, 2))
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        SwitchingClassifier().fit(X, np.zeros(20))
    with pytest.raises(
        ValueError, match="loss='logistic' is binary but y has 3 classes"
    ):
        SwitchingClassifier(loss="logistic").fit(X, np.arange(20) % 3)
    with pytest.raises(ValueError, match="Unknown label type"):
        SwitchingClassifier().fit(X, np.linspace(0, 1, 20))
    model = SwitchingClassifier(n_init=1).fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="labels not seen during fit"):
        model.predict_regime(X, np.arange(20) % 3)


def test_bad_callables_and_solver_name_the_parameter():
    X, y, _, _ = make_switching_regression(
        n_samples=40, n_features=2, n_regimes=2, random_state=0
    )
    with pytest.raises(ValueError, match="not convex"):
        SwitchingRegression(
            loss=lambda X, y, c, b: -cp.abs(X @ c - y), latent="independent"
        ).fit(X, y)
    with pytest.raises(TypeError, match="loss callable must return a cvxpy Expression"):
        SwitchingRegression(loss=lambda X, y, c, b: y, latent="independent").fit(X, y)
    with pytest.raises(ValueError, match="constraints of regime 0 are infeasible"):
        SwitchingRegression(constraints=lambda k, c: [c >= 1, c <= 0]).fit(X, y)
    with pytest.raises(
        ValueError, match="solver='NOPE' is not 'auto', 'cvxpy' or an installed"
    ):
        SwitchingRegression(solver="NOPE").fit(X, y)
    with pytest.raises(ValueError, match="init must have shape"):
        SwitchingRegression(init=np.ones((3, 2))).fit(X, y)


def test_predict_requires_linear_regimes():
    X, y, _, _ = make_switching_regression(
        n_samples=40, n_features=4, n_regimes=2, random_state=0
    )

    @cvxpy_loss(coef_shape=2)
    def first_half(X, y, coef, intercept):
        return cp.square(X[:, :2] @ coef + intercept - y)

    model = SwitchingRegression(
        loss=first_half, latent="independent", n_init=1, random_state=0
    ).fit(X, y)
    assert model.coef_.shape == (2, 2)
    assert model.predict_regime(X, y).shape == (40,)
    with pytest.raises(ValueError, match="predict needs linear regimes"):
        model.predict(X)
