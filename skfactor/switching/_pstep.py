r"""P-step of the block coordinate descent: regime parameters given the weights.

Given latent factors :math:`Z` (``Z[i, k]`` is the weight of sample ``i`` in
regime ``k``), the P-problem of Zhu et al. (2025) plus the parameter penalty separates
over regimes into :math:`K` independent weighted fits

.. math::

    \theta_k = \operatorname*{argmin}_{\theta \in \mathcal{C}_k}
        \sum_{i=1}^m z_{ik} \, \ell_i(\theta) + \alpha \, P(\beta),
    \qquad \theta = (\beta, b),

with :math:`\ell_i` the per-sample loss, :math:`P` the penalty of the
coefficients :math:`\beta` (the intercept :math:`b` is not penalized) and
:math:`\mathcal{C}_k` the constraint set of regime :math:`k`. Three solvers,
chosen by :func:`make_pstep`:

- :class:`ClosedFormPStep`: squared loss with an l2 penalty (or none) and no
  constraints is a weighted ridge regression, solved exactly by its normal
  equations;
- :class:`SmoothPStep`: smooth losses (logistic, multinomial, Huber) with an
  l2 penalty (or none) and no constraints: the classification losses by
  Newton's method (:mod:`~._glm_newton`, small problems), the others by
  L-BFGS with the analytic gradient;
- :class:`CvxpyPStep`: everything else (any convex loss, penalty and
  constraint, including user callables), as :math:`K` cvxpy problems built
  once per fit with the weights as a nonnegative :class:`cvxpy.Parameter`
  (DPP), re-solved at every iteration.

The fast paths are tested against the cvxpy path in
``tests/test_switching_solvers.py``.
"""

import inspect
import warnings

import cvxpy as cp
import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from ._weighted_ridge import (
    PRODUCTS_BUDGET,
    augmented_design,
    column_products,
    ridge_from_moments,
    weighted_moments,
)
from ._glm_newton import MAX_NEWTON_PARAMS, NEWTON_LOSSES, fit_glm_newton
from ._losses import (
    cvxpy_penalty,
    weighted_loss_terms,
    coef_penalty_value,
)

CONSTRAINT_NAMES = ("nonnegative", "unit_ball", "simplex")
SMOOTH_LOSSES = ("squared", "huber", "logistic", "multinomial")
# Newton iterations of a classification P-step (warm-started, it takes a
# few; separable classes without a penalty never converge).
NEWTON_MAX_ITER = 100
# Conic solvers tried, in this order, after the one asked for.
FALLBACK_SOLVERS = ("CLARABEL", "ECOS", "SCS")


# --------------------------------------------------------------------------
# Penalty of the coefficients, built-in or callable
# --------------------------------------------------------------------------


def penalty_term(penalty, alpha, coef):
    """Numerical value of ``alpha * P(coef)`` for a built-in or callable penalty."""
    if alpha == 0 or penalty is None:
        return 0.0
    if callable(penalty):
        return alpha * float(penalty(cp.Constant(coef)).value)
    return alpha * coef_penalty_value(penalty, coef)


# --------------------------------------------------------------------------
# Smooth losses by Newton's method or L-BFGS
# --------------------------------------------------------------------------


def smooth_objective(
    params, X, Y, w, alpha, loss, coef_shape, fit_intercept, epsilon=1.0
):
    r"""Value and gradient of :math:`\sum_i w_i \ell(u_i, y_i) + \alpha\|\beta\|^2`.

    ``params`` packs the coefficients (``coef_shape``) followed, if
    ``fit_intercept``, by the intercept (one value per output column).
    ``u = X @ coef + intercept``. The objective of L-BFGS; see
    :func:`~._losses.weighted_loss_terms`.
    """
    value, grad, _ = weighted_loss_terms(
        params, X, Y, w, alpha, loss, coef_shape, fit_intercept, epsilon
    )
    return value, grad


