"""Newton's method for the classification P-step (``switching/_glm_newton.py``):
against L-BFGS on the same problems, its Hessian against finite differences
of the gradient, and the flat directions of a singular Hessian."""

import numpy as np
import pytest

from skfactor.switching import _glm_newton, _pstep


def _problem(loss, seed, n=400, d=3, n_classes=3, soft=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.2, 3.0, d)
    U = X @ rng.normal(size=(d, n_classes))
    w = rng.uniform(size=n) * (rng.uniform(size=n) < 0.8)
    if loss == "logistic":
        y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-U[:, 0]))).astype(float)
        return X, y, w, (d,)
    proba = np.exp(U - U.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    Y = np.eye(n_classes)[[rng.choice(n_classes, p=p) for p in proba]]
    return X, (0.7 * Y + 0.3 * proba if soft else Y), w, (d, n_classes)


def _identified(coef, intercept, loss, alpha):
    """The parameters up to the multinomial model's invariances."""
    coef = np.array(coef, dtype=float).reshape(coef.shape[0], -1)
    intercept = np.atleast_1d(np.asarray(intercept, dtype=float))
    if loss == "multinomial":
        intercept = intercept - intercept.mean()
        if alpha == 0:
            coef = coef - coef.mean(axis=1, keepdims=True)
    return coef, intercept


@pytest.mark.parametrize(
    "loss, alpha, fit_intercept, soft",
    [
        ("logistic", 0.0, True, False),
        ("logistic", 1.5, True, False),
        ("logistic", 0.5, False, False),
        ("multinomial", 0.0, True, False),
        ("multinomial", 1.0, True, True),
        ("multinomial", 0.0, False, True),
    ],
)
def test_newton_reaches_the_minimizer_lbfgs_reaches(
    monkeypatch, loss, alpha, fit_intercept, soft
):
    X, Y, w, shape = _problem(loss, seed=len(loss) + int(10 * alpha), soft=soft)
    args = (X, Y, w, alpha, loss, shape, fit_intercept)
    calls = []
    newton = _pstep.fit_glm_newton
    monkeypatch.setattr(
        _pstep, "fit_glm_newton", lambda *a, **k: calls.append(1) or newton(*a, **k)
    )
    coef, intercept, converged = _pstep.fit_smooth_linear_model(*args)
    assert converged and calls  # the Newton path ran
    monkeypatch.setattr(_pstep, "MAX_NEWTON_PARAMS", -1)  # L-BFGS
    coef_ref, intercept_ref, converged_ref = _pstep.fit_smooth_linear_model(*args)
    assert converged_ref and len(calls) == 1
    coef, intercept = _identified(coef, intercept, loss, alpha)
    coef_ref, intercept_ref = _identified(coef_ref, intercept_ref, loss, alpha)
    scale = 1.0 + np.abs(coef_ref).max()
    np.testing.assert_allclose(coef, coef_ref, atol=1e-6 * scale)
    np.testing.assert_allclose(intercept, intercept_ref, atol=1e-6 * scale)


@pytest.mark.parametrize("loss", ["logistic", "multinomial"])
def test_hessian_matches_finite_differences_of_the_gradient(loss):
    X, Y, w, shape = _problem(loss, seed=3, n=50)
    Xt = _glm_newton._design(X, True)
    rng = np.random.default_rng(4)
    theta = rng.normal(size=(Xt.shape[1],) + shape[1:])
    args = (X, Y, w, 0.3, loss, shape, True)
    _, _, P = _glm_newton._objective(theta, *args)
    H = _glm_newton._hessian(Xt, w, P, 0.3, X.shape[1])
    eps = 1e-6
    columns = []
    for k in range(theta.size):  # class-major order, as the Hessian's
        step = np.zeros(theta.T.size)
        step[k] = eps
        step = step.reshape(theta.T.shape).T
        plus = _glm_newton._objective(theta + step, *args)[1]
        minus = _glm_newton._objective(theta - step, *args)[1]
        columns.append(((plus - minus) / (2 * eps)).T.ravel())
    np.testing.assert_allclose(H, np.array(columns).T, rtol=1e-5, atol=1e-6)


def test_flat_directions_keep_their_start():
    """A feature that is zero on every weighted sample (alpha=0) and the
    shift of every multinomial intercept (alpha>0) do not change the
    objective: the minimum-norm Newton steps leave them where they started."""
    X, y, w, shape = _problem("logistic", seed=5)
    X[:, 1] = 0.0
    coef, _, converged = _pstep.fit_smooth_linear_model(
        X, y, w, 0.0, "logistic", shape, True, coef0=np.array([0.0, 0.7, 0.0])
    )
    assert converged and coef[1] == pytest.approx(0.7, abs=1e-12)
    X, Y, w, shape = _problem("multinomial", seed=6)
    _, intercept, converged = _pstep.fit_smooth_linear_model(
        X, Y, w, 1.0, "multinomial", shape, True, intercept0=np.array([1.0, 2.0, 6.0])
    )
    assert converged and intercept.mean() == pytest.approx(3.0, abs=1e-9)


def test_many_parameters_go_to_lbfgs(monkeypatch):
    X, Y, w, shape = _problem("multinomial", seed=7, d=70, n_classes=3)
    assert np.prod(shape) + 3 > _glm_newton.MAX_NEWTON_PARAMS

    def fail(*args, **kwargs):
        raise AssertionError("Newton's method ran")

    monkeypatch.setattr(_pstep, "fit_glm_newton", fail)
    _, _, converged = _pstep.fit_smooth_linear_model(
        X, Y, w, 1.0, "multinomial", shape, True
    )
    assert converged


def test_lbfgs_continues_where_newton_stops(monkeypatch):
    """Newton's method that has not converged (here: one iteration allowed)
    hands its iterate to L-BFGS, which reaches the same minimizer."""
    X, y, w, shape = _problem("logistic", seed=8)
    args = (X, y, w, 0.5, "logistic", shape, True)
    coef_ref, intercept_ref, _ = _pstep.fit_smooth_linear_model(*args)
    monkeypatch.setattr(_pstep, "NEWTON_MAX_ITER", 1)
    newton = _pstep.fit_glm_newton
    stopped = []

    def one_iteration(*a, **k):
        result = newton(*a, **k)
        stopped.append(not result[2])
        return result

    monkeypatch.setattr(_pstep, "fit_glm_newton", one_iteration)
    coef, intercept, converged = _pstep.fit_smooth_linear_model(*args)
    assert stopped == [True] and converged
    np.testing.assert_allclose(coef, coef_ref, rtol=1e-6, atol=1e-8)
    assert intercept == pytest.approx(intercept_ref, rel=1e-6, abs=1e-8)
