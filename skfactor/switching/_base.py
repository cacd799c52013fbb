"""What the switching estimators share: validation, restarts, fitted attributes.

The estimators are thin: they validate the input, encode the target for
their loss, run :func:`~._bcd.run_bcd` ``n_init`` times (in parallel
through joblib) and keep the run with the smallest objective.
"""

import warnings
from numbers import Integral, Real

import cvxpy as cp
import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils.validation import check_finite_scale

from ._bcd import run_bcd, initial_assignments, transition_counts_matrix
from ._fstep import fstep
from ._gating import fit_gating, gating_proba
from ._hmm import (
    HMM_LOSSES,
    emission_scale,
    forward_backward,
    hmm_transition_matrix,
    stationary_distribution,
)
from ._losses import PENALTIES, RegimeLoss
from ._pstep import CONSTRAINT_NAMES, make_pstep

# Parameter descriptions shared by SwitchingRegression and SwitchingClassifier,
# filled in their docstrings by ``fill_doc(fragments=PARAMETER_DOCS)``.
PARAMETER_DOCS = {
    "n_regimes": """\
n_regimes : int, default=2
    Number of regimes :math:`K` (discrete latent factors). Must not exceed
    the number of samples.""",
    "constraints": """\
constraints : {"nonnegative", "unit_ball", "simplex"} or callable, default=None
    Convex constraints :math:`\\theta_k \\in \\mathcal{C}_k` on the
    coefficients: :math:`\\beta \\ge 0`, :math:`\\|\\beta\\|_2 \\le 1`, or
    :math:`\\beta \\ge 0, \\mathbf{1}^T \\beta = 1` (per column for matrix
    coefficients). A callable ``constraints(k, coef)`` or
    ``constraints(k, coef, intercept)`` receives the regime index and its
    cvxpy variables and returns a list of cvxpy constraints, so regimes may
    be constrained differently. Constraints select the cvxpy P-step.""",
    "penalty": """\
penalty : {"l1", "l2", "group"}, callable or None, default="l2"
    Penalty :math:`P` of each regime's coefficients (never the intercept):
    :math:`\\|\\beta\\|_1`, :math:`\\|\\beta\\|_2^2`, or the group norm
    :math:`\\|\\beta\\|_2` (Frobenius for matrix coefficients), which can
    switch a whole regime off. A callable ``penalty(coef)`` returns a convex
    scalar cvxpy expression. Multiplied by ``alpha``.""",
    "alpha": """\
alpha : float, default={default}
    Weight :math:`\\alpha \\ge 0` of the penalty. The losses are summed (not
    averaged) over samples, as in the seed.""",
    "smoothing": """\
smoothing : float, default=0.0
    Weight :math:`\\lambda \\ge 0` of the temporal smoothing
    :math:`\\sum_t D_{\\mathrm{KL}}(z_t, z_{t+1})` of the latent factors;
    the rows of ``X`` must then be in time order. ``0`` gives hard
    assignments (each sample in the regime that fits it best). The KL
    term is in nats and the losses in their own units: for the squared
    loss, scale :math:`\\lambda` with the noise variance (about
    :math:`4 \\sigma^2` for sticky regimes; see the User Guide).""",
    "fit_intercept": """\
fit_intercept : bool, default=True
    Whether each regime has an (unpenalized) intercept.""",
    "gating": """\
gating : {"logistic", "prior"}, default="logistic"
    How :meth:`predict` weighs the regimes of unseen samples, whose target
    is unknown: a multinomial logistic regression of the training
    assignments on the features (``"logistic"``), or the regime
    proportions ``weights_`` (``"prior"``). With the target known, use
    :meth:`predict_regime_proba`.""",
    "n_init": """\
n_init : int, default={default}
    Number of runs from different initializations; the run with the
    smallest objective is kept. Ignored when ``init`` is an array or when
    warm starting.""",
    "init": """\
init : {"random", "kmeans"} or array-like, default="random"
    Initial assignments: a random balanced partition of the samples, the
    k-means clusters of the standardized ``[X, y]``, or an array of shape
    (n_samples, n_regimes) (rows are normalized) or of integer regime labels
    of shape (n_samples,).""",
    "solver": """\
solver : str, default="auto"
    ``"auto"`` solves the P-step exactly by a fast path when the model
    allows it (weighted ridge in closed form for the squared loss,
    L-BFGS for the smooth losses, both with an l2 penalty or none and no
    constraints) and by cvxpy otherwise. ``"cvxpy"`` always uses cvxpy; the
    name of an installed cvxpy solver (e.g. ``"CLARABEL"``, ``"SCS"``)
    always uses cvxpy with that solver first. When a cvxpy solver fails,
    the other installed conic solvers are tried before an error names the
    regime and the solvers.""",
    "decoding": """\
decoding : {"factors", "hmm"}, default="factors"
    How the fitted model labels the samples (``regime_proba_``,
    ``labels_``, :meth:`predict_regime_proba`). ``"factors"``: the latent
    factors :math:`z` of the objective above (the seed's model).
    ``"hmm"``: the exact posterior marginals of a hidden Markov model whose
    regimes are the fitted ones, with emission likelihoods
    :math:`\\exp(-g / \\tau)` (``emission_scale_``: :math:`2\\hat\\sigma^2`
    for the squared loss, the mean absolute residual for the absolute loss,
    1 for the logistic and multinomial losses, which are log-likelihoods)
    and the transition matrix of the factors' labels
    (``transition_matrix_``), by forward-backward in :math:`O(m K^2)`. The
    rows of ``X`` must be in time order. The posterior labels the most
    samples correctly when the model holds; the KL smoothing of the factors
    is a convex surrogate of it (see the :ref:`User Guide <switching>`).
    Needs ``loss`` in {"squared", "absolute", "logistic", "multinomial"}.""",
    "warm_start": """\
warm_start : bool, default=False
    Start from the parameters of the previous call to :meth:`fit` (one
    run) instead of a new initialization.""",
    "attributes": """\
coef_ : ndarray of shape (n_regimes, ...)
    Coefficients of each regime (the shape of one regime's coefficients
    follows ``loss``).
intercept_ : ndarray of shape (n_regimes, ...)
    Intercept of each regime (zeros when ``fit_intercept=False``).
regime_proba_ : ndarray of shape (n_samples, n_regimes)
    Latent factors :math:`z` of the training samples (one-hot without
    smoothing).
labels_ : ndarray of shape (n_samples,)
    Most likely regime of each training sample.
weights_ : ndarray of shape (n_regimes,)
    Regime proportions, the mean of ``regime_proba_``.
transition_matrix_ : ndarray of shape (n_regimes, n_regimes)
    Transition frequencies between consecutive training ``labels_`` (rows
    sum to one; uniform for a regime never followed by a sample). With
    ``decoding="hmm"``, the transition matrix of the hidden Markov model:
    the frequencies between the labels of the latent factors with one
    count added to every cell, so that no transition is impossible.
emission_scale_ : float
    Only with ``decoding="hmm"``: the scale :math:`\\tau` of the emission
    likelihoods :math:`\\exp(-g / \\tau)`.
gating_coef_ : ndarray of shape (n_features, n_regimes)
    Coefficients of the gating model (zeros for ``gating="prior"``).
gating_intercept_ : ndarray of shape (n_regimes,)
    Intercepts of the gating model (log of ``weights_`` for
    ``gating="prior"``).
objective_ : ndarray of shape (`n_iter_` + 1,)
    Objective after initialization and after each iteration of the kept
    run (nonincreasing, except after re-seeding an empty regime).
n_iter_ : int
    Number of iterations of the kept run.
converged_ : bool
    Whether the kept run met the stopping rule.
n_features_in_ : int
    Number of features seen during :meth:`fit`.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during :meth:`fit`, when ``X`` has string column
    names.""",
}

