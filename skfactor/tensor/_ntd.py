"""Sparse nonnegative Tucker decomposition with balancing (SparseNTD)."""

from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from ..utils._penalties import penalty_degree
from ..utils._docstrings import fill_doc
from ..utils.validation import check_nonnegative
from . import _ntd_mu
from ._base import TensorInputMixin, sample_ndim, scale_exponent
from ._init import initialize_tucker
from ._tensor_algebra import tucker_to_tensor

__all__ = ["SparseNTD"]

_BETA = {"kullback-leibler": 1, "frobenius": 2}
_PENALTIES = {"l1", "l2"}


def _run(tensor, ranks, init, rng, problem, settings, name):
    """One fit from the start ``init`` draws with ``rng``, ended by the exact
    sample-mode step (what ``transform`` computes) when it lowers the
    objective.

    Returns
    -------
    core, factors, monitor
        The fit's result and :class:`~skfactor.utils._monitor.ConvergenceMonitor`.
    history : list of float
        The objective history, its last entry that of the returned blocks.
    """
    start = initialize_tucker(tensor, ranks, init, rng)
    core, factors, monitor = _ntd_mu.fit_ntd(
        tensor, *start, problem, name=name, **settings
    )
    history = list(monitor.history)
    exact = _ntd_mu.sample_factor(tensor, core, factors, problem, start=factors[0])
    candidate = [exact, *factors[1:]]
    value = _ntd_mu.objective(tensor, core, candidate, problem)
    if value <= history[-1]:
        factors = candidate
        history[-1] = value
    return core, factors, monitor, history