def fit_smooth_linear_model(
    X,
    Y,
    w,
    alpha,
    loss,
    coef_shape,
    fit_intercept,
    *,
    coef0=None,
    intercept0=None,
    epsilon=1.0,
    max_iter=1000,
):
    """Weighted smooth loss plus l2 penalty: ``coef, intercept, converged``.

    Logistic and multinomial losses with at most
    :data:`~._glm_newton.MAX_NEWTON_PARAMS` parameters by Newton's method
    (:func:`~._glm_newton.fit_glm_newton`, ``max_iter`` capped at 100),
    continued by L-BFGS from its last iterate if it does not converge;
    anything else by L-BFGS. The gradient tolerance scales with the total
    weight, so the accuracy relative to the size of the objective does not
    depend on the number of samples. ``Y`` for ``"multinomial"`` may hold
    soft targets (rows summing to one), which is how the gating model is
    fitted.
    """
    keep = w > 0
    X, Y, w = X[keep], Y[keep], w[keep]
    n_intercept = int(np.prod(coef_shape[1:])) if len(coef_shape) > 1 else 1
    coef0 = np.zeros(coef_shape) if coef0 is None else np.asarray(coef0, dtype=float)
    x0 = [coef0.ravel()]
    if fit_intercept:
        intercept0 = np.zeros(n_intercept) if intercept0 is None else intercept0
        x0.append(np.atleast_1d(np.asarray(intercept0, dtype=float)).ravel())
    scale = max(float(w.sum()), 1.0)
    n_params = sum(part.size for part in x0)
    if loss in NEWTON_LOSSES and n_params <= MAX_NEWTON_PARAMS:
        coef, intercept, converged = fit_glm_newton(
            X,
            Y,
            w,
            alpha,
            loss,
            coef_shape,
            fit_intercept,
            coef0,
            intercept0,
            gtol=1e-8 * scale,
            max_iter=min(max_iter, NEWTON_MAX_ITER),
        )
        if converged:
            return coef, intercept, True
        # Newton stalls where the Hessian's spread exceeds what the
        # eigendecomposition resolves (features scaled 1e-3 to 1e3, classes
        # nearly separable): L-BFGS goes on from where it stopped
        x0 = [np.ravel(coef)]
        if fit_intercept:
            x0.append(np.atleast_1d(np.asarray(intercept, dtype=float)).ravel())
    result = minimize(
        smooth_objective,
        np.concatenate(x0),
        args=(X, Y, w, alpha, loss, coef_shape, fit_intercept, epsilon),
        jac=True,
        method="L-BFGS-B",
        options={
            "maxiter": max_iter,
            "gtol": 1e-8 * scale,
            "ftol": 1e-14,
            "maxcor": 20,
        },
    )
    n_coef = int(np.prod(coef_shape))
    coef = result.x[:n_coef].reshape(coef_shape)
    if fit_intercept:
        intercept = result.x[n_coef:]
        intercept = intercept[0] if len(coef_shape) == 1 else intercept
    else:
        intercept = 0.0 if len(coef_shape) == 1 else np.zeros(n_intercept)
    return coef, intercept, bool(result.success)


# --------------------------------------------------------------------------
# The three P-step solvers
# --------------------------------------------------------------------------


class ClosedFormPStep:
    """Weighted ridge regression per regime (squared loss, l2 or no penalty)."""

    def __init__(self, X, Y, regime_loss, n_regimes, fit_intercept, alpha):
        # With an intercept the model is invariant to shifts of X and Y:
        # centering once here keeps the moments well conditioned, and the
        # shift goes back into the intercepts.
        self.x_shift = X.mean(axis=0) if fit_intercept else 0.0
        self.y_shift = Y.mean(axis=0) if fit_intercept else 0.0
        self.A = augmented_design(
            X - self.x_shift if fit_intercept else X,
            Y - self.y_shift if fit_intercept else Y,
        )
        d = self.A.shape[1]
        small = X.shape[0] * d * (d + 1) // 2 <= PRODUCTS_BUDGET
        self.products = column_products(self.A) if small else None
        self.n_features = X.shape[1]
        self.one_output = Y.ndim == 1
        self.fit_intercept = fit_intercept
        self.alpha = alpha

    def solve(self, Z, coefs, intercepts, active):
        """Update ``coefs[k], intercepts[k]`` in place for the active regimes."""
        moments = weighted_moments(self.A, Z, self.products)
        for k in np.flatnonzero(active):
            coef, intercept = ridge_from_moments(
                moments[k], self.n_features, self.alpha, self.fit_intercept
            )
            if self.fit_intercept:
                intercept = intercept + self.y_shift - self.x_shift @ coef
            if self.one_output:
                coef, intercept = coef[:, 0], float(intercept[0])
            coefs[k], intercepts[k] = coef, intercept


