"""The closed-form P-step of the squared loss: weighted ridge from moments,
against cvxpy, both moment paths, and the minimum-norm solution."""

import numpy as np
import pytest

from skfactor.switching._losses import RegimeLoss
from skfactor.switching._pstep import ClosedFormPStep
from skfactor.switching._weighted_ridge import (
    augmented_design,
    column_products,
    weighted_moments,
    weighted_ridge,
)

from .test_switching_solvers import _cvxpy_solution, _regression_data


@pytest.mark.parametrize("q", [None, 2])
@pytest.mark.parametrize(
    "alpha, fit_intercept", [(0.0, True), (3.0, True), (3.0, False)]
)
def test_weighted_ridge_matches_cvxpy(q, alpha, fit_intercept):
    X, Y, w = _regression_data(q=q)
    regime_loss = RegimeLoss(
        "squared", X.shape[1:] + ((q,) if q else ()), (q,) if q else ()
    )
    coef, intercept = weighted_ridge(X, Y, w, alpha, fit_intercept)
    coef_cvx, intercept_cvx = _cvxpy_solution(
        X, Y, regime_loss, w, alpha, "l2", fit_intercept
    )
    np.testing.assert_allclose(coef, coef_cvx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(intercept, intercept_cvx, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("q", [None, 3])
def test_weighted_moments_one_product_equals_one_pass_per_regime(q):
    X, Y, _ = _regression_data(q=q)
    W = np.random.default_rng(1).uniform(size=(X.shape[0], 3))
    A = augmented_design(X, Y)
    dense = np.einsum("tk,ti,tj->kij", W, A, A)
    np.testing.assert_allclose(weighted_moments(A, W), dense, rtol=1e-12)
    np.testing.assert_allclose(
        weighted_moments(A, W, column_products(A)), dense, rtol=1e-12
    )


@pytest.mark.parametrize("budget", [0, 10**9])
def test_closed_form_pstep_with_and_without_products(budget, monkeypatch):
    # Both moment paths of ClosedFormPStep give weighted_ridge's solution.
    monkeypatch.setattr("skfactor.switching._pstep.PRODUCTS_BUDGET", budget)
    X, Y, w = _regression_data()
    X = X + 50.0  # far from centred: the P-step centres once per fit
    regime_loss = RegimeLoss("squared", X.shape[1:], ())
    pstep = ClosedFormPStep(X, Y, regime_loss, 2, True, 0.5)
    assert (pstep.products is None) == (budget == 0)
    W = np.column_stack([w, 1.0 - w])
    coefs, intercepts = [None, None], [None, None]
    pstep.solve(W, coefs, intercepts, np.array([True, True]))
    for k in range(2):
        coef, intercept = weighted_ridge(X, Y, W[:, k], 0.5, True)
        np.testing.assert_allclose(coefs[k], coef, rtol=1e-8)
        np.testing.assert_allclose(intercepts[k], intercept, rtol=1e-8)


def test_weighted_ridge_rank_deficient_gives_minimum_norm_solution():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 6))
    y = rng.standard_normal(3)
    coef, intercept = weighted_ridge(X, y, np.ones(3), 0.0, False)
    np.testing.assert_allclose(X @ coef, y, atol=1e-10)
    np.testing.assert_allclose(coef, np.linalg.pinv(X) @ y, atol=1e-10)
