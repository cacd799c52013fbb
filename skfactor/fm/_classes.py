"""ProxFMClassifier: a factorization machine trained by exact proximal steps."""

import numbers

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ..utils._docstrings import fill_doc
from ..utils._monitor import ConvergenceMonitor
from ._model import fm_decision
from ._epoch import (
    EpochSettings,
    Rows,
    averaged_parameters,
    make_averaging,
    run_epoch,
)
from ._prox_step import Model, make_work, row_curvature_bounds

__all__ = ["ProxFMClassifier"]

# "auto" takes this fraction of the convexity bound of the data's worst row
# (chosen on a validation split of MovieLens ua.base, see the user guide).
AUTO_STEP_FRACTION = 0.25


@fill_doc
class ProxFMClassifier(ClassifierMixin, BaseEstimator):
    r"""Factorization machine classifier trained by exact stochastic proximal steps.

    A second-order factorization machine (global bias, one bias and one
    ``n_components``-dimensional latent vector per feature)

    .. math::

        \sigma(x) = b_0 + \sum_i x_i b_i + \sum_{i<j} x_i x_j\, v_i^\top v_j,
        \qquad p(y = 1 \mid x) = \operatorname{expit}(\sigma(x)),

    trained one sample at a time by the exact stochastic proximal point step
    on the L2-penalized logistic loss (Shtoff, 2020):

    .. math::

        x_{t+1} = \arg\min_x \log\bigl(1 + e^{-\hat y_i \sigma_i(x)}\bigr)
            + \frac{\alpha}{2}\bigl(\|b_{N_i}\|^2 + \|V_{N_i}\|^2\bigr)
            + \frac{\|b - b_t\|^2}{2 s \eta_t} + \frac{\|V - V_t\|^2}{2\eta_t},

    where :math:`N_i` are the nonzero features of sample :math:`i`,
    :math:`\hat y_i = \pm 1`, :math:`b = (b_0, b_1, \dots)` the biases and
    :math:`s` = ``bias_step_scale``. The step is computed exactly through the
    one-dimensional dual of the logistic loss: the dual function depends on
    the latent vectors through two scalars for indicator rows, and is
    maximized by a safeguarded Newton iteration (see the user guide). The
    step is strictly convex when :math:`\eta_t L_i < 1 + \eta_t\alpha`, with
    :math:`L_i = \|x_i\|^2 - \min_{j \in N_i} x_{ij}^2` (:math:`n_i - 1` for
    a row of :math:`n_i` indicators).

    The published setting (fixed :math:`\eta = 1/(2d+1)`, no penalty, one
    step for all parameters) diverges on real data. The defaults (penalty,
    decreasing step, a larger step for the biases than for the latent
    vectors, and predictions from the weighted average of the iterates) are
    the setting chosen by validation on MovieLens ``ua.base`` (user guide).

    Parameters
    ----------
    n_components : int, default=16
        Dimension ``k`` of the latent vectors. ``0`` fits a logistic
        regression by proximal steps.
    alpha : float, default=0.04
        L2 penalty on the biases and latent vectors of the features a
        sample touches, applied inside each proximal step (frequent features
        are penalized more often). The global bias is not penalized.
    step_size : "auto" or float, default="auto"
        Initial step :math:`\eta` of the latent vectors (the one the
        convexity bound constrains). ``"auto"`` uses a quarter of the bound
        of the worst row of the first training data, ``0.25 / max(1, max_i
        L_i)``, and additionally caps every sample's step at ``0.25 /
        L_i``. A float must keep every step strictly convex (``eta * w_i *
        L_i < 1 + eta * w_i * alpha`` for sample weights ``w_i``); a larger
        one raises ``ValueError`` naming the bound. With ``n_components=0``
        every step is convex: nothing is capped or rejected.
    bias_step_scale : float, default=4.0
        The biases (global and per feature) take steps ``bias_step_scale``
        times larger than the latent vectors. Their part of the subproblem is
        convex for every step and does not amplify anything, while the
        latent vectors need small steps to stay stable; ``1.0`` is the
        single step of Shtoff (2020).
    schedule : {"invscaling", "constant"}, default="invscaling"
        ``"invscaling"``: :math:`\eta_e = \eta / (1 + e)^{\text{power\_t}}`
        at epoch :math:`e` (each :meth:`partial_fit` call is one epoch);
        ``"constant"``: :math:`\eta_e = \eta`.
    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule (``0.5`` is the classic
        companion of iterate averaging).
    average : bool, default=True
        Predict with the average of all iterates since initialization
        instead of the last one (Polyak-Ruppert averaging), weighted by the
        cube of the number of (weighted) samples seen, so that early
        iterates fade out without a burn-in parameter. It continues across
        ``warm_start`` fits and :meth:`partial_fit` calls. ``coef_``,
        ``intercept_`` and ``components_`` hold the averaged parameters;
        training continues from the last iterate. Kept lazily: each step
        updates one offset per parameter it changes, in the same pass.
    {{max_iter=30}}
        Here an iteration is one epoch (one pass over the samples).
    tol : float, default=0.0
        Stop when the relative change of the epoch's training loss is at
        most ``tol``. The default ``0`` runs ``max_iter`` epochs (the loss
        of an online method keeps drifting slowly, so a fixed epoch budget
        is the usual stopping rule).
    shuffle : bool, default=True
        Visit the samples in a new random order at every epoch.
    warm_start : bool, default=False
        Continue from the previous solution (and step schedule) in
        :meth:`fit` instead of reinitializing.
    {{random_state}}
    init_std : float, default=0.1
        Standard deviation of the normal initialization of the latent
        vectors (biases start at zero).
    {{verbose}}

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels; ``classes_[1]`` is the positive class.
    intercept_ : float
        Global bias :math:`b_0` (averaged when ``average=True``).
    coef_ : ndarray of shape (n_features,)
        Feature biases :math:`b` (averaged when ``average=True``).
    components_ : ndarray of shape (n_features, n_components)
        Latent vectors :math:`v_i`, one row per feature (averaged when
        ``average=True``).
    loss_curve_ : list of float
        Training loss of every epoch: the (sample-weighted) mean logistic
        loss of each sample just before its step (by the current iterate,
        not the average).
    objective_ : list of float
        Training loss at initialization followed by ``loss_curve_`` of the
        last :meth:`fit`.
    n_iter_ : int
        Number of epochs run by the last :meth:`fit` (or 1 after
        :meth:`partial_fit`).
    t_ : int
        Total number of epochs seen (drives the step schedule).
    step_size_ : float
        The initial step :math:`\eta` actually used.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when ``X``
        has feature names that are all strings.

    See Also
    --------
    sklearn.linear_model.SGDClassifier : Linear model by stochastic gradient.

    References
    ----------
    S. Rendle (2010), Factorization Machines, IEEE ICDM, 995-1000.

    A. Shtoff (2020), Proximal point to the extreme - factorization machines,
    blog post of the series "Efficient incremental proximal point methods".

    Examples
    --------
    >>> from skfactor import ProxFMClassifier
    >>> from skfactor.datasets import make_fm_classification
    >>> X, y, truth = make_fm_classification(n_samples=2000, random_state=0)
    >>> clf = ProxFMClassifier(n_components=3, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> round(clf.score(X, y), 2)
    0.8...
    """

    _parameter_constraints = {
        "n_components": [Interval(numbers.Integral, 0, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "step_size": [
            StrOptions({"auto"}),
            Interval(numbers.Real, 0, None, closed="neither"),
        ],
        "bias_step_scale": [Interval(numbers.Real, 0, None, closed="neither")],
        "schedule": [StrOptions({"invscaling", "constant"})],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "average": ["boolean"],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "init_std": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=16,
        *,
        alpha=0.04,
        step_size="auto",
        bias_step_scale=4.0,
        schedule="invscaling",
        power_t=0.5,
        average=True,
        max_iter=30,
        tol=0.0,
        shuffle=True,
        warm_start=False,
        random_state=None,
        init_std=0.1,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.step_size = step_size
        self.bias_step_scale = bias_step_scale
        self.schedule = schedule
        self.power_t = power_t
        self.average = average
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.random_state = random_state
        self.init_std = init_std
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ data
    def _validate(self, X, y, sample_weight, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=("csr", "csc"),
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        check_classification_targets(y)
        X = _as_csr64(X)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        return X, y, sample_weight

    def _encode(self, y):
        """Map labels to -1 / +1, naming unknown labels."""
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown.tolist()} that are not among the "
                f"classes {self.classes_.tolist()} given at the first partial_fit."
            )
        return np.where(y == self.classes_[1], 1.0, -1.0)

    @staticmethod
    def _check_two_classes(classes):
        if classes.size != 2:
            raise ValueError(
                "Only binary classification is supported. ProxFMClassifier needs "
                f"exactly 2 classes; got {classes.size} class(es): {classes.tolist()}."
            )

    def _step_bounds(self, X, sample_weight):
        """Initial step and each sample's step cap, validated against convexity."""
        bounds = row_curvature_bounds(X.indptr, X.data)
        if not np.all(np.isfinite(bounds)):
            raise ValueError(
                "Feature values are too large: their squares overflow float64 "
                f"(max |x| = {np.abs(X.data).max():.3g}). Rescale the features."
            )
        if not hasattr(self, "step_size_"):
            if self.step_size == "auto":
                self.step_size_ = AUTO_STEP_FRACTION / max(
                    1.0, float(bounds.max(initial=0.0))
                )
            else:
                self.step_size_ = float(self.step_size)
        if self.n_components == 0:
            # no latent vectors: the subproblem is a logistic loss plus a
            # quadratic, strictly convex for every step, so nothing is capped
            return np.full(X.shape[0], np.inf)
        if self.step_size == "auto":
            with np.errstate(divide="ignore"):
                return np.where(bounds > 0, AUTO_STEP_FRACTION / bounds, np.inf)
        # Strict convexity: eta' L < 1 with eta' = eta / (1 + eta alpha), i.e.
        # eta (L - alpha) < 1 for the largest step eta * w_i of each sample.
        eta = self.step_size_ * sample_weight
        violated = eta * (bounds - self.alpha) >= 1.0
        if np.any(violated):
            worst = int(np.argmax(eta * (bounds - self.alpha)))
            limit = 1.0 / (bounds[worst] - self.alpha) / sample_weight[worst]
            raise ValueError(
                f"step_size={self.step_size_:g} makes the proximal step of "
                f"{int(violated.sum())} sample(s) nonconvex: sample {worst} needs "
                f"step_size < 1 / ((L - alpha) * sample_weight) = {limit:.4g} with "
                f"L = ||x||^2 - min x_j^2 = {bounds[worst]:.4g}. Use a smaller "
                "step_size or step_size='auto'."
            )
        return np.full(X.shape[0], np.inf)

    # ----------------------------------------------------------------- model
    def _initialize(self, n_features, rng):
        k = self.n_components
        components = self.init_std * rng.standard_normal((n_features, k))
        # The iterate (training continues from it) and the lazily updated
        # sums of the weighted iterate average (see run_epoch).
        self._iterate = Model(np.zeros(1), np.zeros(n_features), components)
        self._averaging = make_averaging(n_features, k)
        self.t_ = 0
        self.loss_curve_ = []
        self._publish()
        for name in ("step_size_",):
            if hasattr(self, name):
                delattr(self, name)

    def _publish(self):
        """Set ``intercept_``, ``coef_``, ``components_`` (iterate or average)."""
        if self.average:
            params = averaged_parameters(self._averaging, self._iterate)
        else:
            w0, w, V = self._iterate
            params = float(w0[0]), w.copy(), V.copy()
        self.intercept_, self.coef_, self.components_ = params

    def _mean_loss(self, X, yhat, sample_weight):
        w0, w, V = self._iterate
        margin = yhat * fm_decision(X, w0[0], w, V)
        return float(np.average(np.logaddexp(0.0, -margin), weights=sample_weight))

    def _epoch(self, X, yhat, sample_weight, max_step, rng):
        n = X.shape[0]
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        eta = self.step_size_
        if self.schedule == "invscaling":
            eta = eta / (1.0 + self.t_) ** self.power_t
        settings = EpochSettings(
            float(eta),
            float(self.bias_step_scale),
            float(self.alpha),
            bool(self.average),
        )
        total = run_epoch(
            Rows(X.indptr, X.indices, X.data),
            yhat,
            sample_weight,
            max_step,
            order.astype(np.int64),
            settings,
            self._iterate,
            make_work(self.n_components),
            self._averaging,
        )
        self.t_ += 1
        loss = total / sample_weight.sum()
        self.loss_curve_.append(float(loss))
        return loss

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the factorization machine by ``max_iter`` epochs of proximal steps.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; sparse CSR/CSC input is used without densifying.
        y : array-like of shape (n_samples,)
            Binary target (any two labels).
        sample_weight : array-like of shape (n_samples,), default=None
            A sample of weight ``w`` takes a step ``w`` times larger.

        Returns
        -------
        self : ProxFMClassifier
            Fitted estimator.
        """
        warm = self.warm_start and hasattr(self, "components_")
        X, y, sample_weight = self._validate(X, y, sample_weight, reset=not warm)
        classes = np.unique(y)
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start fit got classes {classes.tolist()}, the previous fit "
                f"had {self.classes_.tolist()}."
            )
        self._check_two_classes(classes)
        self.classes_ = classes
        yhat = self._encode(y)
        rng = check_random_state(self.random_state)
        if not warm:
            self._initialize(X.shape[1], rng)
        max_step = self._step_bounds(X, sample_weight)
        monitor = ConvergenceMonitor(
            self.tol,
            self.max_iter,
            self.verbose,
            name=type(self).__name__,
            objective_name="training loss",
        )
        monitor.start(self._mean_loss(X, yhat, sample_weight))
        for _ in range(self.max_iter):
            if monitor.update(self._epoch(X, yhat, sample_weight, max_step, rng)):
                break
        self._publish()
        monitor.warn_if_not_converged()
        self.objective_ = monitor.history
        self.n_iter_ = monitor.n_iter
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of proximal steps over ``(X, y)``: online learning.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (2,), default=None
            Both labels; required on the first call, ignored afterwards.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : ProxFMClassifier
        """
        first = _check_partial_fit_first_call(self, classes)
        if first:
            self._check_two_classes(self.classes_)
        X, y, sample_weight = self._validate(X, y, sample_weight, reset=first)
        yhat = self._encode(y)
        if not hasattr(self, "_rng"):
            self._rng = check_random_state(self.random_state)
        if first or not hasattr(self, "components_"):
            self._initialize(X.shape[1], self._rng)
        max_step = self._step_bounds(X, sample_weight)
        self._epoch(X, yhat, sample_weight, max_step, self._rng)
        self._publish()
        self.n_iter_ = 1
        return self

    # --------------------------------------------------------------- predict
    def decision_function(self, X):
        """Model output :math:`\\sigma(x)` (log-odds of ``classes_[1]``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse=("csr", "csc"),
            dtype=(np.float64, np.float32),
            reset=False,
        )
        if sp.issparse(X):
            X = X.tocsr().astype(np.float64)
        else:
            X = np.asarray(X, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            scores = fm_decision(X, self.intercept_, self.coef_, self.components_)
        if not np.all(np.isfinite(scores)):
            raise ValueError(
                "The model output overflows float64 for "
                f"{int((~np.isfinite(scores)).sum())} sample(s): the feature values "
                f"(max |x| = {np.abs(X.data if sp.issparse(X) else X).max():.3g}) are "
                "far larger than those seen in fit. Rescale the features."
            )
        return scores

    def predict_proba(self, X):
        """Probability of each class, columns ordered as ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        scores = self.decision_function(X)
        return np.column_stack([expit(-scores), expit(scores)])

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed without underflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, 2)
        """
        scores = self.decision_function(X)
        return np.column_stack(
            [-np.logaddexp(0.0, scores), -np.logaddexp(0.0, -scores)]
        )

    def predict(self, X):
        """Predicted label, ``classes_[1]`` where the probability exceeds 0.5.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(int)]


def _as_csr64(X):
    """CSR with float64 values, int64 indices, no duplicates and no explicit zeros."""
    X = sp.csr_matrix(X, dtype=np.float64, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()
    X.indptr = X.indptr.astype(np.int64, copy=False)
    X.indices = X.indices.astype(np.int64, copy=False)
    return X