class SmoothPStep:
    """Smooth loss with an l2 or no penalty per regime
    (:func:`fit_smooth_linear_model`)."""

    def __init__(self, X, Y, regime_loss, n_regimes, fit_intercept, alpha):
        self.X, self.Y = X, Y
        self.regime_loss = regime_loss
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        # (category, message) pairs for the caller to report; warnings are
        # not raised here because runs may execute in joblib workers.
        self.messages = []

    def solve(self, Z, coefs, intercepts, active):
        for k in np.flatnonzero(active):
            coef, intercept, converged = fit_smooth_linear_model(
                self.X,
                self.Y,
                Z[:, k],
                self.alpha,
                self.regime_loss.loss,
                self.regime_loss.coef_shape,
                self.fit_intercept,
                coef0=coefs[k],
                intercept0=intercepts[k],
                epsilon=self.regime_loss.epsilon,
            )
            message = (
                f"P-step: the solver did not converge for regime {k}. With "
                "alpha=0 the weighted loss may have no minimizer (e.g. "
                "separable classes); set alpha > 0."
            )
            if not converged and (ConvergenceWarning, message) not in self.messages:
                self.messages.append((ConvergenceWarning, message))
            coefs[k], intercepts[k] = coef, intercept


def builtin_constraints(name, coef):
    """Constraints named by a string: ``nonnegative``, ``unit_ball``, ``simplex``.

    For matrix coefficients ``simplex`` applies to each column.
    """
    if name == "nonnegative":
        return [coef >= 0]
    if name == "unit_ball":
        flat = cp.vec(coef, order="F") if coef.ndim > 1 else coef
        return [cp.norm(flat, 2) <= 1]
    if name == "simplex":
        return [coef >= 0, cp.sum(coef, axis=0) == 1]
    raise ValueError(f"Unknown constraints {name!r}; use one of {CONSTRAINT_NAMES}.")


def _call_constraints(constraints, k, coef, intercept):
    """Call a constraints callable with (k, coef) or (k, coef, intercept)."""
    try:
        inspect.signature(constraints).bind(k, coef, intercept)
        takes_intercept = True
    except TypeError:
        takes_intercept = False
    except ValueError:  # no signature available (some builtins)
        takes_intercept = False
    args = (k, coef, intercept) if takes_intercept else (k, coef)
    return constraints(*args)


