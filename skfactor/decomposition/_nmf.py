"""Sparse NMF with optimal rescaling (balancing) of the rank-one components."""

import functools
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._docstrings import fill_doc
from ..utils._scaling import scale_exponent
from ..utils.validation import check_nonnegative
from ..utils._monitor import warn_at_caller
from . import _mu
from ._cd import fit_cd
from ._base import _BaseMatrixFactorization
from ._init import auto_rank, check_init_pair, nndsvda_init, random_init
from ._newton import NEWTON_MAX_ITER, solve_activations

__all__ = ["BalancedSparseNMF"]

# Data whose largest entry lies outside [2**-20, 2**20] are rescaled by a
# power of 4 before solving (an exact change of variables, see _unit_scale):
# the epsilon floor of the updates is absolute, so it must not be comparable
# to the factor entries, and 1e300-sized data must not overflow.

# A component whose largest entry of W[:, q] H[q] is below this fraction of
# the largest entry of X is numerically zero (with Kullback-Leibler the
# penalty shrinks components towards zero without ever reaching it).
_NEGLIGIBLE = 1e-6
# Multiplicative updates (Frobenius), or coordinate-descent sweeps (KL), of W
# before the Newton solve of transform: 5 sweeps make transform 1.2-1.4x
# faster than 30 updates (same W; 1000 x 500 rank 10, digits rank 16), and
# from them no held-out fold of the README's digits grid search (780 transforms)
# needed more than 23 Newton iterations, where 30 updates left one needing 121
# (7 since Kullback-Leibler rows also try the active-set point).
_WARM_UP = {2: (_mu.fit_mu, 30), 1: (fit_cd, 5)}
# Above this many flops per Newton iteration of the exact W-step
# (:func:`_newton_work`), warn: at 1e10, tens of seconds on one core.
_NEWTON_WORK_WARN = 1e10


def _newton_work(X, n_components, beta_loss, penalty_W):
    """Flops of the Cholesky solves of one iteration of the exact W-step.

    A row's system has one unknown per free component (not at the bound):
    at most ``n_components``. With the Kullback-Leibler loss and an l1 (or
    no) penalty, the free components at a row's optimum are usually no
    more than its nonzeros plus one (the optimal model on the nonzeros is
    unique, and a vertex of the set of W giving it has that many nonzero
    entries), so sparse rows solve small systems even at a large rank.
    """
    n_samples = X.shape[0]
    if beta_loss != "kullback-leibler" or penalty_W != "l1":
        return n_samples * n_components**3 / 3
    nonzeros = np.diff(X.indptr) if sp.issparse(X) else np.count_nonzero(X, axis=1)
    free = np.minimum(n_components, nonzeros + 1).astype(np.float64)
    return float(np.sum(free**3) / 3)


def _unit_scale(X):
    r"""Power of 4 ``s`` such that ``X / s`` has its maximum near 1 (or 1).

    The package's overflow policy (:mod:`skfactor.utils._scaling`), with an
    even exponent so that both factors take :math:`\sqrt{s}` exactly.
    """
    largest = float(X.max()) if X.shape[0] * X.shape[1] else 0.0
    return float(np.ldexp(1.0, scale_exponent(largest, multiple=2)))


def _scaled_data(X, scale):
    """``X / scale`` in float64, sparse input as canonical CSR (a copy)."""
    Xs = X.astype(np.float64) / scale
    if sp.issparse(Xs):
        Xs = Xs.tocsr()
        Xs.sum_duplicates()
    return Xs


def _scaled_alpha(alpha, penalty, scale, beta):
    r"""Weight of the penalty after the change of variables of ``_unit_scale``.

    With :math:`X = sX'`, :math:`W = \sqrt{s}W'`, :math:`H = \sqrt{s}H'`,
    the objective is :math:`s^\beta` times the same objective in the primed
    variables with :math:`\alpha' = \alpha s^{p/2 - \beta}` (:math:`D_\beta`
    is homogeneous of degree :math:`\beta`, :math:`g` of degree :math:`p`).
    """
    if alpha == 0 or scale == 1.0:
        return float(alpha)
    exponent = _mu.penalty_degree(penalty) / 2.0 - beta
    log_alpha = np.log(alpha) + exponent * np.log(scale)
    # beyond 1e300 the penalty outweighs any fit anyway; stay finite
    return float(np.exp(min(log_alpha, np.log(1e300))))


