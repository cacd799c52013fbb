"""Per-sample losses and parameter penalties of the switching models.

Every built-in loss is written twice, once per backend, side by side: as a
NumPy function (used by the fast paths, the F-step and the objective) and as
a cvxpy expression (used by the general P-step). ``tests/test_switching_losses.py``
checks that the two agree. The losses act on the linear predictor
``U = X @ coef + intercept``; ``Y`` is the target in the encoding of the
loss (real values for regression, 0/1 for ``"logistic"``, one-hot or soft
class probabilities for ``"multinomial"``).

Conventions (they follow the poster of Zhu et al. (2025)):

- ``squared``: :math:`\\|u - y\\|_2^2` (Frobenius for vector targets);
- ``absolute``: :math:`\\|u - y\\|_1`;
- ``huber``: :math:`\\sum_j h_\\delta(u_j - y_j)` with
  :math:`h_\\delta(r) = r^2` for :math:`|r| \\le \\delta` and
  :math:`2\\delta |r| - \\delta^2` otherwise (cvxpy's ``huber``);
- ``logistic``: :math:`\\log(1 + e^u) - y u`, :math:`y \\in \\{0, 1\\}`;
- ``multinomial``: :math:`\\log \\sum_c e^{u_c} - y^T u`.

Penalties of one regime's coefficients (intercepts are never penalized):
``l1`` :math:`\\|\\beta\\|_1`, ``l2`` :math:`\\|\\beta\\|_2^2`, ``group``
:math:`\\|\\beta\\|_2` (Frobenius norm for matrix coefficients).
"""

import cvxpy as cp
import numpy as np
from scipy.special import expit

from ..utils._penalties import group_norms, penalty_values

REGRESSION_LOSSES = ("squared", "absolute", "huber")
CLASSIFICATION_LOSSES = ("logistic", "multinomial")
PENALTIES = ("l1", "l2", "group")


def linear_predictor(X, coef, intercept):
    """``X @ coef + intercept`` for NumPy arrays and cvxpy expressions alike."""
    return X @ coef + intercept


def _sum_outputs(values):
    """Sum a (n_samples, n_outputs) NumPy array over outputs; keep 1-D as is."""
    return values if values.ndim == 1 else values.sum(axis=1)


def _cp_sum_outputs(expr):
    return expr if expr.ndim == 1 else cp.sum(expr, axis=1)


def log_normalizer(U):
    """Row-wise log-sum-exp of ``U`` and the softmax, computed together.

    The softmax is the gradient of the log-sum-exp, so the P-step needs
    both at every evaluation; one shifted exponential gives both. (SciPy's
    ``logsumexp`` and ``softmax`` cost ten times more on the small arrays of a
    P-step, through their array-API dispatch.) Rows of ``U`` must be finite.

    Returns
    -------
    lse : ndarray of shape (n_samples,)
    proba : ndarray of shape (n_samples, n_classes)
    """
    shift = U.max(axis=1, keepdims=True)
    proba = np.exp(U - shift)
    total = proba.sum(axis=1, keepdims=True)
    proba /= total
    return np.log(total[:, 0]) + shift[:, 0], proba


def huber(residual, epsilon):
    """Elementwise Huber function :math:`h_\\epsilon` (NumPy)."""
    a = np.abs(residual)
    return np.where(a <= epsilon, residual**2, 2.0 * epsilon * a - epsilon**2)


def loss_values(loss, U, Y, epsilon=1.0):
    """Per-sample loss of the linear predictor ``U`` (NumPy).

    Parameters
    ----------
    loss : str
        One of ``REGRESSION_LOSSES + CLASSIFICATION_LOSSES``.
    U : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Linear predictor.
    Y : ndarray, same shape as ``U``
        Target in the encoding of the loss.
    epsilon : float
        Threshold of the Huber loss.

    Returns
    -------
    values : ndarray of shape (n_samples,)
    """
    if loss == "squared":
        return _sum_outputs((U - Y) ** 2)
    if loss == "absolute":
        return _sum_outputs(np.abs(U - Y))
    if loss == "huber":
        return _sum_outputs(huber(U - Y, epsilon))
    if loss == "logistic":
        return np.logaddexp(0.0, U) - Y * U
    if loss == "multinomial":
        return log_normalizer(U)[0] - np.sum(Y * U, axis=1)
    raise ValueError(f"Unknown loss {loss!r}.")