def regime_constraints(constraints, k, coef, intercept):
    """Validated list of cvxpy constraints of regime ``k``."""
    if constraints is None:
        return []
    if isinstance(constraints, str):
        return builtin_constraints(constraints, coef)
    try:
        result = _call_constraints(constraints, k, coef, intercept)
    except Exception as exc:
        raise ValueError(
            f"The constraints callable failed for regime {k} (called with the "
            f"coefficient variable of shape {coef.shape}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if result is None:
        return []
    if isinstance(result, cp.constraints.constraint.Constraint):
        result = [result]
    if not isinstance(result, (list, tuple)):
        raise TypeError(
            "The constraints callable must return a list of cvxpy constraints "
            f"(or None); for regime {k} it returned {type(result).__name__}."
        )
    for c in result:
        if not isinstance(c, cp.constraints.constraint.Constraint):
            raise TypeError(
                "The constraints callable must return cvxpy constraints; for "
                f"regime {k} it returned an element of type {type(c).__name__} "
                f"({c!r}). Did a comparison involve only constants?"
            )
        if not c.is_dcp():
            raise ValueError(
                f"The constraints callable returned a non-convex constraint for "
                f"regime {k}: {c} does not follow cvxpy's DCP rules."
            )
    return list(result)


def checked_loss_expression(regime_loss, X, Y, coef, intercept):
    """The per-sample loss expression, checked for type, shape and convexity."""
    m = X.shape[0]
    try:
        expr = regime_loss.expression(X, Y, coef, intercept)
    except Exception as exc:
        if not regime_loss.is_callable:
            raise
        raise ValueError(
            f"The loss callable failed when called with X of shape {X.shape}, a "
            f"coef variable of shape {coef.shape} and an intercept of shape "
            f"{intercept.shape}: {type(exc).__name__}: {exc}. If the "
            "coefficients need another shape, declare it with "
            "skfactor.switching.cvxpy_loss(coef_shape=...)."
        ) from exc
    if not isinstance(expr, cp.Expression):
        raise TypeError(
            "The loss callable must return a cvxpy Expression of shape "
            f"(n_samples,) = ({m},); it returned {type(expr).__name__}."
        )
    if expr.shape != (m,):
        raise ValueError(
            f"The loss callable returned an expression of shape {expr.shape}; "
            f"expected ({m},), one loss per sample."
        )
    if not expr.is_convex():
        raise ValueError(
            "The loss callable returned an expression that is not convex under "
            f"cvxpy's DCP rules (curvature {expr.curvature}): {expr}."
        )
    return expr


def checked_penalty_expression(penalty, coef):
    """The penalty expression of one regime, checked (for callables)."""
    if not callable(penalty):
        return cvxpy_penalty(penalty, coef)
    try:
        expr = penalty(coef)
    except Exception as exc:
        raise ValueError(
            f"The penalty callable failed on a coef variable of shape "
            f"{coef.shape}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(expr, cp.Expression) or expr.size != 1:
        raise TypeError(
            "The penalty callable must return a scalar cvxpy Expression; it "
            f"returned {type(expr).__name__} of shape {getattr(expr, 'shape', '?')}."
        )
    if not expr.is_convex():
        raise ValueError(
            "The penalty callable returned an expression that is not convex "
            f"under cvxpy's DCP rules (curvature {expr.curvature}): {expr}."
        )
    return cp.sum(expr)


class CvxpyPStep:
    """General P-step: one cvxpy problem per regime, built once, re-solved.

    Parameters
    ----------
    X, Y : ndarray
        Training data (``Y`` in the encoding of the loss).
    regime_loss : RegimeLoss
    n_regimes : int
    fit_intercept : bool
    alpha : float
    penalty : None, str or callable
    constraints : None, str or callable
    solver : str or None
        cvxpy solver tried first; the others of ``FALLBACK_SOLVERS`` that
        are installed are tried when it fails.
    """

    def __init__(
        self,
        X,
        Y,
        regime_loss,
        n_regimes,
        fit_intercept,
        alpha,
        penalty=None,
        constraints=None,
        solver=None,
    ):
        m = X.shape[0]
        self.problems, self.coef_vars, self.intercept_vars = [], [], []
        self.weights = []
        for k in range(n_regimes):
            coef = cp.Variable(regime_loss.coef_shape, name=f"coef_{k}")
            if fit_intercept:
                intercept = cp.Variable(
                    regime_loss.intercept_shape, name=f"intercept_{k}"
                )
            else:
                intercept = cp.Constant(np.zeros(regime_loss.intercept_shape))
            w = cp.Parameter(m, nonneg=True, name=f"z_{k}")
            losses = checked_loss_expression(regime_loss, X, Y, coef, intercept)
            objective = cp.sum(cp.multiply(w, losses))
            if alpha > 0 and penalty is not None:
                penalty_expr = checked_penalty_expression(penalty, coef)
                objective = objective + alpha * penalty_expr
            problem = cp.Problem(
                cp.Minimize(objective),
                regime_constraints(constraints, k, coef, intercept),
            )
            self.problems.append(problem)
            self.coef_vars.append(coef)
            self.intercept_vars.append(intercept if fit_intercept else None)
            self.weights.append(w)
        self.fit_intercept = fit_intercept
        self.intercept_shape = regime_loss.intercept_shape
        self.inaccurate = []  # (regime, solver) of the last solve() call
        installed = set(cp.installed_solvers())
        first = [solver] if solver is not None else []
        self.solvers = first + [
            s for s in FALLBACK_SOLVERS if s in installed and s != solver
        ]

    def _solve_one(self, k):
        problem = self.problems[k]
        failures = []
        for solver in self.solvers:
            try:
                with warnings.catch_warnings():
                    # cvxpy warns on solutions at reduced accuracy; run_bcd
                    # reports those of the last P-step when verbose.
                    warnings.filterwarnings("ignore", "Solution may be inaccurate")
                    warnings.filterwarnings("ignore", ".*don't support CPP backend")
                    problem.solve(solver=solver)
            except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
                # Some solver interfaces raise plain ValueErrors on numerical
                # trouble (e.g. SCS allocation failures): try the next one.
                failures.append(f"{solver}: {exc}".strip())
                continue
            status = problem.status
            if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
                if self.coef_vars[k].value is not None:
                    if status == cp.OPTIMAL_INACCURATE:
                        self.inaccurate.append((k, solver))
                    return
            elif status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
                raise ValueError(
                    f"The constraints of regime {k} are infeasible (P-step, cvxpy "
                    f"solver {solver} reports {status!r}). Check the "
                    "`constraints` parameter."
                )
            elif status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
                raise ValueError(
                    f"The P-step problem of regime {k} is unbounded below (cvxpy "
                    f"solver {solver} reports {status!r}): the loss plus penalty "
                    "has no minimizer. Use a loss bounded below, alpha > 0 or "
                    "constraints."
                )
            failures.append(f"{solver}: status {status!r}")
        raise ValueError(
            f"P-step of regime {k}: no cvxpy solver succeeded ("
            + "; ".join(failures)
            + "). Try another `solver` or rescale the data."
        )

    def solve(self, Z, coefs, intercepts, active):
        self.inaccurate = []
        for k in np.flatnonzero(active):
            # Negligible weights (from smoothing or posteriors) only hurt the
            # conditioning; negligible relative to the largest, since the
            # Markov model scales the weights by the inverse noise variance.
            w = np.ascontiguousarray(Z[:, k])
            self.weights[k].value = np.where(w < 1e-9 * w.max(), 0.0, w)
            self._solve_one(k)
            coefs[k] = np.asarray(self.coef_vars[k].value, dtype=float)
            if self.fit_intercept:
                value = np.asarray(self.intercept_vars[k].value, dtype=float)
                intercepts[k] = value.reshape(self.intercept_shape)


def use_fast_path(regime_loss, penalty, alpha, constraints, solver):
    """The exact fast path of a P-problem: ``"closed_form"``, ``"smooth"`` or None."""
    if solver != "auto" or regime_loss.is_callable or constraints is not None:
        return None
    if not (alpha == 0 or penalty in (None, "l2")):
        return None
    if regime_loss.loss == "squared":
        return "closed_form"
    if regime_loss.loss in SMOOTH_LOSSES:
        return "smooth"
    return None


def make_pstep(
    X,
    Y,
    regime_loss,
    n_regimes,
    *,
    fit_intercept,
    alpha,
    penalty,
    constraints,
    solver,
):
    """The P-step solver for these settings, fast path when the maths allows.

    ``solver`` is ``"auto"`` (fast path if any, else cvxpy's default order),
    ``"cvxpy"`` (always cvxpy) or a cvxpy solver name (always cvxpy, that
    solver first).
    """
    path = use_fast_path(regime_loss, penalty, alpha, constraints, solver)
    effective_alpha = alpha if penalty is not None else 0.0
    if path == "closed_form":
        Solver = ClosedFormPStep
    elif path == "smooth":
        Solver = SmoothPStep
    if path is not None:
        return Solver(X, Y, regime_loss, n_regimes, fit_intercept, effective_alpha)
    cvxpy_solver = None if solver in ("auto", "cvxpy") else solver
    return CvxpyPStep(
        X,
        Y,
        regime_loss,
        n_regimes,
        fit_intercept,
        alpha,
        penalty=penalty,
        constraints=constraints,
        solver=cvxpy_solver,
    )