COMMON_CONSTRAINTS = {
    "n_regimes": [Interval(Integral, 1, None, closed="left")],
    "constraints": [None, StrOptions(set(CONSTRAINT_NAMES)), callable],
    "penalty": [None, StrOptions(set(PENALTIES)), callable],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "smoothing": [Interval(Real, 0, None, closed="left")],
    "fit_intercept": ["boolean"],
    "gating": [StrOptions({"logistic", "prior"})],
    "decoding": [StrOptions({"factors", "hmm"})],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "init": [StrOptions({"random", "kmeans"}), "array-like"],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "solver": [str],
    "random_state": ["random_state"],
    "n_jobs": [None, Integral],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
}


def _single_run(X, Y, regime_loss, settings, seed, kmeans_features, name, warm):
    """One BCD run (module level so that joblib can send it to a worker)."""
    pstep = make_pstep(
        X,
        Y,
        regime_loss,
        settings["n_regimes"],
        fit_intercept=settings["fit_intercept"],
        alpha=settings["alpha"],
        penalty=settings["penalty"],
        constraints=settings["constraints"],
        solver=settings["solver"],
    )
    common = dict(
        smoothing=settings["smoothing"],
        penalty=settings["penalty"],
        alpha=settings["alpha"],
        max_iter=settings["max_iter"],
        tol=settings["tol"],
        verbose=settings["verbose"],
        name=name,
    )
    if warm is not None:
        coefs0, intercepts0 = warm
        return run_bcd(
            X,
            Y,
            regime_loss,
            pstep,
            None,
            coefs0=coefs0,
            intercepts0=intercepts0,
            **common,
        )
    rng = np.random.RandomState(seed)
    Z0 = initial_assignments(
        settings["init"], settings["n_regimes"], rng, kmeans_features
    )
    return run_bcd(X, Y, regime_loss, pstep, Z0, **common)