def loss_expression(loss, U, Y, epsilon=1.0):
    """Per-sample loss of the linear predictor ``U`` as a cvxpy expression.

    Same conventions and arguments as :func:`loss_values`, with ``U`` a
    cvxpy expression; returns an expression of shape (n_samples,).
    """
    if loss == "squared":
        return _cp_sum_outputs(cp.square(U - Y))
    if loss == "absolute":
        return _cp_sum_outputs(cp.abs(U - Y))
    if loss == "huber":
        return _cp_sum_outputs(cp.huber(U - Y, epsilon))
    if loss == "logistic":
        return cp.logistic(U) - cp.multiply(Y, U)
    if loss == "multinomial":
        return cp.log_sum_exp(U, axis=1) - cp.sum(cp.multiply(Y, U), axis=1)
    raise ValueError(f"Unknown loss {loss!r}.")


def loss_gradient(loss, U, Y, epsilon=1.0):
    """Gradient of :func:`loss_values` with respect to ``U`` (smooth losses).

    For ``"multinomial"`` the rows of ``Y`` must sum to one (one-hot or soft
    targets).
    """
    if loss == "squared":
        return 2.0 * (U - Y)
    if loss == "huber":
        residual = U - Y
        return 2.0 * np.clip(residual, -epsilon, epsilon)
    if loss == "logistic":
        return expit(U) - Y
    if loss == "multinomial":
        return log_normalizer(U)[1] - Y
    raise ValueError(f"The {loss!r} loss is not differentiable.")


def loss_values_and_gradient(loss, U, Y, epsilon=1.0):
    """:func:`loss_values` and :func:`loss_gradient` in one pass over ``U``."""
    if loss == "multinomial":
        lse, proba = log_normalizer(U)
        return lse - np.sum(Y * U, axis=1), proba - Y
    return loss_values(loss, U, Y, epsilon), loss_gradient(loss, U, Y, epsilon)


def weighted_loss_terms(
    params, X, Y, w, alpha, loss, coef_shape, fit_intercept, epsilon=1.0
):
    r"""Value and gradient of :math:`\sum_i w_i \ell(u_i, y_i) + \alpha\|\beta\|^2`,
    and the loss's derivative in ``u`` (unweighted).

    ``params`` packs the coefficients (``coef_shape``, row-major) followed,
    if ``fit_intercept``, by the intercept (one value per output column);
    the gradient is packed the same way. ``u = X @ coef + intercept``.
    """
    n_coef = int(np.prod(coef_shape))
    coef = params[:n_coef].reshape(coef_shape)
    intercept = params[n_coef:] if fit_intercept else 0.0
    if fit_intercept and len(coef_shape) == 1:
        intercept = intercept[0]
    U = linear_predictor(X, coef, intercept)
    values, dU = loss_values_and_gradient(loss, U, Y, epsilon)
    value = float(w @ values) + alpha * float(np.sum(coef**2))
    weighted = w[:, None] * dU if dU.ndim == 2 else w * dU
    grad = (X.T @ weighted + 2.0 * alpha * coef).ravel()
    if fit_intercept:
        grad = np.concatenate([grad, np.atleast_1d(weighted.sum(axis=0))])
    return value, grad, dU


def class_probabilities(loss, U):
    """Class probabilities of a classification loss, shape (n_samples, n_classes)."""
    if loss == "logistic":
        p = expit(U)
        return np.column_stack([1.0 - p, p])
    if loss == "multinomial":
        return log_normalizer(U)[1]
    raise ValueError(f"Unknown classification loss {loss!r}.")


def coef_penalty_value(penalty, coef):
    """Penalty of one regime's coefficients (NumPy)."""
    coef = np.asarray(coef)
    if penalty is None:
        return 0.0
    if penalty in ("l1", "l2"):
        return float(penalty_values(coef.reshape(-1, 1), penalty)[0])
    if penalty == "group":
        return float(group_norms(coef, None).sum())
    raise ValueError(f"Unknown penalty {penalty!r}.")


def cvxpy_penalty(penalty, coef):
    """Penalty of one regime's coefficient variable as a cvxpy expression."""
    if penalty is None:
        return cp.Constant(0.0)
    flat = cp.vec(coef, order="F") if coef.ndim > 1 else coef
    if penalty == "l1":
        return cp.norm1(flat)
    if penalty == "l2":
        return cp.sum_squares(flat)
    if penalty == "group":
        return cp.norm(flat, 2)
    raise ValueError(f"Unknown penalty {penalty!r}.")


