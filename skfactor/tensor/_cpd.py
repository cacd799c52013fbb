"""Ridge-regularized CP decomposition with optimal balancing (RidgeCPD)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from ..utils._docstrings import fill_doc
from ..utils._linalg import column_signs
from ._base import TensorInputMixin, sample_ndim, scale_exponent
from ._als import (
    fit_ridge_cp,
    nonnegative_ridge_least_squares,
    ridge_least_squares,
)
from ._init import initialize_cp
from ._tensor_algebra import (
    component_norms,
    cp_to_tensor,
    gram_hadamard,
    mttkrp,
)

__all__ = ["RidgeCPD"]

# A component counts in ``n_components_effective_`` when its norm exceeds
# this fraction of the norm of the data.
EFFECTIVE_COMPONENT_RTOL = 1e-6

# Beyond this ridge weight (on data rescaled to entries of order one), any
# nonzero component costs more than the data can pay back: the zero model is
# the solution.
_ALPHA_ZERO_SOLUTION = 1e200


def count_effective_components(weights, data_norm):
    """Number of components whose norm exceeds ``1e-6 * data_norm``.

    >>> count_effective_components([3.0, 1e-9, 0.0], data_norm=5.0)
    1
    """
    weights = np.asarray(weights, dtype=float)
    return int(np.count_nonzero(weights > EFFECTIVE_COMPONENT_RTOL * data_norm))


@fill_doc
class RidgeCPD(
    TensorInputMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    r"""Ridge-regularized CP tensor decomposition with optimal balancing.

    Fits the CANDECOMP/PARAFAC model of an :math:`N`-way array
    :math:`T \in \mathbb{R}^{I_0 \times \dots \times I_{N-1}}` whose first
    mode holds the samples, with a ridge penalty on every factor:

    .. math::

        \min_{A_0, \dots, A_{N-1}}
            \Bigl\|T - \sum_{q=1}^{r} A_0[:, q] \circ \dots \circ A_{N-1}[:, q]
            \Bigr\|_F^2 + \alpha \sum_{k=0}^{N-1} \|A_k\|_F^2,

    optionally with :math:`A_k \ge 0` for all :math:`k`. Because the fit is
    invariant to rescaling the columns of a component while the penalty is
    not, the solutions are balanced, and the problem is equivalent to
    (Cohen and Leplat, eq. 25)

    .. math::

        \min_{\mathrm{rank}(L_q) \le 1}
            \Bigl\|T - \sum_{q=1}^{r} L_q\Bigr\|_F^2
            + N \alpha \sum_{q=1}^{r} \|L_q\|_F^{2/N}:

    the ridge acts as a rank-sparsifying penalty (a nuclear norm for
    :math:`N = 2`), so when ``n_components`` over-estimates the rank the
    superfluous components shrink to zero. The number that survive is
    ``n_components_effective_``.

    The solver alternates over the modes, each update minimizing exactly in
    closed form (ALS) or, when ``nonnegative``, by hierarchical ALS (HALS),
    and rescales the components optimally (:mod:`skfactor._balance`) after
    every outer iteration (``balance="every"``), which Cohen and Leplat show to
    speed up convergence considerably.

    Data enter as scikit-learn samples: either a 2-D array of shape
    ``(n_samples, n_features)`` whose rows are folded into arrays of shape
    ``tensor_shape`` (C order), so :math:`T` has shape
    ``(n_samples, *tensor_shape)``, or directly an N-D array
    ``(n_samples, I_1, ..., I_{N-1})``. :meth:`transform` computes the
    sample-mode factor of new samples with the other factors fixed.

    Parameters
    ----------
    n_components : int, default=None
        Number of components :math:`r` (the CP rank). Over-estimating it is
        safe: the ridge removes the superfluous components. ``None`` uses the
        smallest non-sample dimension, ``min(tensor_shape)``.
    alpha : float, default=1.0
        Ridge weight :math:`\alpha \ge 0`, applied exactly as in the
        objective above, so its useful range scales with the data: doubling
        the data calls for :math:`2^{2 - 2/N}` times the ``alpha``.
    nonnegative : bool, default=False
        Constrain every factor to be nonnegative (solved by HALS). The data
        may still have negative entries: only the factors are constrained.
    tensor_shape : tuple of int, default=None
        Shape into which each row of a 2-D ``X`` is folded (C order), with
        ``prod(tensor_shape) == n_features``. ``None`` keeps the rows as
        vectors (a matrix factorization, :math:`N = 2`). For an N-D ``X`` it
        must be ``None`` or equal to ``X.shape[1:]``.
    balance : {"every", "init", "none"}, default="every"
        Optimal rescaling of the components: after the initialization and
        after every outer iteration (``"every"``), after the initialization
        only (``"init"``, which also rescales the initial factors by the
        best common scalar), or never (``"none"``).
    init : {"svd", "random"}, default="svd"
        ``"svd"``: leading singular vectors of the unfoldings of the
        non-sample modes (absolute values when ``nonnegative``; random
        columns beyond a mode's size), and the sample mode by one ridge
        update. ``"random"``: all factors uniform on [0, 1). Both are then
        rescaled to the scale of the data.
    {{max_iter=3000}}
    {{tol=1e-7}}
    {{random_state}}
    {{verbose}}

    Attributes
    ----------
    components_ : list of ndarray of shape (I_k, n_components)
        The non-sample factors :math:`A_1, \dots, A_{N-1}`, balanced (with
        ``balance="every"``, every column of a component has the norm
        ``weights_[q] ** (1 / N)``). Components are sorted by decreasing
        norm, so the effective ones come first.
    weights_ : ndarray of shape (n_components,)
        Norm :math:`\|L_q\|_F = \prod_k \|A_k[:, q]\|_2` of each rank-one
        component (invariant to balancing), in decreasing order. The factors
        already include it: it is not an extra multiplier.
    n_components_effective_ : int
        Number of components that survive the ridge: those whose norm
        exceeds ``1e-6`` times the Frobenius norm of the training data.
    tensor_shape_ : tuple of int
        Shape of one sample, ``(I_1, ..., I_{N-1})``.
    reconstruction_err_ : float
        Frobenius norm of the residual :math:`\|T - [\![A_0, \dots,
        A_{N-1}]\!]\|_F` on the training data.
    objective_ : ndarray of shape (`n_iter_` + 1,)
        Objective (fit plus penalty) at the initialization and after every
        iteration; it never increases.
    n_iter_ : int
        Number of outer iterations run.
    n_features_in_ : int
        Number of entries of one sample, ``prod(tensor_shape_)``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` is a 2-D array
        with string column names.

    See Also
    --------
    sklearn.decomposition.NMF : Nonnegative matrix factorization.
    skfactor.datasets.make_cp_tensor : Noisy tensors with a known CP model.

    Notes
    -----
    Data whose largest entry lies outside :math:`[2^{-32}, 2^{32}]` are
    internally divided by a power of two :math:`2^{Nk}` bringing it near 1
    (the factors are multiplied by :math:`2^k` and ``alpha`` by
    :math:`2^{k(2 - 2N)}`, which changes neither the problem nor the
    rounding), so magnitudes from 1e-300 to 1e300 are handled; the verbose
    output then shows the rescaled objective, while ``objective_`` is on the
    original scale and overflows to infinity when :math:`\|T\|_F^2` does.
    Computations are in float64; ``transform`` returns the dtype of its
    input. All-zero data give zero factors.

    :meth:`transform` solves, for each new sample :math:`x`, the ridge
    regression :math:`\min_u \|x - K u\|^2 + \alpha \|u\|^2` with
    :math:`K` the Khatri-Rao product of ``components_``: in closed form, or
    exactly under :math:`u \ge 0` (active-set NNLS) when ``nonnegative``.
    It is the sample-mode update of the solver, so on the training data it
    matches ``fit_transform`` up to the convergence tolerance.

    References
    ----------
    J. E. Cohen and V. Leplat, "Implicit regularization in regularized
    (nonnegative) low-rank approximations", 2024.

    N. Gillis and F. Glineur, "Accelerated multiplicative updates and
    hierarchical ALS algorithms for nonnegative matrix factorization",
    Neural Computation 24(4), 2012.

    Examples
    --------
    >>> from skfactor import RidgeCPD
    >>> from skfactor.datasets import make_cp_tensor
    >>> X, true_factors = make_cp_tensor((20, 15, 10), n_components=2,
    ...                                  random_state=0)
    >>> cpd = RidgeCPD(n_components=4, alpha=0.5, nonnegative=True,
    ...                random_state=0)
    >>> U = cpd.fit_transform(X)
    >>> U.shape, [A.shape for A in cpd.components_]
    ((20, 4), [(15, 4), (10, 4)])
    >>> cpd.n_components_effective_
    2
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "nonnegative": ["boolean"],
        "tensor_shape": ["array-like", None],
        "balance": [StrOptions({"every", "init", "none"})],
        "init": [StrOptions({"svd", "random"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        alpha=1.0,
        nonnegative=False,
        tensor_shape=None,
        balance="every",
        init="svd",
        max_iter=3000,
        tol=1e-7,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.nonnegative = nonnegative
        self.tensor_shape = tensor_shape
        self.balance = balance
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit the model and return the sample-mode factor of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, I_1, ..., I_{N-1})
            Training data, see ``tensor_shape``.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        U : ndarray of shape (n_samples, n_components)
            Sample-mode factor :math:`A_0`, balanced like ``components_``.
        """
        X_in = X
        X = self._validate_tensor(X, reset=True)
        self._input_ndim = 2 if sample_ndim(X_in) < 3 else X.ndim
        dtype = X.dtype
        tensor = np.asarray(X, dtype=np.float64)
        n_modes = tensor.ndim
        rank = self.n_components or min(self.tensor_shape_)
        rng = check_random_state(self.random_state)

        max_abs = float(np.max(np.abs(tensor)))
        k = scale_exponent(max_abs, n_modes)
        # Exact rescaling by powers of two: T / 2^(N k), factors * 2^k and
        # alpha * 2^(k (2 - 2N)) leave the problem (and, barring overflow,
        # every rounding) unchanged.
        if k:
            tensor = np.ldexp(tensor, -n_modes * k)
        with np.errstate(over="ignore"):
            alpha = float(np.ldexp(self.alpha, k * (2 - 2 * n_modes)))
        if max_abs == 0.0 or alpha > _ALPHA_ZERO_SOLUTION:
            # No data, or a ridge so strong (after rescaling extreme data) that
            # the zero model is the solution.
            factors = [np.zeros((size, rank)) for size in tensor.shape]
            fit_sq = float(np.vdot(tensor, tensor))
            history = [fit_sq]
            self.n_iter_ = 0
        else:
            factors = initialize_cp(tensor, rank, self.init, self.nonnegative, rng)
            factors, fit_sq, monitor = fit_ridge_cp(
                tensor,
                factors,
                alpha,
                nonnegative=self.nonnegative,
                balance=self.balance,
                max_iter=self.max_iter,
                tol=self.tol,
                verbose=self.verbose,
                name=type(self).__name__,
                objective_name="objective"
                if k == 0
                else f"objective (data scaled by 2^{-n_modes * k})",
            )
            monitor.warn_if_not_converged()
            history = monitor.history
            self.n_iter_ = monitor.n_iter
            factors = self._canonical_order_and_signs(factors)

        with np.errstate(over="ignore"):
            self.objective_ = np.ldexp(np.asarray(history), 2 * n_modes * k)
            self.reconstruction_err_ = float(np.ldexp(np.sqrt(fit_sq), n_modes * k))
            data_norm = float(np.ldexp(np.linalg.norm(tensor), n_modes * k))
        self._scale_exponent = k
        factors = [np.ldexp(f, k) for f in factors]
        weights = component_norms(factors)
        self.n_components_effective_ = count_effective_components(weights, data_norm)
        self.weights_ = weights.astype(dtype, copy=False)
        self.components_ = [f.astype(dtype, copy=False) for f in factors[1:]]
        return factors[0].astype(dtype, copy=False)

    def fit(self, X, y=None):
        """Fit the ridge CP model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, I_1, ..., I_{N-1})
            Training data, see ``tensor_shape``.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self.fit_transform(X)
        return self

    def _canonical_order_and_signs(self, factors):
        """Sort components by decreasing norm; make non-sample signs canonical.

        Without the nonnegativity constraint, the sign of the entry of
        largest magnitude of every non-sample column is made positive, the
        sample mode absorbing the flips (the model is unchanged).
        """
        order = np.argsort(-component_norms(factors), kind="stable")
        factors = [f[:, order] for f in factors]
        if not self.nonnegative:
            for k in range(1, len(factors)):
                signs = column_signs(factors[k])
                factors[k] = factors[k] * signs
                factors[0] = factors[0] * signs
        return factors

    # -------------------------------------------------------------- transform
    def transform(self, X):
        """Sample-mode factor of new samples, the other factors fixed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
                (n_samples, I_1, ..., I_{N-1})
            New samples, 2-D (rows folded with ``tensor_shape_``) or N-D.

        Returns
        -------
        U : ndarray of shape (n_samples, n_components)
            Ridge (nonnegative when ``nonnegative``) least-squares
            coefficients of every sample on the fitted components.
        """
        check_is_fitted(self)
        X = self._validate_tensor(X, reset=False)
        dtype = X.dtype
        n_modes = X.ndim
        k = self._scale_exponent
        rank = self.weights_.shape[0]
        tensor = np.asarray(X, dtype=np.float64)
        if k:
            tensor = np.ldexp(tensor, -n_modes * k)
        components = [
            np.ldexp(np.asarray(c, dtype=np.float64), -k) for c in self.components_
        ]
        normal = gram_hadamard([c.T @ c for c in components])
        # the sample-mode factor is not read by the mode-0 MTTKRP
        rhs = mttkrp(tensor, [None, *components], 0)
        with np.errstate(over="ignore"):
            alpha = float(np.ldexp(self.alpha, k * (2 - 2 * n_modes)))
        if alpha > _ALPHA_ZERO_SOLUTION:
            return np.zeros((X.shape[0], rank), dtype=dtype)
        if self.nonnegative:
            U = nonnegative_ridge_least_squares(rhs, normal, alpha)
        else:
            U = ridge_least_squares(rhs, normal, alpha)
        return np.ldexp(U, k).astype(dtype, copy=False)

    def inverse_transform(self, X):
        """Reconstruct samples from their sample-mode factor.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Sample-mode factor, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features) or \
                (n_samples, I_1, ..., I_{N-1})
            The CP model of the samples, 2-D if the model was fitted on 2-D
            data, N-D otherwise.
        """
        check_is_fitted(self)
        U = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        rank = self.weights_.shape[0]
        if U.shape[1] != rank:
            raise ValueError(
                f"X has {U.shape[1]} columns but {type(self).__name__} has {rank} "
                "components."
            )
        factors = [np.asarray(U, dtype=np.float64)] + [
            np.asarray(c, dtype=np.float64) for c in self.components_
        ]
        dense = cp_to_tensor(factors).astype(U.dtype, copy=False)
        if self._input_ndim == 2:
            return dense.reshape(U.shape[0], -1)
        return dense

    @property
    def _n_features_out(self):
        return self.weights_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