class _BaseSwitching(BaseEstimator):
    """Shared machinery of the switching estimators (not public)."""

    # --- hooks of the subclasses -----------------------------------------

    def _encode_y(self, y, fitting):
        """Target in the encoding of the loss; ``fitting`` sets e.g. classes_."""
        raise NotImplementedError

    def _default_shapes(self, n_features, Y):
        """Default (coef_shape, intercept_shape) of the built-in loss."""
        raise NotImplementedError

    def _kmeans_features(self, X, Y):
        return np.column_stack([X, Y.reshape(X.shape[0], -1)])

    # --- helpers ------------------------------------------------------------

    def _regime_loss(self, n_features, Y):
        coef_shape, intercept_shape = self._default_shapes(n_features, Y)
        loss = self.loss
        if callable(loss):
            declared = getattr(loss, "coef_shape", None)
            if declared is not None:
                coef_shape = tuple(declared)
                intercept_shape = tuple(getattr(loss, "intercept_shape", ()))
        epsilon = getattr(self, "epsilon", 1.0)
        return RegimeLoss(loss, coef_shape, intercept_shape, epsilon)

    def _fitted_regime_loss(self):
        return RegimeLoss(
            self.loss,
            self.coef_.shape[1:],
            self.intercept_.shape[1:],
            getattr(self, "epsilon", 1.0),
        )

    def _check_solver(self):
        if self.solver in ("auto", "cvxpy"):
            return self.solver
        installed = cp.installed_solvers()
        if self.solver.upper() not in installed:
            raise ValueError(
                f"solver={self.solver!r} is not 'auto', 'cvxpy' or an installed "
                f"cvxpy solver ({', '.join(installed)})."
            )
        return self.solver.upper()

    def _check_scale(self, X, y=None, whom="fit"):
        whom = f"{type(self).__name__}.{whom}"
        check_finite_scale(X, whom, "X")
        if y is not None and np.issubdtype(np.asarray(y).dtype, np.number):
            check_finite_scale(y, whom, "y")

    def _check_n_samples(self, n_samples):
        if self.n_regimes > n_samples:
            raise ValueError(
                f"n_regimes={self.n_regimes} exceeds the number of samples "
                f"(n_samples={n_samples}); every regime needs data."
            )

    # --- fitting -------------------------------------------------------------

    def _fit_bcd(self, X, Y):
        """Run the restarts and store the fitted attributes (X, Y validated)."""
        m, n = X.shape
        K = self.n_regimes
        solver = self._check_solver()
        if self.penalty is not None and callable(self.penalty) and self.alpha == 0:
            warnings.warn(
                "penalty is a callable but alpha=0: the penalty has no effect.",
                UserWarning,
            )
        regime_loss = self._regime_loss(n, Y)
        hmm_loss = not callable(self.loss) and self.loss in HMM_LOSSES
        if self.decoding == "hmm" and not hmm_loss:
            raise ValueError(
                f"decoding='hmm' needs a loss that is a negative log-likelihood up "
                f"to a scale, one of {list(HMM_LOSSES)}; got loss={self.loss!r}. Use "
                "decoding='factors'."
            )
        settings = dict(
            n_regimes=K,
            fit_intercept=self.fit_intercept,
            alpha=self.alpha,
            penalty=self.penalty,
            constraints=self.constraints,
            solver=solver,
            smoothing=self.smoothing,
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            init=self.init,
        )
        warm = None
        if (
            self.warm_start
            and hasattr(self, "coef_")
            and self.coef_.shape == (K, *regime_loss.coef_shape)
            and self.intercept_.shape == (K, *regime_loss.intercept_shape)
        ):
            warm = (list(self.coef_), list(self.intercept_))
        fixed_init = not isinstance(self.init, str)
        n_runs = 1 if (warm is not None or fixed_init) else self.n_init
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=n_runs)
        kmeans = isinstance(self.init, str) and self.init == "kmeans"
        kmeans_features = self._kmeans_features(X, Y) if kmeans else X
        name = type(self).__name__
        # BLAS runs single-threaded: the linear algebra of a run is small
        # (n_features-sized systems, L-BFGS vector updates) and BLAS threads
        # only add synchronization cost, worst on a loaded machine. Process
        # workers of joblib get their own limits from joblib.
        with threadpool_limits(limits=1, user_api="blas"):
            results = Parallel(n_jobs=self.n_jobs)(
                delayed(_single_run)(
                    X,
                    Y,
                    regime_loss,
                    settings,
                    seed,
                    kmeans_features,
                    name if n_runs == 1 else f"{name} (init {i + 1}/{n_runs})",
                    warm,
                )
                for i, seed in enumerate(seeds)
            )
        best = min(range(n_runs), key=lambda i: (results[i].final_objective, i))
        result = results[best]
        seen = set()
        for category, message in result.warnings:
            if (category, message) not in seen:
                seen.add((category, message))
                warnings.warn(message, category, stacklevel=4)
        result.monitor.warn_if_not_converged()

        Z = result.Z
        self.coef_ = np.stack(result.coefs)
        self.intercept_ = np.stack(
            [np.asarray(b, dtype=float) for b in result.intercepts]
        )
        if self.decoding == "hmm":
            R = regime_loss.loss_matrix(X, Y, result.coefs, result.intercepts)
            n_outputs = Y.shape[1] if self._multi_output and Y.ndim == 2 else 1
            self.emission_scale_ = emission_scale(self.loss, R, Z, n_outputs)
            self.transition_matrix_ = hmm_transition_matrix(np.argmax(Z, axis=1), K)
            Z = self._hmm_posterior(R)
        else:
            self.transition_matrix_ = transition_counts_matrix(np.argmax(Z, axis=1), K)
        self.regime_proba_ = Z
        self.labels_ = np.argmax(Z, axis=1)
        self.weights_ = Z.mean(axis=0)
        self.objective_ = np.asarray(result.objective)
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        if self.gating == "logistic":
            with threadpool_limits(limits=1, user_api="blas"):
                self.gating_coef_, self.gating_intercept_ = fit_gating(X, Z)
        else:
            tiny = np.finfo(float).tiny
            self.gating_coef_ = np.zeros((n, K))
            self.gating_intercept_ = np.log(np.maximum(self.weights_, tiny))
        return self

    # --- prediction ------------------------------------------------------------

    def _hmm_posterior(self, R):
        """Posterior marginals of the fitted HMM given the loss matrix R."""
        P = self.transition_matrix_
        log_emissions = -R / self.emission_scale_
        return forward_backward(log_emissions, P, stationary_distribution(P))[0]

    def _gating_proba(self, X):
        return gating_proba(X, self.gating_coef_, self.gating_intercept_)

    def _validate_Xy(self, X, y):
        check_is_fitted(self)
        X, y = validate_data(
            self,
            X,
            y,
            reset=False,
            dtype=np.float64,
            multi_output=self._multi_output,
            y_numeric=self._multi_output,
        )
        self._check_scale(X, y if self._multi_output else None, "predict_regime_proba")
        return X, self._encode_y(y, fitting=False)

    def predict_regime_proba(self, X, y):
        """Regime posteriors of labelled samples: an F-step at the fitted parameters.

        With ``smoothing > 0`` the rows are taken in time order and smoothed
        as in :meth:`fit`; with ``decoding="hmm"`` they are the posterior
        marginals of the fitted hidden Markov model (rows in time order).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_regimes)
            Rows on the probability simplex.
        """
        X, Y = self._validate_Xy(X, y)
        regime_loss = self._fitted_regime_loss()
        R = regime_loss.loss_matrix(X, Y, list(self.coef_), list(self.intercept_))
        if self.decoding == "hmm":
            return self._hmm_posterior(R)
        return fstep(R, self.smoothing)

    def predict_regime(self, X, y):
        """Most likely regime of labelled samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.argmax(self.predict_regime_proba(X, y), axis=1)
