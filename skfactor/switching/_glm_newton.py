r"""Newton's method for the P-step's classification losses.

A regime of :class:`~skfactor.switching.SwitchingClassifier` (and the gating
model) is a weighted logistic or multinomial regression with an optional
ridge penalty on the coefficients,

.. math::

    \min_{\theta} \; f(\theta) = \sum_i w_i \big(A(u_i) - y_i^\top u_i\big)
        + \alpha \|\beta\|_F^2,
    \qquad u_i = \beta^\top x_i + b, \quad \theta = (\beta, b),

with :math:`A(u) = \log(1 + e^u)` (logistic) or
:math:`\log \sum_c e^{u_c}` (multinomial, soft targets allowed). With
:math:`\tilde x_i = (x_i, 1)` and :math:`p_i = \nabla A(u_i)`, the gradient
is :math:`\sum_i w_i \tilde x_i (p_i - y_i)^\top` plus the penalty's and the
Hessian, in the class-major order of :math:`\theta`'s columns, has the
blocks

.. math::

    H_{ab} = \sum_i w_i \big(\delta_{ab} p_{ia} - p_{ia} p_{ib}\big)
        \tilde x_i \tilde x_i^\top + 2\alpha\,\delta_{ab} D,

:math:`D` the identity on the coefficients and 0 on the intercept
(logistic: one class, :math:`p(1 - p)`). The P-steps are small (a few
features, warm-started from the previous iteration), where L-BFGS spends
ten evaluations of :math:`f` where Newton spends three or four.

The Hessian can be singular: the multinomial model does not change when
the same vector is added to every class's parameters (with :math:`\alpha >
0`, to every intercept), and a feature can be constant over the weighted
samples. Since the gradient is orthogonal to those directions, the step is
the minimum-norm solution of the Newton system (eigendecomposition, small
eigenvalues dropped), which never moves along them: the result is the
minimizer closest to the start along the flat directions, as L-BFGS's is
(its steps are combinations of gradients).

Each iteration backtracks (Armijo) from the full step; a step whose
predicted decrease is below the rounding noise of :math:`f` is taken as it
is. The solver stops when the largest gradient entry is below ``gtol``.
"""

import numpy as np

from ._losses import weighted_loss_terms

#: Parameter counts up to which the P-step uses Newton's method (above,
#: forming and decomposing the Hessian costs more than L-BFGS saves).
MAX_NEWTON_PARAMS = 200
NEWTON_LOSSES = ("logistic", "multinomial")
_ARMIJO = 1e-4
_MAX_BACKTRACK = 30
# relative rounding noise of the objective, a sum of many terms
_NOISE = 1e-13
# eigenvalues below this fraction of the largest are treated as zero
_RCOND = 1e-12


def _design(X, fit_intercept):
    return np.column_stack([X, np.ones(X.shape[0])]) if fit_intercept else X


def _objective(theta, X, Y, w, alpha, loss, coef_shape, fit_intercept):
    """Value, gradient (shape of ``theta``) and probabilities at ``theta``
    (:func:`~._losses.weighted_loss_terms`).

    ``theta`` is (n_columns,) for logistic, (n_columns, n_classes) for
    multinomial: the coefficients, then the intercept row if
    ``fit_intercept``, so that its row-major order is the packing of
    ``weighted_loss_terms``.
    """
    value, grad, dU = weighted_loss_terms(
        theta.ravel(), X, Y, w, alpha, loss, coef_shape, fit_intercept
    )
    return value, grad.reshape(theta.shape), dU + Y


def _hessian(Xt, w, P, alpha, penalized):
    """The Hessian of :func:`_objective` in the class-major order."""
    n_columns = Xt.shape[1]
    if P.ndim == 1:
        H = Xt.T @ ((w * P * (1.0 - P))[:, None] * Xt)
        H[np.arange(penalized), np.arange(penalized)] += 2.0 * alpha
        return H
    n_classes = P.shape[1]
    size = n_columns * n_classes
    H = np.empty((size, size))
    for a in range(n_classes):
        rows = slice(a * n_columns, (a + 1) * n_columns)
        for b in range(a, n_classes):
            curvature = w * P[:, a] * ((a == b) - P[:, b])
            block = Xt.T @ (curvature[:, None] * Xt)
            H[rows, b * n_columns : (b + 1) * n_columns] = block
            H[b * n_columns : (b + 1) * n_columns, rows] = block.T
        diagonal = a * n_columns + np.arange(penalized)
        H[diagonal, diagonal] += 2.0 * alpha
    return H


def _minimum_norm_step(H, g):
    """``-H^+ g`` for a symmetric positive semidefinite ``H``."""
    eigenvalues, V = np.linalg.eigh(H)
    keep = eigenvalues > _RCOND * max(eigenvalues[-1], 0.0)
    if not keep.any():
        return -g
    Vk = V[:, keep]
    return -(Vk @ ((Vk.T @ g) / eigenvalues[keep]))


def fit_glm_newton(
    X, Y, w, alpha, loss, coef_shape, fit_intercept, coef0, intercept0, gtol, max_iter
):
    """Weighted logistic or multinomial regression by Newton's method.

    Same problem and arguments as
    :func:`~skfactor.switching._pstep.fit_smooth_linear_model` (samples of
    zero weight already removed, ``coef0`` and ``intercept0`` given).

    Returns
    -------
    coef, intercept, converged
    """
    Xt = _design(X, fit_intercept)
    n_features = X.shape[1]
    rows = [np.asarray(coef0, dtype=float).reshape(n_features, -1)]
    if fit_intercept:
        rows.append(np.asarray(intercept0, dtype=float).reshape(1, -1))
    theta = np.vstack(rows)  # (n_columns, n_classes or 1)
    if loss == "logistic":
        theta = theta[:, 0]
    args = (X, Y, w, alpha, loss, coef_shape, fit_intercept)
    value, grad, P = _objective(theta, *args)
    converged = False
    for _ in range(max_iter):
        if np.max(np.abs(grad)) <= gtol:
            converged = True
            break
        H = _hessian(Xt, w, P, alpha, n_features)
        # class-major order: column a of theta is the a-th block
        g = grad.T.ravel()
        step = _minimum_norm_step(H, g)
        direction = step.reshape(theta.T.shape).T
        slope = float(g @ step)  # < 0
        noise = _NOISE * max(abs(value), 1.0)
        t = 1.0
        for _ in range(_MAX_BACKTRACK):
            trial = theta + t * direction
            new = _objective(trial, *args)
            if new[0] <= value + _ARMIJO * t * slope or -slope <= noise:
                break
            t *= 0.5
        else:
            break  # no decrease along the Newton direction: at rounding level
        theta = trial
        value, grad, P = new
    else:
        converged = np.max(np.abs(grad)) <= gtol
    if loss == "logistic":
        theta = theta[:, None]
    coef = theta[:n_features].reshape(coef_shape)
    if fit_intercept:
        intercept = theta[n_features]
        intercept = float(intercept[0]) if len(coef_shape) == 1 else intercept.copy()
    else:
        intercept = 0.0 if len(coef_shape) == 1 else np.zeros(theta.shape[1])
    return coef, intercept, bool(converged)
