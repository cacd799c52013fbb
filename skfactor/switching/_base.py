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
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils.validation import check_finite_scale
from ..utils._monitor import warn_at_caller
from ..utils._threads import single_blas_thread

from ._bcd import run_bcd, initial_assignments, transition_counts_matrix
from ._em import EMISSION_LOSSES, Emission, random_segments, run_em
from ._fstep import fstep
from ._gating import fit_gating, gating_proba
from ._hmm import forward_backward, stationary_distribution
from ._losses import PENALTIES, RegimeLoss
from ._pstep import CONSTRAINT_NAMES, make_pstep, use_fast_path

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
    averaged) over samples, as in Zhu et al. (2025).""",
    "smoothing": """\
smoothing : float, default=1.0
    Only with ``latent="smoothed"``: weight :math:`\\lambda \\ge 0` of the
    temporal smoothing :math:`\\sum_t D_{\\mathrm{KL}}(z_t, z_{t+1})` of the
    latent factors; the rows of ``X`` must then be in time order. ``0``
    gives the hard assignments of ``latent="independent"``. The KL
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
    regime probabilities ``regime_proba_`` on the features
    (``"logistic"``), or a prior that ignores the features (``"prior"``):
    the regime proportions ``weights_``, or for ``latent="markov"`` the
    stationary distribution of ``transition_matrix_``, where the forward
    filter of a chain stays when no target is observed. With the target
    known, use :meth:`predict_regimes`.""",
    "tol": """\
tol : float, default={default}
    Tolerance on the relative change of the objective between two
    iterations; the fit stops at the first iteration below it. With
    several restarts, each restart stops at ``max(tol, 1e-4)`` and only the
    best one is run on to ``tol`` from where it stopped (within the same
    ``max_iter``): near a maximum EM and the smoothed BCD converge linearly,
    and the last digits of the likelihood, which comparing restarts does
    not need, cost most of the iterations.""",
    "n_init": """\
n_init : int, default={default}
    Number of runs from different initializations; the run with the
    smallest objective is kept. Ignored when ``init`` is an array or when
    warm starting.""",
    "init": """\
init : {"random", "kmeans"} or array-like, default="random"
    Initial assignments: a random balanced partition of the samples (for
    ``latent="markov"``, every other restart starts instead from random
    contiguous segments of the series, each given to a random regime), the
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
    "latent": """\
latent : {"independent", "smoothed", "markov"}, default="markov"
    Model of the latent regimes. ``"independent"``: a mixture, each sample
    in the regime that fits it best (hard assignments, the relaxed problem
    above without the KL term). ``"smoothed"``: the KL smoothing of the
    latent factors above with strength ``smoothing`` (rows in time order).
    ``"markov"``: a hidden Markov chain of regimes fitted by EM (rows in
    time order); the losses are read as negative log-likelihoods (Gaussian
    noise for ``"squared"``, Laplace for ``"absolute"``, the GLM likelihood
    for ``"logistic"`` and ``"multinomial"``) and the fit maximizes the
    penalized likelihood

    .. math::

        \\log p(y_{1:m} \\mid x_{1:m}) - \\alpha \\sum_k P(\\beta_k)
            + c \\sum_{ij} \\log P_{ij},

    the sum over all regime paths, exactly, by forward-backward. The default:
    it is the exact posterior of a model that nests the mixture (a chain
    whose rows are equal) and it labels Markov-switching data best (see the
    :ref:`User Guide <switching>`). Needs a built-in loss other than
    ``"huber"``.""",
    "transition_prior": """\
transition_prior : float or None, default=0.1
    Only with ``latent="markov"``: pseudo-count :math:`c > 0` added to every
    expected transition count (a symmetric Dirichlet prior of concentration
    :math:`1 + c` on each row of the transition matrix, MAP estimate; the
    default of dynamax's hidden Markov models, 1.1, is :math:`c = 0.1`).
    It keeps rare transitions of a short series from being estimated at
    zero; 0.1 was chosen by blocked cross-validation on training series of
    Gaussian and logistic Markov-switching models
    (``benchmarks/search_transition_prior.py``), where it raised the
    validation log-likelihood over maximum likelihood on average. None gives
    the maximum-likelihood transition matrix (statsmodels' estimate, and the
    published likelihoods).""",
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
    Latent factors :math:`z` of the training samples (one-hot for
    ``latent="independent"``; the posterior marginals :math:`p(s_t = k
    \\mid y_{1:m})` for ``latent="markov"``).
