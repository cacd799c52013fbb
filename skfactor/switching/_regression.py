"""SwitchingRegression: K linear regressions and a latent regime per sample."""

from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._docstrings import fill_doc
from ._base import COMMON_CONSTRAINTS, _BaseSwitching
from ._parameter_docs import PARAMETER_DOCS
from ._losses import REGRESSION_LOSSES


@fill_doc(fragments=PARAMETER_DOCS)
class SwitchingRegression(RegressorMixin, _BaseSwitching):
    r"""Switching (mixture of) linear regressions fitted by block coordinate descent.

    Each sample :math:`i` belongs to one of :math:`K` regimes through a
    latent factor :math:`z_i` on the probability simplex, and regime
    :math:`k` is a linear model :math:`y \approx x^T \beta_k + b_k`. The fit
    solves the relaxed discrete latent factor problem of Zhu et al.
    (2025) plus a penalty and an optional temporal smoothing of the latent
    factors:

    .. math::

        \min_{\theta, z} \; \sum_{i=1}^m \sum_{k=1}^K z_{ik} \,
            g(x_i^T \beta_k + b_k - y_i)
            + \alpha \sum_{k=1}^K P(\beta_k)
            + \lambda \sum_{t=1}^{m-1} D_{\mathrm{KL}}(z_t, z_{t+1})
        \quad \text{s.t.} \quad z_i \in \Delta_K, \;
            \theta_k = (\beta_k, b_k) \in \mathcal{C}_k,

    by block coordinate descent: the P-step fits each regime by weighted
    regression (closed form for the squared loss, cvxpy otherwise) and the
    F-step assigns samples to regimes (exactly, by a smallest-loss rule
    without smoothing; by a linear-time barrier method with smoothing). The
    problem is not jointly convex: ``n_init`` restarts keep the best
    objective. That is ``latent="smoothed"`` (``"independent"``:
    :math:`\lambda = 0`).

    With ``latent="markov"`` (the default) the regimes form a hidden Markov
    chain with transition matrix :math:`P` and Gaussian (squared loss) or
    Laplace (absolute loss) noise, and the fit maximizes the penalized
    likelihood :math:`\log p(y \mid X) - \alpha \sum_k P(\beta_k)` by EM,
    which is block coordinate descent on the free energy: exact posterior
    by forward-backward (F-step), the same weighted regressions with the
    posterior over the noise variance as weights, the variances and the
    chain in closed form (P-step). Read more in the :ref:`User Guide
    <switching>`.

    Parameters
    ----------
    {{n_regimes}}
    loss : {"squared", "absolute", "huber"} or callable, default="squared"
        Per-sample loss :math:`g` of the residual :math:`u = x^T \beta + b -
        y`: :math:`\|u\|_2^2` (the Frobenius loss for a 2-D target),
        :math:`\|u\|_1`, or the Huber function :math:`u^2` for
        :math:`|u| \le \epsilon`, :math:`2 \epsilon |u| - \epsilon^2`
        otherwise (summed over outputs). A callable
        ``loss(X, y, coef, intercept)`` receives the training ``X`` (ndarray
        of shape (n_samples, n_features)), ``y`` (ndarray of shape
        (n_samples,) or (n_samples, n_outputs)), one regime's coefficient
        variable (:class:`cvxpy.Variable` of shape (n_features,) or
        (n_features, n_outputs), unless declared otherwise with
        :func:`~skfactor.switching.cvxpy_loss`) and its intercept (a
        :class:`cvxpy.Variable`, or the constant 0 when
        ``fit_intercept=False``), and returns a convex cvxpy expression of
        shape (n_samples,): the loss of every sample. :meth:`predict` uses
        the linear predictor ``X @ coef + intercept``.
    epsilon : float, default=1.0
        Threshold :math:`\epsilon > 0` of the Huber loss, in the units of
        ``y``.
    {{constraints}}
    {{penalty}}
    {{alpha=0.0}}
    {{latent}}
    {{smoothing}}
    {{transition_prior}}
    switching_variance : bool, default=True
        Only with ``latent="markov"`` and the squared or absolute loss:
        whether each regime has its own noise variance (``noise_variance_``)
        or all share one.
    {{fit_intercept}}
    {{gating}}
    {{n_init=10}}
    {{init}}
    {{max_iter=500}}
    {{tol=1e-7}}
    {{solver}}
    {{random_state}}
    {{n_jobs}}
    {{warm_start}}
    {{verbose}}

    Attributes
    ----------
    {{attributes}}

    See Also
    --------
    SwitchingClassifier : The same model with classification losses.
    sklearn.mixture.GaussianMixture : Mixture model without regression.

    Notes
    -----
    ``coef_`` has shape (n_regimes, n_features) for a 1-D target and
    (n_regimes, n_features, n_outputs) for a 2-D target; ``intercept_`` has
    shape (n_regimes,) or (n_regimes, n_outputs).

    References
    ----------
    H. Zhu, S. Yan, J. Hoffmann and J. Boedecker, "Multi-convex programming
    for discrete latent factor models prototyping", 2025.

    R. M. Neal and G. E. Hinton, "A view of the EM algorithm that justifies
    incremental, sparse, and other variants", Learning in Graphical Models,
    1998.

    J. D. Hamilton, "A new approach to the economic analysis of
    nonstationary time series and the business cycle", Econometrica, 1989.

    Examples
    --------
    >>> from skfactor import SwitchingRegression
    >>> from skfactor.datasets import make_switching_regression
    >>> from skfactor.metrics import regime_accuracy
    >>> X, y, regimes, coef = make_switching_regression(
    ...     n_samples=300, n_features=3, n_regimes=2, noise=0.1, random_state=0)
    >>> model = SwitchingRegression(n_regimes=2, random_state=0).fit(X, y)
    >>> model.coef_.shape
    (2, 3)
    >>> regime_accuracy(regimes, model.labels_) > 0.95
    True
    >>> model.predict_regime(X[:3], y[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "loss": [StrOptions(set(REGRESSION_LOSSES)), callable],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "switching_variance": ["boolean"],
    }
    _multi_output = True

    def __init__(
        self,
        n_regimes=2,
        *,
        loss="squared",
        epsilon=1.0,
        constraints=None,
        penalty="l2",
        alpha=0.0,
        latent="markov",
        smoothing=1.0,
        transition_prior=0.1,
        switching_variance=True,
        fit_intercept=True,
        gating="logistic",
        n_init=10,
        init="random",
        max_iter=500,
        tol=1e-7,
        solver="auto",
        random_state=None,
        n_jobs=None,
        warm_start=False,
        verbose=0,
    ):
        self.n_regimes = n_regimes
        self.loss = loss
        self.epsilon = epsilon
        self.constraints = constraints
        self.penalty = penalty
        self.alpha = alpha
        self.latent = latent
        self.smoothing = smoothing
        self.transition_prior = transition_prior
        self.switching_variance = switching_variance
        self.fit_intercept = fit_intercept
        self.gating = gating
        self.n_init = n_init
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.verbose = verbose

    def _encode_y(self, y, fitting):
        return np.asarray(y, dtype=float)

    def _default_shapes(self, n_features, Y):
        if Y.ndim == 2:
            return (n_features, Y.shape[1]), (Y.shape[1],)
        return (n_features,), ()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the regimes and the latent factors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features; rows in time order when ``smoothing > 0``.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target.

        Returns
        -------
        self : SwitchingRegression
            Fitted estimator.
        """
        X, y = validate_data(
            self, X, y, dtype=np.float64, multi_output=True, y_numeric=True
        )
        self._check_scale(X, y)
        self._check_n_samples(X.shape[0])
        return self._fit_bcd(X, self._encode_y(y, fitting=True))

    def _regime_outputs(self, X):
        """Prediction of every regime, shape (n_regimes, n_samples[, n_outputs])."""
        shape = self.coef_.shape[1:]
        if shape[0] != X.shape[1]:
            raise ValueError(
                f"predict needs linear regimes with coefficients of shape "
                f"(n_features, ...); this model's coefficients have shape "
                f"{shape} (declared by the callable loss). Use predict_regime "
                "for the latent factors."
            )
        return np.stack([X @ c + b for c, b in zip(self.coef_, self.intercept_)])

    def predict(self, X):
        """Predict the target of unseen samples as the gated mixture of regimes.

        :math:`\\hat y(x) = \\sum_k p(k \\mid x) (x^T \\beta_k + b_k)`, with
        :math:`p(k \\mid x)` from the gating model (see ``gating``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        self._check_scale(X, whom="predict")
        outputs = self._regime_outputs(X)
        proba = self._gating_proba(X)
        if outputs.ndim == 3:
            return np.einsum("mk,kmq->mq", proba, outputs)
        return np.einsum("mk,km->m", proba, outputs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
