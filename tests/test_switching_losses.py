"""Each built-in loss and penalty is written for NumPy and for cvxpy: they agree."""

import cvxpy as cp
import numpy as np
import pytest

from skfactor.switching import cvxpy_loss
from skfactor.switching._losses import (
    RegimeLoss,
    class_probabilities,
    cvxpy_penalty,
    huber,
    log_normalizer,
    loss_expression,
    loss_gradient,
    loss_values,
    loss_values_and_gradient,
    coef_penalty_value,
)


def _targets(loss, m, rng, q=None):
    if loss == "logistic":
        return rng.integers(2, size=m).astype(float)
    if loss == "multinomial":
        return np.eye(3)[rng.integers(3, size=m)]
    return 2 * rng.standard_normal((m,) if q is None else (m, q))


@pytest.mark.parametrize(
    "loss, q",
    [
        ("squared", None),
        ("squared", 2),
        ("absolute", None),
        ("absolute", 3),
        ("huber", None),
        ("huber", 2),
        ("logistic", None),
        ("multinomial", None),
    ],
)
def test_numpy_and_cvxpy_losses_agree(loss, q):
    rng = np.random.default_rng(0)
    m = 30
    Y = _targets(loss, m, rng, q)
    U = 3 * rng.standard_normal(Y.shape)
    expr = loss_expression(loss, cp.Constant(U), Y, epsilon=0.7)
    assert expr.shape == (m,) and expr.is_convex()
    np.testing.assert_allclose(
        loss_values(loss, U, Y, epsilon=0.7), expr.value, rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e300])
def test_log_normalizer_matches_scipy(scale):
    from scipy.special import logsumexp, softmax

    U = scale * np.random.default_rng(2).standard_normal((40, 4))
    lse, proba = log_normalizer(U)
    np.testing.assert_allclose(lse, logsumexp(U, axis=1), rtol=1e-13)
    np.testing.assert_allclose(proba, softmax(U, axis=1), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("loss", ["squared", "huber", "logistic", "multinomial"])
def test_values_and_gradient_together_equal_apart(loss):
    rng = np.random.default_rng(3)
    Y = _targets(loss, 25, rng)
    U = 3 * rng.standard_normal(Y.shape)
    values, grad = loss_values_and_gradient(loss, U, Y, epsilon=0.7)
    np.testing.assert_array_equal(values, loss_values(loss, U, Y, epsilon=0.7))
    np.testing.assert_array_equal(grad, loss_gradient(loss, U, Y, epsilon=0.7))


def test_huber_matches_the_seed_definition():
    r = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    delta = 1.0
    expected = np.where(np.abs(r) <= delta, r**2, 2 * delta * np.abs(r) - delta**2)
    np.testing.assert_allclose(huber(r, delta), expected)


def test_losses_are_negative_log_likelihoods():
    U = np.array([[0.3, -1.0, 2.0]])
    Y = np.eye(3)[[2]]
    assert np.isclose(
        loss_values("multinomial", U, Y)[0],
        -np.log(class_probabilities("multinomial", U)[0, 2]),
    )
    u = np.array([1.5])
    p = class_probabilities("logistic", u)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.isclose(loss_values("logistic", u, np.array([1.0]))[0], -np.log(p[0, 1]))
    assert np.isclose(loss_values("logistic", u, np.array([0.0]))[0], -np.log(p[0, 0]))


@pytest.mark.parametrize("penalty", ["l1", "l2", "group", None])
@pytest.mark.parametrize("shape", [(4,), (4, 3)])
def test_numpy_and_cvxpy_penalties_agree(penalty, shape):
    coef = np.random.default_rng(1).standard_normal(shape)
    expected = cvxpy_penalty(penalty, cp.Constant(coef)).value
    assert np.isclose(coef_penalty_value(penalty, coef), expected)


def test_regime_loss_callable_values_and_loss_matrix():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((10, 2)), rng.standard_normal(10)

    def squared(X, y, coef, intercept):
        return cp.square(X @ coef + intercept - y)

    builtin = RegimeLoss("squared", (2,), ())
    custom = RegimeLoss(squared, (2,), ())
    coefs, intercepts = [np.array([1.0, -1.0]), np.array([0.5, 2.0])], [0.3, -1.0]
    np.testing.assert_allclose(
        custom.loss_matrix(X, y, coefs, intercepts),
        builtin.loss_matrix(X, y, coefs, intercepts),
    )


def test_cvxpy_loss_declares_shapes():
    def f(X, y, coef, intercept):
        return cp.square(X[:, :2] @ coef - y)

    assert (
        cvxpy_loss(f, coef_shape=2) is f
        and f.coef_shape == (2,)
        and f.intercept_shape == ()
    )

    @cvxpy_loss(coef_shape=(2, 3), intercept_shape=3)
    def g(X, y, coef, intercept):
        return cp.sum(cp.square(X @ coef + intercept), axis=1)

    assert g.coef_shape == (2, 3) and g.intercept_shape == (3,)
    with pytest.raises(ValueError, match="positive entries"):
        cvxpy_loss(f, coef_shape=(0,))
    with pytest.raises(TypeError, match="decorates a callable"):
        cvxpy_loss("squared", coef_shape=2)