labels_ : ndarray of shape (n_samples,)
    Most likely regime of each training sample.
weights_ : ndarray of shape (n_regimes,)
    Regime proportions, the mean of ``regime_proba_``.
transition_matrix_ : ndarray of shape (n_regimes, n_regimes)
    ``[i, j]`` is :math:`P(s_t = j \\mid s_{t-1} = i)` (rows sum to one):
    the fitted chain for ``latent="markov"``, otherwise the transition
    frequencies between consecutive training ``labels_`` (uniform for a
    regime never followed by a sample).
startprob_ : ndarray of shape (n_regimes,)
    Only for ``latent="markov"``: fitted distribution of the first regime.
log_likelihood_ : float
    Only for ``latent="markov"``: log-likelihood of the training data at
    the fit (without the penalties).
gating_coef_ : ndarray of shape (n_features, n_regimes)
    Coefficients of the gating model (zeros for ``gating="prior"``).
gating_intercept_ : ndarray of shape (n_regimes,)
    Intercepts of the gating model (log of the prior for
    ``gating="prior"``).
objective_ : ndarray of shape (`n_iter_` + 1,)
    Objective after initialization and after each iteration of the kept
    run (nonincreasing, except after re-seeding an empty regime); for
    ``latent="markov"`` the penalized negative log-likelihood.
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

# The settings of a fit that choose and build its P-step solver.
PSTEP_SETTINGS = ("fit_intercept", "alpha", "penalty", "constraints", "solver")

# Restarts are compared at this tolerance; the best is refined to ``tol``.
SCREENING_TOL = 1e-4