@fill_doc
class BalancedSparseNMF(_BaseMatrixFactorization):
    r"""Sparse nonnegative matrix factorization with balanced components.

    Finds nonnegative ``W`` (n_samples, n_components) and ``H``
    (n_components, n_features) minimizing

    .. math::

        D_\beta(X \mid WH) + \alpha_W\, g_W(W) + \alpha_H\, g_H(H),

    where :math:`D_1(X \mid Y) = \sum_{ij} x_{ij} \log\frac{x_{ij}}{y_{ij}}
    - x_{ij} + y_{ij}` (``beta_loss="kullback-leibler"``),
    :math:`D_2(X \mid Y) = \frac12 \|X - Y\|_F^2` (``"frobenius"``), and
    :math:`g` is :math:`\|\cdot\|_1 = \sum_{ij} |a_{ij}|` (``"l1"``) or
    :math:`\|\cdot\|_F^2` (``"l2"``, ridge).

    The fit term is invariant to rescaling the components,
    :math:`(W_{:q}, H_{q:}) \to (\lambda W_{:q}, H_{q:}/\lambda)`, but the
    penalty is not. With ``balance="every"`` the optimal rescaling (closed
    form, Cohen and Leplat eq. 7-11, :mod:`skfactor._balance`) is applied
    after each iteration of the inner solver, which removes the slow drift
    of the scales that plain updates suffer when a penalty is active (on
    Cohen's 30 x 30 set-up, the loss of 100 plain iterations is reached in
    about 30).

    Read more in the :doc:`user guide </user_guide/nmf>`.

    Parameters
    ----------
    n_components : int, "auto" or None, default="auto"
        Number of components. ``"auto"`` takes it from ``init`` when it is a
        pair of arrays and otherwise from the spectrum of ``X``: the rank
        :math:`k \le \max(1, \lfloor 0.2 \min(n_\text{samples},
        n_\text{features}) \rfloor)` of the largest relative drop of the
        energy left unexplained by the best rank-:math:`k` approximation
        (:func:`skfactor.decomposition._init.auto_rank`), so the fit stays
        low-rank and fast. ``None`` uses ``n_features``. A value above
        ``min(n_samples, n_features)`` gives a warning (the factorization is
        then not low-rank), and so does a rank whose exact W-step (cubic in
        the rank) would take long.
    beta_loss : {"kullback-leibler", "frobenius"}, default="kullback-leibler"
        Fit term :math:`D_1` or :math:`D_2`.
    alpha_W : float, default=0.0
        Weight :math:`\alpha_W` of the penalty of ``W``, applied exactly as
        written above. scikit-learn's :class:`~sklearn.decomposition.NMF`
        multiplies its ``alpha_W`` by ``n_features`` (and halves the ridge
        term), ``alpha_H`` by ``n_samples``: the same objective is obtained
        with ``alpha_W = sk_alpha_W * l1_ratio * n_features`` for ``"l1"``
        and ``alpha_W = 0.5 * sk_alpha_W * (1 - l1_ratio) * n_features`` for
        ``"l2"`` (``n_samples`` for ``alpha_H``).
    alpha_H : float, default=0.0
        Weight :math:`\alpha_H` of the penalty of ``H``. The solutions depend
        essentially on :math:`\sqrt{\alpha_W \alpha_H}` (Cohen and Leplat, eq. 19);
        with a single positive weight the penalty can be shrunk to zero by
        rescaling and balancing has no effect.
    penalty_W : {"l1", "l2"}, default="l1"
        :math:`g_W`: entrywise l1 norm (sparsity) or squared Frobenius norm.
    penalty_H : {"l1", "l2"}, default="l1"
        :math:`g_H`.
    balance : {"every", "init", "none"}, default="every"
        ``"every"``: optimal scalar rescaling of the initial factors and
        balancing of the components at initialization and after every
        iteration (the meta-algorithm of Cohen and Leplat). ``"init"``: at
        initialization only. ``"none"``: plain multiplicative updates from
        the initial factors as given.
    init : {"random", "nndsvda"} or (W, H), default="nndsvda"
        Initial factors: half-normal random entries of scale
        :math:`\sqrt{\bar X / r}`, or nonnegative double SVD with its zeros
        replaced by that value (components beyond
        ``min(n_samples, n_features)`` random), or
        a pair of nonnegative arrays of shapes (n_samples, n_components) and
        (n_components, n_features).
    solver : {"auto", "mu", "cd"}, default="auto"
        Inner solver of the meta-algorithm (the update of the factors
        between two balancings). ``"mu"``: multiplicative updates, the
        algorithm of Cohen and Leplat. ``"cd"``: coordinate descent, for
        Kullback-Leibler cyclic one-dimensional Newton steps per entry
        (Hsieh and Dhillon), started from accelerated HALS on the matched
        Frobenius problem (kept if it lowers the Kullback-Leibler
        objective, :mod:`skfactor.decomposition._cd`), for Frobenius HALS
        (Cichocki and Phan). On dense data from about 300 x 200 up (rank
        10), those HALS iterations start on a randomized sketch
        :math:`QQ^\top X` of ``X`` (rank ``n_components + 10``), where
        they cost a fraction of those on ``X``. Every solver keeps the objective
        non-increasing and balances after each iteration. ``"auto"``:
        ``"cd"`` for both losses. With the default ``tol`` and ``max_iter``
        (``benchmarks/search_nmf_solver.py``), Kullback-Leibler coordinate
        descent took 0.17 of the multiplicative updates' time on synthetic
        dense draws the benchmark never judges (mean of 24 fits) and ended
        31% lower on average (3.3% higher on one); 0.74 of their time on
        sparse data, ending lower on every fit (0.47% on average); 1.02 of
        their time on four real dense data sets, ending 2.1% lower on
        average (4.9% higher at worst, on wine). For
        Frobenius, accelerated HALS took 0.24 of their time and ended lower
        on every draw (see the user guide).
    n_inner : int or "auto", default="auto"
        Number of updates (``"mu"``) or sweeps (``"cd"``) of ``W``, then of
        ``H``, per iteration; balancing and the stopping test happen once
        per iteration. For the multiplicative updates and Kullback-Leibler
        coordinate descent, 1 converges fastest per update (``"auto"`` is
        1); larger values reproduce the outer/inner scheme of Cohen and
        Leplat, whose iteration counts are outer iterations. For Frobenius
        coordinate descent, ``"auto"`` is accelerated HALS (Gillis and
        Glineur): an iteration sweeps each factor as long as a sweep costs
        little next to the products with ``X`` and still changes the
        factor by at least a tenth of what the first sweep did
        (:mod:`skfactor.decomposition._hals`). With the other defaults
        (``benchmarks/search_nmf_solver.py --inner``) it took 0.67 of the
        time of one sweep per iteration on average (1.04 at worst) and
        ended lower on each of 24 synthetic fits; on 24 fits of real data
        sets from several starts, 0.97 of the time on average (1.36 at
        worst), ending 6.6% lower on average and at most 0.19% higher.
        Its iterations after the first five are extrapolated (Ang and
        Gillis; :mod:`skfactor.decomposition._extrapolation`): about a
        third fewer to the same objective, and default-setting fits end
        lower (``benchmarks/search_nmf_solver.py --extrapolate-hals``); an
        integer ``n_inner`` runs plain HALS.
    {{max_iter=500}}
    {{tol=1e-4}}
    random_state : int, RandomState instance or None, default=None
        Seed of the random initialization and of the sketch of ``X`` that
        coordinate descent starts on (see ``solver``). Pass an int for
        reproducible results across calls. See the `scikit-learn glossary
        <https://scikit-learn.org/stable/glossary.html#term-random_state>`__.
    {{verbose}}

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Factor ``H``.
    n_components_ : int
        Number of components.
    reconstruction_err_ : float
        :math:`\sqrt{2 D_\beta(X \mid WH)}` at the end of the fit (for
        ``"frobenius"``, the Frobenius norm of the residual), as in
        scikit-learn.
    objective_ : ndarray of shape (`n_iter_` + 2,)
        Objective (fit plus penalties) at initialization, after each
        iteration, and after the final exact W-step (see Notes). It never
        increases, up to rounding errors (relative to the size of ``X``,
        visible only for near-exact fits). In the units of ``X``: with
        Frobenius on data near 1e300 it overflows to ``inf`` (near 1e-300,
        underflows to 0), while the factors stay exact.
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.decomposition.NMF : Same model family, without balancing.

    Notes
    -----
    ``solver="mu"`` runs multiplicative updates, each the exact minimizer
    of a majorizer of the objective (:mod:`skfactor.decomposition._mu`;
    eq. 26, 27 and 36 of Cohen and Leplat); ``solver="cd"`` runs
    coordinate descent (:mod:`skfactor.decomposition._kl_cd`,
    :mod:`skfactor.decomposition._hals`), each step an exact or safeguarded
    minimization in one entry or column. Either way the objective never
    increases. Entries are
    kept at or above :math:`\epsilon = 10^{-16}` instead of being set to
    zero: scikit-learn's KL updates set entries of ``H`` below machine
    epsilon to exactly zero, and a zero entry of a multiplicative update
    stays zero forever ("zero locking"); a floored entry can grow back.
    Report entries at the floor as zeros when measuring sparsity.

    After the iterations, ``W`` is replaced by the exact minimizer of the
    objective for the final ``H`` (a convex problem, solved by projected
    Newton, :mod:`skfactor.decomposition._newton`): this never increases
    the objective, and it is the computation ``transform`` performs, so
    ``fit_transform(X)`` and ``fit(X).transform(X)`` agree to rounding.

    Sparse input (CSR) is never densified: with Kullback-Leibler the ratio
    :math:`X / (WH)` is evaluated only at the nonzeros of ``X``, so the cost
    per iteration is linear in the number of nonzeros.

    The Kullback-Leibler iterations and the exact W-step are compiled with
    numba: the first fit in a new environment compiles them (a few seconds,
    once; they are cached on disk).

    Computations run in float64; float32 input gives float32 outputs.

    References
    ----------
    J. E. Cohen, "Implicit regularization in regularized (nonnegative)
    low-rank approximations", talk, Palaiseau, March 2024 (joint work with
    V. Leplat; cited as Cohen and Leplat).

    C.-J. Hsieh and I. S. Dhillon, "Fast coordinate descent methods with
    variable selection for non-negative matrix factorization", KDD 2011.

    N. Gillis and F. Glineur, "Accelerated multiplicative updates and
    hierarchical ALS algorithms for nonnegative matrix factorization",
    Neural Computation, 2012.

    A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale
    nonnegative matrix and tensor factorizations", IEICE Transactions on
    Fundamentals, 2009.

    Examples
    --------
    >>> from skfactor import BalancedSparseNMF
    >>> from skfactor.datasets import make_sparse_nmf
    >>> X, W_true, H_true = make_sparse_nmf(random_state=0)
    >>> model = BalancedSparseNMF(n_components=4, alpha_W=0.1, alpha_H=0.1,
    ...                           random_state=0)
    >>> W = model.fit_transform(X)
    >>> W.shape, model.components_.shape
    ((30, 4), (4, 30))
    >>> bool(model.objective_[-1] < model.objective_[0])
    True
    """

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            None,
        ],
        "beta_loss": [StrOptions(set(_mu.BETA))],
        "alpha_W": [Interval(Real, 0, None, closed="left")],
        "alpha_H": [Interval(Real, 0, None, closed="left")],
        "penalty_W": [StrOptions({"l1", "l2"})],
        "penalty_H": [StrOptions({"l1", "l2"})],
        "balance": [StrOptions({"every", "init", "none"})],
        "init": [StrOptions({"random", "nndsvda"}), tuple, list],
        "solver": [StrOptions({"auto", "mu", "cd"})],
        "n_inner": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components="auto",
        *,
        beta_loss="kullback-leibler",
        alpha_W=0.0,
        alpha_H=0.0,
        penalty_W="l1",
        penalty_H="l1",
        balance="every",
        init="nndsvda",
        solver="auto",
        n_inner="auto",
        max_iter=500,
        tol=1e-4,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.beta_loss = beta_loss
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.penalty_W = penalty_W
        self.penalty_H = penalty_H
        self.balance = balance
        self.init = init
        self.solver = solver
        self.n_inner = n_inner
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    # -- helpers -----------------------------------------------------------

    def _validate_X(self, X, reset, whom):
        X = validate_data(
            self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=reset
        )
        check_nonnegative(X, f"{type(self).__name__}.{whom}")
        return X

    def _problem(self, scale):
        """Loss and penalty weights of the problem on data divided by ``scale``."""
        beta = _mu.BETA[self.beta_loss]
        return dict(
            beta=beta,
            alpha_W=_scaled_alpha(self.alpha_W, self.penalty_W, scale, beta),
            alpha_H=_scaled_alpha(self.alpha_H, self.penalty_H, scale, beta),
            penalty_W=self.penalty_W,
            penalty_H=self.penalty_H,
        )

    def _solver_args(self, scale):
        name = type(self).__name__
        objective_name = "objective"
        if scale != 1.0:
            objective_name = f"objective of the data divided by {scale:g}"
        return dict(
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            name=name,
            objective_name=objective_name,
        )

    def _initial_factors(self, Xs, n_components, scale, rng):
        if isinstance(self.init, (tuple, list)):
            W, H = check_init_pair(
                self.init, Xs.shape, n_components, f"{type(self).__name__}.fit"
            )
            W, H = W / np.sqrt(scale), H / np.sqrt(scale)
        else:
            make = random_init if self.init == "random" else nndsvda_init
            W, H = make(Xs, n_components, rng)
        return np.maximum(W, _mu.EPSILON), np.maximum(H, _mu.EPSILON)

    def _resolved_solver(self):
        """The ``solver`` that runs: ``"auto"`` is coordinate descent for both
        losses (see the ``solver`` parameter)."""
        return "cd" if self.solver == "auto" else self.solver

    def _resolved_n_inner(self):
        """The ``n_inner`` that runs: ``"auto"`` is accelerated HALS for
        Frobenius coordinate descent, one update otherwise."""
        if self.n_inner != "auto":
            return self.n_inner
        frobenius = _mu.BETA[self.beta_loss] == 2
        return "auto" if frobenius and self._resolved_solver() == "cd" else 1

    def _resolve_n_components(self, X):
        if isinstance(self.n_components, Integral):
            return int(self.n_components)
        if self.n_components == "auto" and isinstance(self.init, (tuple, list)):
            W = np.asarray(self.init[0]) if len(self.init) else np.empty(0)
            if W.ndim == 2:
                return W.shape[1]
        if self.n_components == "auto":
            return auto_rank(X, check_random_state(self.random_state))
        return X.shape[1]

    # -- public API --------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Learn the factorization of X and return the activations W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Nonnegative data. Sparse input is converted to CSR and never
            densified.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Activations; ``W @ components_`` approximates X.
        """
        X = self._validate_X(X, reset=True, whom="fit")
        n_samples, n_features = X.shape
        n_components = self._resolve_n_components(X)
        if n_components > min(n_samples, n_features):
            warn_at_caller(
                f"n_components={n_components} is larger than min(n_samples, "
                f"n_features) = {min(n_samples, n_features)}: the factorization is "
                "not low-rank and its components are not identifiable.",
                UserWarning,
            )
        newton_work = _newton_work(X, n_components, self.beta_loss, self.penalty_W)
        if newton_work > _NEWTON_WORK_WARN:
            warn_at_caller(
                f"n_components={n_components}: the exact W-step (projected Newton, "
                f"about {newton_work:.1e} flops per iteration for the solves on "
                "each row's free components, also in transform) will take long; "
                "use fewer components (n_components='auto' picks a low rank).",
                UserWarning,
            )
        scale = _unit_scale(X)
        Xs = _scaled_data(X, scale)
        problem = self._problem(scale)
        rng = check_random_state(self.random_state)
        W, H = self._initial_factors(Xs, n_components, scale, rng)
        if self.balance != "none":
            W, H = _mu.rescale_init(Xs, W, H, **problem)
        if self._resolved_solver() == "cd":  # (the sketch of its start)
            fit = functools.partial(fit_cd, random_state=rng)
        else:
            fit = _mu.fit_mu
        W, H, monitor = fit(
            Xs,
            W,
            H,
            **problem,
            balance_every=self.balance == "every",
            n_inner=self._resolved_n_inner(),
            **self._solver_args(scale),
        )
        monitor.warn_if_not_converged()
        # Final exact W-step: the same computation as transform, so that
        # fit_transform(X) and fit(X).transform(X) agree.
        W_exact, _ = self._solve_W(Xs, W, H, problem, scale, monitor.history[-1])
        beta = problem["beta"]
        divergence = _mu.beta_divergence(Xs, W_exact, H, beta)
        penalties = {key: value for key, value in problem.items() if key != "beta"}
        final = divergence + _mu.penalty(W_exact, H, **penalties)
        if final <= monitor.history[-1]:
            W = W_exact
        else:  # only at rounding level, e.g. an exact fit with objective ~0
            final = monitor.history[-1]
            divergence = _mu.beta_divergence(Xs, W, H, beta)
        history = monitor.history + [final]
        self._warn_if_every_component_is_zero(Xs, W, H)

        root = np.sqrt(scale)
        self._scale = scale
        self.n_components_ = n_components
        self.components_ = (root * H).astype(X.dtype)
        self.n_iter_ = monitor.n_iter
        history = np.asarray(history)
        with np.errstate(over="ignore", under="ignore"):
            # an exact fit (0) stays 0 even when scale**beta overflows
            self.objective_ = np.where(
                history == 0, 0.0, history * np.float64(scale) ** beta
            )
        self.reconstruction_err_ = float(
            np.sqrt(2.0 * max(divergence, 0.0)) * scale ** (beta / 2.0)
        )
        return (root * W).astype(X.dtype)

    def transform(self, X):
        """Activations W of new data, with the components fixed.

        Solves the W-subproblem of the same objective (same fit term and
        penalty on W, components fixed) exactly: from a constant start
        rescaled optimally, 5 coordinate-descent sweeps (Kullback-Leibler)
        or 30 multiplicative updates (Frobenius), then projected Newton to
        convergence. Rows are solved independently.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Nonnegative data.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Activations.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False, whom="transform")
        scale = self._scale
        Xs = _scaled_data(X, scale)
        H = self.components_.astype(np.float64) / np.sqrt(scale)
        problem = self._problem(scale)
        W = np.ones((X.shape[0], self.n_components_))
        W, _ = _mu.rescale_init(Xs, W, H, **problem, fit_H=False)
        # a few updates bring the start into the region where Newton
        # converges fast (far from it, entries near 0 with a large
        # Kullback-Leibler curvature make Newton crawl)
        warm_up, n_updates = _WARM_UP[problem["beta"]]
        W, _, monitor = warm_up(
            Xs, W, H, **problem, fit_H=False, max_iter=n_updates, tol=0
        )
        W, _ = self._solve_W(Xs, W, H, problem, scale, monitor.history[-1])
        return (np.sqrt(scale) * W).astype(X.dtype)

    def _solve_W(self, Xs, W, H, problem, scale, objective):
        """Exact minimizer in W of the objective for fixed H (projected Newton).

        ``objective`` is the objective at ``(W, H)``.
        """
        constant = problem["alpha_H"] * _mu.penalty_values(H.T, self.penalty_H).sum()
        solver_args = self._solver_args(scale)
        solver_args.pop("tol")
        solver_args["max_iter"] = NEWTON_MAX_ITER
        solver_args["name"] = f"{solver_args['name']} (exact W-step)"
        W, monitor = solve_activations(
            Xs,
            H,
            W,
            beta=problem["beta"],
            alpha=problem["alpha_W"],
            penalty=problem["penalty_W"],
            constant=constant,
            initial_objective=objective,
            **solver_args,
        )
        if not monitor.converged:
            warn_at_caller(
                f"{solver_args['name']} did not converge in {NEWTON_MAX_ITER} "
                "Newton iterations; W is the last iterate.",
                ConvergenceWarning,
            )
        return W, monitor

    def _warn_if_every_component_is_zero(self, Xs, W, H):
        if not (self.alpha_W > 0 or self.alpha_H > 0):
            return
        largest = float(Xs.max()) if Xs.shape[0] * Xs.shape[1] else 0.0
        if largest <= 0:
            return
        contribution = W.max(axis=0) * H.max(axis=1)
        if np.all(contribution <= _NEGLIGIBLE * largest):
            warn_at_caller(
                f"Every component is zero: the penalties alpha_W={self.alpha_W:g} "
                f"({self.penalty_W}) and alpha_H={self.alpha_H:g} ({self.penalty_H}) "
                "outweigh the fit of the data, so every entry of the fitted model "
                f"W @ H is below {_NEGLIGIBLE:g} times the largest entry of X. "
                "Decrease alpha_W or alpha_H.",
                UserWarning,
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        return tags