class RegimeLoss:
    """Per-sample loss of one regime's parameters, built-in or user-defined.

    The bridge between the estimators and the solvers: it knows the shape of
    a regime's coefficients and intercept and evaluates the per-sample loss
    numerically (:meth:`values`) or as a cvxpy expression
    (:meth:`expression`).

    Parameters
    ----------
    loss : str or callable
        A built-in loss name, or ``loss(X, y, coef, intercept)`` returning a
        cvxpy expression of shape (n_samples,).
    coef_shape : tuple of int
        Shape of one regime's coefficients.
    intercept_shape : tuple of int
        Shape of one regime's intercept.
    epsilon : float, default=1.0
        Threshold of the Huber loss.
    """

    def __init__(self, loss, coef_shape, intercept_shape, epsilon=1.0):
        self.loss = loss
        self.coef_shape = tuple(coef_shape)
        self.intercept_shape = tuple(intercept_shape)
        self.epsilon = epsilon

    @property
    def is_callable(self):
        return callable(self.loss)

    def expression(self, X, Y, coef, intercept):
        """Per-sample losses as a cvxpy expression of shape (n_samples,)."""
        if self.is_callable:
            return self.loss(X, Y, coef, intercept)
        return loss_expression(
            self.loss, linear_predictor(X, coef, intercept), Y, self.epsilon
        )

    def values(self, X, Y, coef, intercept):
        """Per-sample losses at fixed parameters, shape (n_samples,)."""
        if self.is_callable:
            expr = self.loss(X, Y, cp.Constant(coef), cp.Constant(intercept))
            return np.asarray(expr.value, dtype=float).reshape(X.shape[0])
        U = linear_predictor(X, coef, intercept)
        return loss_values(self.loss, U, Y, self.epsilon)

    def loss_matrix(self, X, Y, coefs, intercepts):
        """Losses of every sample under every regime, shape (n_samples, K)."""
        return np.column_stack(
            [self.values(X, Y, c, b) for c, b in zip(coefs, intercepts)]
        )


def cvxpy_loss(func=None, *, coef_shape=None, intercept_shape=()):
    """Declare the shapes of the parameters of a callable loss.

    A callable ``loss(X, y, coef, intercept)`` receives one regime's
    coefficient variable, by default of the shape the built-in losses use
    (``(n_features,)``, or ``(n_features, n_outputs)`` for a 2-D regression
    target) and a scalar intercept. Decorate the callable to declare other
    shapes, e.g. when the coefficients are shared across the rows of a
    per-sample design matrix flattened into ``X`` (Zhu et al.'s Q-learning
    model). The function gets the attributes ``coef_shape`` and
    ``intercept_shape`` and is returned unchanged otherwise.

    Parameters
    ----------
    func : callable, default=None
        The loss; omit it to use ``cvxpy_loss(...)`` as a decorator factory.
    coef_shape : int or tuple of int, default=None
        Shape of one regime's coefficients; None keeps the default.
    intercept_shape : int or tuple of int, default=()
        Shape of one regime's intercept (``()`` for a scalar).

    Returns
    -------
    func : callable
        ``func`` with the declared shapes (or a decorator).

    Examples
    --------
    >>> import cvxpy as cp
    >>> import numpy as np
    >>> from skfactor.switching import cvxpy_loss
    >>> @cvxpy_loss(coef_shape=2)
    ... def shared_softmax(X, y, coef, intercept):
    ...     utilities = cp.vstack([X[:, :2] @ coef, X[:, 2:] @ coef]).T
    ...     chosen = cp.sum(cp.multiply(np.eye(2)[y], utilities), axis=1)
    ...     return cp.log_sum_exp(utilities, axis=1) - chosen
    >>> shared_softmax.coef_shape
    (2,)
    """

    def as_shape(value):
        shape = tuple(int(v) for v in np.atleast_1d(value))
        if any(v < 1 for v in shape):
            raise ValueError(f"Shapes must have positive entries; got {value!r}.")
        return shape

    def decorate(f):
        if not callable(f):
            raise TypeError(f"cvxpy_loss decorates a callable; got {type(f).__name__}.")
        f.coef_shape = None if coef_shape is None else as_shape(coef_shape)
        f.intercept_shape = as_shape(intercept_shape)
        return f

    return decorate if func is None else decorate(func)
