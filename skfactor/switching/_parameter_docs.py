"""Parameter descriptions shared by SwitchingRegression and SwitchingClassifier.

Filled into their docstrings by ``fill_doc(fragments=PARAMETER_DOCS)``
(:func:`skfactor.utils._docstrings.fill_doc`).
"""

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
    Newton's method for the logistic and multinomial losses, L-BFGS for
    Huber's, all with an l2 penalty or none and no
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
