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
