"""SwitchingClassifier: K linear classifiers and a latent regime per sample."""

import numpy as np
from scipy.special import softmax
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._docstrings import fill_doc
from ._base import COMMON_CONSTRAINTS, _BaseSwitching
from ._parameter_docs import PARAMETER_DOCS
from ._bcd import one_hot
from ._losses import CLASSIFICATION_LOSSES, class_probabilities, linear_predictor


@fill_doc(fragments=PARAMETER_DOCS)
class SwitchingClassifier(ClassifierMixin, _BaseSwitching):
    r"""Switching (mixture of) linear classifiers fitted by block coordinate descent.

    Each sample :math:`i` belongs to one of :math:`K` regimes through a
    latent factor :math:`z_i` on the probability simplex, and regime
    :math:`k` is a linear classifier with parameters :math:`\theta_k =
    (\beta_k, b_k)`. The fit solves the relaxed discrete latent factor
    problem of Zhu et al. (2025) with the negative log-likelihood of a
    softmax model as loss, a penalty and an optional temporal smoothing of
    the latent factors (an input-output hidden Markov model when the rows
    are a time series):

    .. math::

        \min_{\theta, z} \; \sum_{i=1}^m \sum_{k=1}^K z_{ik} \,
            \Big(\log \sum_{c} e^{u_{ikc}} - u_{ik y_i}\Big)
            + \alpha \sum_{k=1}^K P(\beta_k)
            + \lambda \sum_{t=1}^{m-1} D_{\mathrm{KL}}(z_t, z_{t+1}),
        \quad u_{ik} = \beta_k^T x_i + b_k,

    subject to :math:`z_i \in \Delta_K` and :math:`\theta_k \in
    \mathcal{C}_k`, by block coordinate descent (P-step: weighted logistic
    regressions by Newton's method, or cvxpy with constraints or non-smooth
    penalties; F-step: smallest loss, or a linear-time barrier method with
    smoothing). ``n_init`` restarts keep the best objective. That is
    ``latent="smoothed"`` (``"independent"``: :math:`\lambda = 0`).

    With ``latent="markov"`` (the default) the regimes form a hidden Markov
    chain and the classifiers are its emissions (a GLM-HMM, or
    input-output HMM): the fit maximizes the penalized likelihood
    :math:`\log p(y \mid X) - \alpha \sum_k P(\beta_k)` by EM, which is
    block coordinate descent on the free energy (exact posterior by
    forward-backward, then the same weighted classifiers with the posterior
    as weights, and the chain in closed form). Read more in the
    :ref:`User Guide <switching>`.

    Parameters
    ----------
    {{n_regimes}}
    loss : {"multinomial", "logistic"} or callable, default="multinomial"
        ``"multinomial"``: softmax over the classes with coefficients of
        shape (n_features, n_classes) per regime (any number of classes).
        ``"logistic"``: binary logistic regression, :math:`\log(1 + e^u) - y
        u` with :math:`u = x^T \beta + b` and :math:`y \in \{0, 1\}` the
        index of the class in ``classes_``; coefficients of shape
        (n_features,). A callable ``loss(X, y, coef, intercept)`` receives
        the training ``X``, ``y`` as integer class indices into ``classes_``
        (ndarray of shape (n_samples,)), one regime's coefficient variable
        (:class:`cvxpy.Variable` of shape (n_features,) unless declared
        otherwise with :func:`~skfactor.switching.cvxpy_loss`) and its
        intercept, and returns a convex cvxpy expression of shape
        (n_samples,), the negative log-likelihood of each sample: class
        probabilities are then :math:`p(c \mid x) \propto
        \exp(-\mathrm{loss}(x, c))`.
    {{constraints}}
    {{penalty}}
    {{alpha=1.0}}
    {{latent}}
    {{smoothing}}
    {{transition_prior}}
    {{fit_intercept}}
    {{gating}}
    {{n_init=4}}
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
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    {{attributes}}

    See Also
    --------
    SwitchingRegression : The same model with regression losses.
    sklearn.linear_model.LogisticRegression : One regime, no latent factor.

    Notes
    -----
    ``coef_`` has shape (n_regimes, n_features, n_classes) for
    ``"multinomial"`` and (n_regimes, n_features) for ``"logistic"``;
    ``intercept_`` has shape (n_regimes, n_classes) or (n_regimes,).

    Without smoothing, hard assignments let each regime specialize on the
    samples it predicts best, including by their label; the gating model
    then carries part of the prediction. Latent regimes are identifiable
    from classification data mostly through temporal smoothing and
    constraints, as in Zhu et al.'s examples.

    References
    ----------
    H. Zhu, S. Yan, J. Hoffmann and J. Boedecker, "Multi-convex programming
    for discrete latent factor models prototyping", 2025.

    R. M. Neal and G. E. Hinton, "A view of the EM algorithm that justifies
    incremental, sparse, and other variants", Learning in Graphical Models,
    1998.

    Z. C. Ashwood, N. A. Roy, I. R. Stone et al., "Mice alternate between
    discrete strategies during perceptual decision-making", Nature
    Neuroscience, 2022.

    Examples
    --------
    >>> from skfactor import SwitchingClassifier
    >>> from skfactor.datasets import make_switching_classification
    >>> X, y, regimes, coef = make_switching_classification(
    ...     n_samples=400, n_features=2, n_regimes=2, transition_matrix=0.98,
    ...     random_state=0)
    >>> model = SwitchingClassifier(n_regimes=2, loss="logistic",
    ...                             random_state=0).fit(X, y)
    >>> model.coef_.shape
    (2, 2)
    >>> model.predict_proba(X[:2]).sum(axis=1)
    array([1., 1.])
    """

    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES)), callable],
    }
    _multi_output = False

    def __init__(
        self,
        n_regimes=2,
        *,
        loss="multinomial",
        constraints=None,
        penalty="l2",
        alpha=1.0,
        latent="markov",
        smoothing=1.0,
        transition_prior=0.1,
        fit_intercept=True,
        gating="logistic",
        n_init=4,
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
        self.constraints = constraints
        self.penalty = penalty
        self.alpha = alpha
        self.latent = latent
        self.smoothing = smoothing
        self.transition_prior = transition_prior
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
        if fitting:
            check_classification_targets(y)
            classes = np.unique(y)
            if classes.size < 2:
                raise ValueError(
                    "SwitchingClassifier needs samples of at least 2 classes; "
                    f"got 1 class ({classes[0]!r})."
                )
            if self.loss == "logistic" and classes.size > 2:
                raise ValueError(
                    f"loss='logistic' is binary but y has {classes.size} classes; "
                    "use loss='multinomial'."
                )
            self.classes_ = classes
        unseen = ~np.isin(y, self.classes_)
        if np.any(unseen):
            raise ValueError(
                f"y contains labels not seen during fit: {np.unique(y[unseen])[:5]}."
            )
        codes = np.searchsorted(self.classes_, y)
        if self.loss == "logistic":
            return codes.astype(float)
        if self.loss == "multinomial":
            return one_hot(codes, self.classes_.size)
        return codes

    def _default_shapes(self, n_features, Y):
        if self.loss == "multinomial":
            n_classes = self.classes_.size
            return (n_features, n_classes), (n_classes,)
        return (n_features,), ()

    def _kmeans_features(self, X, Y):
        if Y.ndim == 1:
            Y = one_hot(Y.astype(int), self.classes_.size)
        return np.column_stack([X, Y])

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the regimes and the latent factors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features; rows in time order when ``smoothing > 0``.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : SwitchingClassifier
            Fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        self._check_scale(X)
        self._check_n_samples(X.shape[0])
        Y = self._encode_y(y, fitting=True)
        return self._fit_bcd(X, Y)

    def _regime_class_proba(self, X):
        """Class probabilities per regime, shape (n_regimes, n_samples, n_classes)."""
        if not callable(self.loss):
            return np.stack(
                [
                    class_probabilities(self.loss, linear_predictor(X, c, b))
                    for c, b in zip(self.coef_, self.intercept_)
                ]
            )
        regime_loss = self._fitted_regime_loss()
        m, n_classes = X.shape[0], self.classes_.size
        proba = []
        for c, b in zip(self.coef_, self.intercept_):
            neg_log = np.column_stack(
                [regime_loss.values(X, np.full(m, j), c, b) for j in range(n_classes)]
            )
            proba.append(softmax(-neg_log, axis=1))
        return np.stack(proba)

    def predict_proba(self, X):
        """Class probabilities of unseen samples: the gated mixture of regimes.

        :math:`p(c \\mid x) = \\sum_k p(k \\mid x) \\, p_k(c \\mid x)`, with
        :math:`p(k \\mid x)` from the gating model (see ``gating``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        self._check_scale(X, whom="predict_proba")
        gates = self._gating_proba(X)
        proba = np.einsum("mk,kmc->mc", gates, self._regime_class_proba(X))
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable class of unseen samples (see :meth:`predict_proba`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