@fill_doc
class SparseNTD(
    TensorInputMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    r"""Sparse nonnegative Tucker decomposition with balanced scales.

    Fits the nonnegative Tucker model of an :math:`N`-way array
    :math:`T \in \mathbb{R}_+^{I_0 \times \dots \times I_{N-1}}` whose first
    mode holds the samples, with a penalty on the core and on every factor:

    .. math::

        \min_{G \ge 0,\, A_0, \dots, A_{N-1} \ge 0}
            D(T \mid G \times_0 A_0 \times_1 \dots \times_{N-1} A_{N-1})
            + \mu_G \|G\|_1 + \sum_{k=0}^{N-1} \mu_k \|A_k\|_F^2,

    with :math:`D` the generalized Kullback-Leibler divergence (default) or
    half the squared Frobenius norm, core :math:`G` of shape
    :math:`(r_0, \dots, r_{N-1})` and factors :math:`A_k` of shape
    :math:`(I_k, r_k)`. For three modes and :math:`\mu_G = \mu_k = \mu`
    this is the sparse NTD of Cohen and Leplat. Each penalty may be the
    :math:`\ell_1` norm or the squared Frobenius norm (ridge), with its own
    weight.

    The fit is invariant to :math:`A_k \to A_k \Lambda_k^{-1}`,
    :math:`G \to G \times_k \Lambda_k` (positive diagonal
    :math:`\Lambda_k`) while the penalty is not, so after every iteration
    the scales are chosen to minimize the penalty (``balance``): exactly for
    each mode in turn, alternated to convergence (``"sinkhorn"``), or by one
    scalar per block (``"scalar"``). The solver is multiplicative updates
    for Kullback-Leibler (majorization-minimization; for the ridge the
    closed form of Cohen and Leplat, eq. 36, with the penalty applied as
    written) and exact HALS block updates for Frobenius, so the objective
    never increases.

    Data enter as scikit-learn samples, as for :class:`RidgeCPD`: a 2-D
    array whose rows are folded into ``tensor_shape`` (C order), or an N-D
    array ``(n_samples, I_1, ..., I_{N-1})``. :meth:`transform` computes the
    sample-mode factor :math:`A_0` of new samples with the core and the
    other factors fixed.

    Parameters
    ----------
    n_components : int or sequence of int, default=None
        Ranks :math:`(r_0, \dots, r_{N-1})` of the core, the sample mode
        first; an int gives every mode that rank. ``None`` uses
        ``min(tensor_shape)`` for every mode. A non-sample rank may not
        exceed the size of its mode.
    loss : {"kullback-leibler", "frobenius"}, default="kullback-leibler"
        Fit term :math:`D`: generalized Kullback-Leibler divergence (for
        counts, spectrograms) or :math:`\frac12\|T - M\|_F^2`.
    alpha : float, default=0.1
        Common penalty weight :math:`\mu`, used for the core and for every
        factor unless ``alpha_core`` or ``alpha_factors`` says otherwise.
    alpha_core : float, default=None
        Weight :math:`\mu_G` of the core penalty; ``None`` means ``alpha``.
    alpha_factors : float or sequence of float, default=None
        Weights :math:`\mu_k` of the factor penalties, one per mode (sample
        mode first) or one for all; ``None`` means ``alpha``.
    core_penalty : {"l1", "l2"}, default="l1"
        Penalty of the core: :math:`\ell_1` norm (sparsity) or squared
        Frobenius norm.
    factor_penalty : {"l1", "l2"} or sequence of them, default="l2"
        Penalty of every factor, or one per mode (sample mode first).
    balance : {"sinkhorn", "scalar", "none"}, default="sinkhorn"
        Rescaling after the initialization and after every iteration:
        alternating diagonal rescalings of the core against each factor
        (``"sinkhorn"``), one scalar per block (``"scalar"``), or none.
        With ``"sinkhorn"`` and ``"scalar"`` the start is also multiplied by
        the best common scalar.
    init : {"svd", "random"}, default="svd"
        ``"svd"``: the NNDSVDa left factor of every unfolding (the
        initialization of ``BalancedSparseNMF``; random columns beyond a
        mode's size), and the core from the projection of the data on them;
        ``"random"``: every block uniform on [0, 1). Both are then rescaled
        to the data.
    n_init : int, default=4
        Number of runs; the first starts from ``init``, the others from
        random starts (``"random"``), and the run with the smallest final
        objective is kept. The problem is not convex: on the Frobenius
        benchmark's draws, one run from ``"svd"`` ends in a worse local
        minimum than tensorly's HALS on about 3 draws in 100 (24% to 530%
        above it), and a random start reaches tensorly's objective on about
        3 in 4; with four runs every draw of the benchmark's four grids
        did, at 0.12-0.17 of tensorly's time (see the NTD user guide). The
        runs are independent: ``n_jobs`` spreads them; ``n_init=1`` is
        four times faster and deterministic for ``init="svd"``.
    {{max_iter=500}}
    {{tol=1e-5}}
    {{random_state}}
    {{n_jobs}}
    {{verbose}}

    Attributes
    ----------
    core_ : ndarray of shape (r_0, ..., r_{N-1})
        Core :math:`G`, sparse under the :math:`\ell_1` penalty: entries
        are kept at or above :math:`10^{-16}` (times the balancing scales)
        rather than exactly zero, so that they can grow back; count entries
        below a small fraction of ``core_.max()`` as zeros.
    components_ : list of ndarray of shape (I_k, r_k)
        Non-sample factors :math:`A_1, \dots, A_{N-1}`.
    n_components_ : tuple of int
        Ranks :math:`(r_0, \dots, r_{N-1})`.
    tensor_shape_ : tuple of int
        Shape of one sample, ``(I_1, ..., I_{N-1})``.
    reconstruction_err_ : float
        Frobenius norm of the residual on the training data.
    objective_ : ndarray of shape (`n_iter_` + 1,)
        Objective at the initialization and after every iteration, the last
        entry after the final exact solve for :math:`A_0` (see Notes); it
        never increases.
    n_iter_ : int
        Number of outer iterations run.
    n_features_in_ : int
        Number of entries of one sample, ``prod(tensor_shape_)``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` is a 2-D array
        with string column names.

    See Also
    --------
    RidgeCPD : Ridge CP decomposition, the same balancing idea.
    BalancedSparseNMF : The two-mode case with a diagonal core.

    Notes
    -----
    An outer iteration updates :math:`A_0, \dots, A_{N-1}` and then
    :math:`G`, each by one multiplicative update (Kullback-Leibler) or by
    HALS sweeps (Frobenius), and then balances
    (:mod:`skfactor.tensor._ntd_mu`, :mod:`skfactor.tensor._ntd_hals`,
    :mod:`skfactor._balance`). After the
    iterations, :math:`A_0` is replaced by the exact minimizer of the
    objective with the rest fixed (a convex problem solved row by row by
    projected Newton), which is what :meth:`transform` computes, so
    ``fit_transform(X)`` and ``fit(X).transform(X)`` agree.

    Data whose largest entry lies outside :math:`[2^{-32}, 2^{32}]` are
    divided by an exact power of two :math:`2^{(N+1)k}`, every block
    multiplied by :math:`2^k` and the weights adjusted so that the problem
    is unchanged. Computations are in float64; the attributes and outputs
    have the dtype of the input. All-zero data give a zero model.

    References
    ----------
    J. E. Cohen and V. Leplat, "Implicit regularization in regularized
    (nonnegative) low-rank approximations", 2024 (slides: sparse NTD,
    Sinkhorn scaling, the ridge-KL update and the audio redundancy
    experiment).

    Y.-D. Kim and S. Choi, "Nonnegative Tucker decomposition", IEEE CVPR,
    2007 (multiplicative updates for NTD).

    A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale
    nonnegative matrix and tensor factorizations", IEICE Transactions on
    Fundamentals, 2009 (HALS).

    A. Marmoret, J. E. Cohen, N. Bertin and F. Bimbot, "Uncovering audio
    patterns in music with nonnegative Tucker decomposition for structural
    segmentation", ISMIR, 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor import SparseNTD
    >>> rng = np.random.default_rng(0)
    >>> A = [rng.uniform(size=(size, 2)) for size in (20, 8, 6)]
    >>> X = rng.poisson(10 * np.einsum("ia,ja,ka->ijk", *A)).astype(float)
    >>> ntd = SparseNTD(n_components=(2, 2, 2), alpha=0.1, random_state=0)
    >>> U = ntd.fit_transform(X)
    >>> U.shape, ntd.core_.shape, [A.shape for A in ntd.components_]
    ((20, 2), (2, 2, 2), [(8, 2), (6, 2)])
    >>> bool(np.all(np.diff(ntd.objective_) <= 0))
    True
    """

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            "array-like",
            None,
        ],
        "loss": [StrOptions(set(_BETA))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "alpha_core": [Interval(Real, 0, None, closed="left"), None],
        "alpha_factors": [Interval(Real, 0, None, closed="left"), "array-like", None],
        "core_penalty": [StrOptions(_PENALTIES)],
        "factor_penalty": [StrOptions(_PENALTIES), list, tuple],
        "balance": [StrOptions({"sinkhorn", "scalar", "none"})],
        "tensor_shape": ["array-like", None],
        "init": [StrOptions({"svd", "random"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        loss="kullback-leibler",
        alpha=0.1,
        alpha_core=None,
        alpha_factors=None,
        core_penalty="l1",
        factor_penalty="l2",
        balance="sinkhorn",
        tensor_shape=None,
        init="svd",
        n_init=4,
        max_iter=500,
        tol=1e-5,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.loss = loss
        self.alpha = alpha
        self.alpha_core = alpha_core
        self.alpha_factors = alpha_factors
        self.core_penalty = core_penalty
        self.factor_penalty = factor_penalty
        self.balance = balance
        self.tensor_shape = tensor_shape
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------ parameters
    def _per_mode(self, value, name, n_modes, kind):
        """A scalar repeated over the modes, or a sequence of length n_modes."""
        if value is None or isinstance(value, (str, Integral, Real)):
            return [value] * n_modes
        values = list(np.ravel(np.asarray(value, dtype=object)))
        if len(values) != n_modes:
            raise ValueError(
                f"{name} has {len(values)} entries but the data have {n_modes} "
                f"modes (the sample mode first); give one {kind} per mode or a "
                "single one."
            )
        return values

    def _ranks(self, shape):
        n_modes = len(shape)
        if self.n_components is None:
            return (min(shape[1:]),) * n_modes
        ranks = self._per_mode(self.n_components, "n_components", n_modes, "rank")
        for k, rank in enumerate(ranks):
            if not isinstance(rank, Integral) or isinstance(rank, bool) or rank < 1:
                raise ValueError(
                    f"n_components must hold positive integers; got {rank!r} for "
                    f"mode {k}."
                )
            if k > 0 and rank > shape[k]:
                raise ValueError(
                    f"n_components[{k}]={rank} exceeds the size {shape[k]} of mode "
                    f"{k} (samples of shape {tuple(shape[1:])}); a rank larger "
                    "than its mode only adds redundant core slices."
                )
        return tuple(int(r) for r in ranks)

    def _problem(self, n_modes, k=0):
        """Weights and penalties (core first), for data scaled by 2^((N+1)k)."""
        alphas = self._per_mode(self.alpha_factors, "alpha_factors", n_modes, "weight")
        alphas = [self.alpha if a is None else float(a) for a in alphas]
        if any(not np.isfinite(a) or a < 0 for a in alphas):
            raise ValueError(f"alpha_factors must be nonnegative; got {alphas}.")
        penalties = self._per_mode(
            self.factor_penalty, "factor_penalty", n_modes, "penalty"
        )
        for pen in penalties:
            if pen not in _PENALTIES:
                raise ValueError(
                    f"factor_penalty entries must be 'l1' or 'l2'; got {pen!r}."
                )
        alpha_core = self.alpha if self.alpha_core is None else self.alpha_core
        weights = [float(alpha_core), *alphas]
        penalties = [self.core_penalty, *penalties]
        beta = _BETA[self.loss]
        if k:
            # every block times 2^k, the data times 2^((N+1)k): the objective
            # scales by 2^(beta (N+1) k) when the weights follow
            weights = [
                float(
                    np.ldexp(w, int(k * penalty_degree(p)) - beta * (n_modes + 1) * k)
                )
                for w, p in zip(weights, penalties)
            ]
        return _ntd_mu.NTDProblem(beta, weights, penalties)

    def _validated_input(self, X, reset):
        X = self._validate_tensor(X, reset=reset)
        check_nonnegative(X, f"{type(self).__name__}.{'fit' if reset else 'transform'}")
        return X

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit the model and return the sample-mode factor of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, I_1, ..., I_{N-1})
            Nonnegative training data, see ``tensor_shape``.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        U : ndarray of shape (n_samples, n_components_[0])
            Sample-mode factor :math:`A_0`.
        """
        X_in = X
        X = self._validated_input(X, reset=True)
        self._input_ndim = 2 if sample_ndim(X_in) < 3 else X.ndim
        dtype = X.dtype
        tensor = np.asarray(X, dtype=np.float64)
        n_modes = tensor.ndim
        ranks = self._ranks(tensor.shape)
        rng = check_random_state(self.random_state)
        max_abs = float(tensor.max())
        k = scale_exponent(max_abs, n_modes + 1)
        if k:
            tensor = np.ldexp(tensor, -(n_modes + 1) * k)
        problem = self._problem(n_modes, k)
        beta = problem.beta

        if max_abs == 0.0:
            core = np.zeros(ranks)
            factors = [np.zeros((size, r)) for size, r in zip(tensor.shape, ranks)]
            history = [0.0]
            self.n_iter_ = 0
        else:
            name = type(self).__name__
            objective_name = (
                "objective"
                if k == 0
                else f"objective (data scaled by 2^{-(n_modes + 1) * k})"
            )
            settings = dict(
                balance_how=self.balance,
                max_iter=self.max_iter,
                tol=self.tol,
                verbose=self.verbose,
                objective_name=objective_name,
            )
            # the first run with ``rng`` itself, the others from seeds drawn
            # now, so that the result does not depend on n_jobs
            seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_init - 1)
            starts = [(self.init, rng)] + [
                ("random", np.random.RandomState(seed)) for seed in seeds
            ]
            results = Parallel(n_jobs=self.n_jobs)(
                delayed(_run)(
                    tensor,
                    ranks,
                    init,
                    start_rng,
                    problem,
                    settings,
                    name if self.n_init == 1 else f"{name} (init {run + 1})",
                )
                for run, (init, start_rng) in enumerate(starts)
            )
            # the run of lowest final objective (after its exact step)
            core, factors, monitor, history = min(
                results, key=lambda result: result[3][-1]
            )
            monitor.warn_if_not_converged()
            self.n_iter_ = monitor.n_iter

        model = tucker_to_tensor(core, factors)
        with np.errstate(over="ignore"):
            self.objective_ = np.ldexp(np.asarray(history), beta * (n_modes + 1) * k)
            self.reconstruction_err_ = float(
                np.ldexp(np.linalg.norm(tensor - model), (n_modes + 1) * k)
            )
            core = np.ldexp(core, k)
            factors = [np.ldexp(f, k) for f in factors]
        self._scale_exponent = k
        self.n_components_ = ranks
        self.core_ = core.astype(dtype, copy=False)
        self.components_ = [f.astype(dtype, copy=False) for f in factors[1:]]
        return factors[0].astype(dtype, copy=False)

    def fit(self, X, y=None):
        """Fit the sparse nonnegative Tucker model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, I_1, ..., I_{N-1})
            Nonnegative training data, see ``tensor_shape``.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self.fit_transform(X)
        return self

    # -------------------------------------------------------------- transform
    def _scaled_model(self):
        k = self._scale_exponent
        core = np.ldexp(np.asarray(self.core_, dtype=np.float64), -k)
        components = [
            np.ldexp(np.asarray(c, dtype=np.float64), -k) for c in self.components_
        ]
        return core, components

    def transform(self, X):
        """Sample-mode factor of new samples, the core and other factors fixed.

        Solves, for each sample independently, the convex problem of
        :math:`A_0` in the objective (same fit term, same penalty on
        :math:`A_0`) exactly: from a constant start, a few multiplicative
        updates, then projected Newton to convergence.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, I_1, ..., I_{N-1})
            Nonnegative new samples, 2-D (rows folded with
            ``tensor_shape_``) or N-D.

        Returns
        -------
        U : ndarray of shape (n_samples, n_components_[0])
        """
        check_is_fitted(self)
        X = self._validated_input(X, reset=False)
        dtype = X.dtype
        n_modes = X.ndim
        k = self._scale_exponent
        tensor = np.asarray(X, dtype=np.float64)
        if k:
            tensor = np.ldexp(tensor, -(n_modes + 1) * k)
        core, components = self._scaled_model()
        if not np.any(core) or not all(np.any(c) for c in components):
            return np.zeros((X.shape[0], self.n_components_[0]), dtype=dtype)
        problem = self._problem(n_modes, k)
        U = _ntd_mu.sample_factor(tensor, core, [None, *components], problem)
        return np.ldexp(U, k).astype(dtype, copy=False)

    def inverse_transform(self, X):
        """Reconstruct samples from their sample-mode factor.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_[0])
            Sample-mode factor, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features) or \
                (n_samples, I_1, ..., I_{N-1})
            The Tucker model of the samples, 2-D if the model was fitted on
            2-D data, N-D otherwise.
        """
        check_is_fitted(self)
        U = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        rank = self.n_components_[0]
        if U.shape[1] != rank:
            raise ValueError(
                f"X has {U.shape[1]} columns but {type(self).__name__} has {rank} "
                "sample-mode components."
            )
        factors = [np.asarray(U, dtype=np.float64)] + [
            np.asarray(c, dtype=np.float64) for c in self.components_
        ]
        core = np.asarray(self.core_, dtype=np.float64)
        dense = tucker_to_tensor(core, factors).astype(U.dtype, copy=False)
        if self._input_ndim == 2:
            return dense.reshape(U.shape[0], -1)
        return dense

    @property
    def _n_features_out(self):
        return self.n_components_[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