COMMON_CONSTRAINTS = {
    "n_regimes": [Interval(Integral, 1, None, closed="left")],
    "constraints": [None, StrOptions(set(CONSTRAINT_NAMES)), callable],
    "penalty": [None, StrOptions(set(PENALTIES)), callable],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "smoothing": [Interval(Real, 0, None, closed="left")],
    "fit_intercept": ["boolean"],
    "gating": [StrOptions({"logistic", "prior"})],
    "latent": [StrOptions({"independent", "smoothed", "markov"})],
    "transition_prior": [None, Interval(Real, 0, None, closed="neither")],
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


def _single_run(
    X, Y, regime_loss, settings, seed, kmeans_features, name, warm, run_index=0
):
    """One BCD or EM run (module level so that joblib can send it to a worker).

    ``settings["pstep"]``, when set, is a P-step solver that keeps no state
    between solves (the closed form), built once for all the runs of a fit.
    """
    pstep = settings.get("pstep") or make_pstep(
        X,
        Y,
        regime_loss,
        settings["n_regimes"],
        **{key: settings[key] for key in PSTEP_SETTINGS},
    )
    markov = settings["latent"] == "markov"
    common = dict(
        penalty=settings["penalty"],
        alpha=settings["alpha"],
        max_iter=settings["max_iter"],
        tol=settings["tol"],
        verbose=settings["verbose"],
        name=name,
    )
    if markov:
        run = run_em
        common["emission"] = settings["emission"]
        common["transition_prior"] = settings["transition_prior"]
    else:
        run = run_bcd
        smoothed = settings["latent"] == "smoothed"
        common["smoothing"] = settings["smoothing"] if smoothed else 0.0
    if warm is not None:
        coefs0, intercepts0, chain0 = warm
        if markov:
            common["chain0"] = chain0
        return run(
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
    random_init = isinstance(settings["init"], str) and settings["init"] == "random"
    if markov and random_init and run_index % 2 == 0:
        # Even runs start from contiguous segments (distinct regimes on
        # sticky data), odd ones from a random partition (no bias towards
        # sticky chains): restarts explore both kinds of optima.
        Z0 = random_segments(X.shape[0], settings["n_regimes"], rng)
    else:
        Z0 = initial_assignments(
            settings["init"], settings["n_regimes"], rng, kmeans_features
        )
    return run(X, Y, regime_loss, pstep, Z0, **common)


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
        markov = self.latent == "markov"
        settings = dict(
            n_regimes=K,
            fit_intercept=self.fit_intercept,
            alpha=self.alpha,
            penalty=self.penalty,
            constraints=self.constraints,
            solver=solver,
            latent=self.latent,
            smoothing=self.smoothing,
            transition_prior=self.transition_prior,
            emission=self._emission(Y) if markov else None,
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            init=self.init,
        )
        fast = use_fast_path(
            regime_loss, self.penalty, self.alpha, self.constraints, solver
        )
        if fast == "closed_form":
            # Stateless between solves: its design products serve every run.
            settings["pstep"] = make_pstep(
                X,
                Y,
                regime_loss,
                K,
                **{key: settings[key] for key in PSTEP_SETTINGS},
            )
        warm = None
        if (
            self.warm_start
            and hasattr(self, "coef_")
            and self.coef_.shape == (K, *regime_loss.coef_shape)
            and self.intercept_.shape == (K, *regime_loss.intercept_shape)
            and (not markov or hasattr(self, "startprob_"))
        ):
            chain = None
            if markov:
                chain = (self.transition_matrix_, self.startprob_, self._scales())
            warm = (list(self.coef_), list(self.intercept_), chain)
        fixed_init = not isinstance(self.init, str)
        n_runs = 1 if (warm is not None or fixed_init) else self.n_init
        if n_runs > 1:
            # Restarts are compared at a coarse tolerance; only the best one
            # is run on to ``tol`` (see ``_refine``).
            settings["tol"] = max(self.tol, SCREENING_TOL)
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=n_runs)
        kmeans = isinstance(self.init, str) and self.init == "kmeans"
        kmeans_features = self._kmeans_features(X, Y) if kmeans else X
        name = type(self).__name__
        # BLAS runs single-threaded: the linear algebra of a run is small
        # (n_features-sized systems, L-BFGS vector updates) and BLAS threads
        # only add synchronization cost, worst on a loaded machine. Process
        # workers of joblib get their own limits from joblib.
        with single_blas_thread():
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
                    i,
                )
                for i, seed in enumerate(seeds)
            )
        best = min(range(n_runs), key=lambda i: (results[i].final_objective, i))
        result = results[best]
        if settings["tol"] > self.tol:
            result = self._refine(X, Y, regime_loss, settings, result, name)
        seen = set()
        for category, message in result.warnings:
            if (category, message) not in seen:
                seen.add((category, message))
                warn_at_caller(message, category)
        result.monitor.warn_if_not_converged()

        Z = result.Z
        self.coef_ = np.stack(result.coefs)
        self.intercept_ = np.stack(
            [np.asarray(b, dtype=float) for b in result.intercepts]
        )
        if markov:
            self._store_chain(result, Y)
        else:
            self.transition_matrix_ = transition_counts_matrix(np.argmax(Z, axis=1), K)
        self.regime_proba_ = Z
        self.labels_ = np.argmax(Z, axis=1)
        self.weights_ = Z.mean(axis=0)
        self.objective_ = np.asarray(result.objective)
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        if self.gating == "logistic":
            with single_blas_thread():
                self.gating_coef_, self.gating_intercept_ = fit_gating(X, Z)
        else:
            # Without targets the forward filter of the chain stays at its
            # stationary distribution; the mixture's prior is its weights.
            prior = (
                stationary_distribution(self.transition_matrix_)
                if markov
                else self.weights_
            )
            tiny = np.finfo(float).tiny
            self.gating_coef_ = np.zeros((n, K))
            self.gating_intercept_ = np.log(np.maximum(prior, tiny))
        return self

    def _refine(self, X, Y, regime_loss, settings, result, name):
        """Run the best restart on from its parameters until ``tol``.

        Near a maximum EM (and BCD with smoothing) converges linearly, with
        a rate close to one on sticky chains: the last digits of the
        likelihood cost most of the iterations. Comparing restarts does not
        need them, so the restarts stop at ``SCREENING_TOL`` and only the
        winner pays for them, within the same ``max_iter`` budget. The
        history and ``n_iter`` of both stages are joined.
        """
        budget = self.max_iter - result.n_iter
        if budget < 1:
            result.converged = result.monitor.converged = False
            result.monitor.tol = self.tol
            return result
        chain = None
        if self.latent == "markov":
            chain = (result.transition, result.startprob, result.scales)
        refined_settings = dict(settings, tol=self.tol, max_iter=budget)
        with single_blas_thread():
            refined = _single_run(
                X,
                Y,
                regime_loss,
                refined_settings,
                0,
                None,
                f"{name} (best init, refined)",
                (result.coefs, result.intercepts, chain),
            )
        refined.objective = list(result.objective) + list(refined.objective[1:])
        refined.n_iter += result.n_iter
        refined.monitor.max_iter = self.max_iter
        refined.warnings = list(result.warnings) + list(refined.warnings)
        return refined

    # --- prediction ------------------------------------------------------------

    def _emission(self, Y):
        """The emission model of ``latent="markov"``, after checking the loss."""
        # A callable loss of the classifier is a negative log-likelihood by
        # its contract; one of the regression has no known noise model.
        nll_callable = callable(self.loss) and not self._multi_output
        if not nll_callable and (
            callable(self.loss) or self.loss not in EMISSION_LOSSES
        ):
            loss = "a callable" if callable(self.loss) else repr(self.loss)
            raise ValueError(
                f"latent='markov' reads the loss as a negative log-likelihood and "
                f"needs loss in {list(EMISSION_LOSSES)}; got loss={loss}. Use "
                "latent='smoothed' or latent='independent' with this loss."
            )
        n_outputs = Y.shape[1] if self._multi_output and Y.ndim == 2 else 1
        floor = 0.0
        if self.loss in ("squared", "absolute"):
            spread = np.ptp(Y.reshape(Y.shape[0], -1), axis=0)
            if np.all(spread == 0):
                raise ValueError(
                    "latent='markov' with a regression loss needs a target that "
                    "varies: y is constant, so the noise variance of the fit is "
                    "0 and the likelihood is unbounded."
                )
            with np.errstate(over="ignore", under="ignore"):
                scale = float(np.mean(np.var(Y.reshape(Y.shape[0], -1), axis=0)))
            if not (np.isfinite(scale) and scale > 0):
                raise ValueError(
                    "latent='markov' models the noise variance of y, but the "
                    f"variance of y is {scale} in float64 (y ranges over "
                    f"{float(np.max(spread)):.3g}): rescale y."
                )
            if self.loss == "absolute":
                scale = np.sqrt(scale)
            floor = 1e-8 * scale
        return Emission(
            "nll" if nll_callable else self.loss,
            n_outputs=n_outputs,
            switching=getattr(self, "switching_variance", True),
            floor=floor,
        )

    def _store_chain(self, result, Y):
        """Fitted attributes of the Markov chain and the emission scales."""
        self.transition_matrix_ = result.transition
        self.startprob_ = result.startprob
        self.log_likelihood_ = float(result.log_likelihood)
        if self.loss == "squared":
            self.noise_variance_ = np.asarray(result.scales, dtype=float)
        elif self.loss == "absolute":
            # Laplace of scale b: variance 2 b^2
            self.noise_variance_ = 2.0 * np.asarray(result.scales, dtype=float) ** 2

    def _scales(self):
        """Emission scales (variance or Laplace scale) from ``noise_variance_``."""
        if self.loss == "squared":
            return self.noise_variance_
        if self.loss == "absolute":
            return np.sqrt(self.noise_variance_ / 2.0)
        return np.ones(self.n_regimes)

    def _markov_posterior(self, R, Y):
        """Smoothed marginals of a new series under the fitted chain."""
        emission = Emission(
            self.loss if isinstance(self.loss, str) else "nll",
            n_outputs=Y.shape[1] if self._multi_output and Y.ndim == 2 else 1,
        )
        log_b = emission.log_likelihood(R, self._scales())
        P = self.transition_matrix_
        return forward_backward(log_b, P, stationary_distribution(P))[0]

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
        self._check_scale(X, y if self._multi_output else None, "predict_regimes")
        return X, self._encode_y(y, fitting=False)

    def predict_regimes(self, X, y):
        """Regime probabilities of a labelled series at the fitted parameters.

        ``latent="markov"``: the smoothed marginals :math:`p(s_t = k \\mid
        y_{1:m})` of the fitted chain for a new series (rows in time order)
        starting from the stationary distribution, by forward-backward.
        ``"smoothed"``: the F-step of :meth:`fit` (rows in time order).
        ``"independent"``: the one-hot regime of smallest loss.

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
        if self.latent == "markov":
            return self._markov_posterior(R, Y)
        return fstep(R, self.smoothing if self.latent == "smoothed" else 0.0)

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
        return np.argmax(self.predict_regimes(X, y), axis=1)
