"""Constrained matrix factorization by block proximal gradient (Melchior, 2018)."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .. import prox as _prox
from ..utils._docstrings import fill_doc
from ..utils._monitor import warn_at_caller
from ._base import _BaseMatrixFactorization
from ._init import random_unit_rows_init, svd_init
from ._pgm import block_pgm, power_iteration, squared_frobenius

__all__ = ["ProximalMF"]

# Named penalties that are positively homogeneous (g(cA) = c g(A)) and
# named constraint sets that are cones (cA feasible if A is): a homogeneous
# penalty on one factor is escaped by rescaling (W, H) -> (cW, H / c) when
# the other factor is only constrained to a cone.
_HOMOGENEOUS = ("l1", "nonnegative_l1", "group_l2")
_CONES = ("identity", "nonnegative")

# Named operators whose function carries a weight (alpha_W / alpha_H).
_PENALTY_NAMES = tuple(
    name
    for name in _prox.PROX_NAMES
    if "alpha" in (_prox.get_prox(name).__kwdefaults__ or {})
)


class _CheckedProx:
    """A user's proximal operator, with its output checked at every call."""

    def __init__(self, operator, factor):
        self.operator = operator
        self.factor = factor

    def __call__(self, V, step):
        out = self.operator(V, step)
        try:
            out = np.asarray(out, dtype=V.dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"prox_{self.factor} returned {type(out).__name__} that is not a "
                f"real array for the factor {self.factor}: {exc}"
            ) from exc
        if out.shape != V.shape:
            raise ValueError(
                f"prox_{self.factor} returned an array of shape {out.shape} for the "
                f"factor {self.factor} of shape {V.shape}; a proximal operator must "
                "return an array of the shape of its input."
            )
        if not np.all(np.isfinite(out)) and np.all(np.isfinite(V)):
            raise ValueError(
                f"prox_{self.factor} returned non-finite values (NaN or infinity) for "
                f"the factor {self.factor} at step {step:g}, from a finite input."
            )
        return out


def _resolve_prox(prox, alpha, factor):
    """(operator, penalty function) for the prox_W / prox_H parameter."""
    alpha_name = f"alpha_{factor}"
    if isinstance(prox, str):
        if prox in _PENALTY_NAMES:
            operator = _prox.get_prox(prox, alpha=alpha)
        elif alpha != 0:
            raise ValueError(
                f"{alpha_name}={alpha!r} has no effect with prox_{factor}={prox!r}, "
                "a constraint without weight. Set it to 0, or choose a penalty "
                f"among {', '.join(repr(n) for n in _PENALTY_NAMES)}."
            )
        else:
            operator = _prox.get_prox(prox)
        # operators of the package return arrays of the right shape and dtype
        checked = operator
    else:
        if alpha != 0:
            raise ValueError(
                f"{alpha_name}={alpha!r} only weighs the named operators; with a "
                f"callable prox_{factor}, put the weight in the callable and set "
                f"{alpha_name}=0."
            )
        operator = prox
        checked = _CheckedProx(prox, factor)

    def penalty(A):
        value = _prox.penalty_value(operator, A)
        return 0.0 if value is None else value

    return checked, penalty


@fill_doc
class ProximalMF(_BaseMatrixFactorization):
    r"""Constrained matrix factorization by proximal gradient.

    Finds a low-rank approximation :math:`X \approx W H` whose factors obey
    the structure the user knows (nonnegativity, normalization, sparsity,
    maximum entropy...), by minimizing

    .. math::

        \tfrac12 \|X - W H\|_F^2 + g_W(W) + g_H(H),

    where :math:`g_W` and :math:`g_H` are constraints (indicator functions)
    or penalties given by their proximal operators (:mod:`skfactor.prox`).
    Each iteration takes a gradient step on the fit term for one factor and
    applies that factor's proximal operator, then does the same for the
    other factor:

    .. math::

        W \leftarrow \operatorname{prox}_{t_W g_W}\bigl(\hat W - t_W
            (\hat W H - X) H^\top\bigr), \qquad
        H \leftarrow \operatorname{prox}_{t_H g_H}\bigl(\hat H - t_H
            W^\top (W \hat H - X)\bigr),

    with Nesterov extrapolations :math:`\hat W, \hat H` of the last two
    iterates. By default the steps are set automatically: each factor tries
    twice its previous step and halves it until a sufficient-decrease test
    passes, never going below the inverse Lipschitz constant
    (:math:`1/\|H H^\top\|_2` for :math:`W`, :math:`1/\|W^\top W\|_2`
    for :math:`H`); with cone constraints the components are also kept at
    equal norms in :math:`W` and :math:`H`. An iteration that would
    increase the objective is redone without extrapolation (adaptive
    restart), so the objective never increases.

    Read more in the :doc:`User Guide </user_guide/proximal_mf>`.

    Parameters
    ----------
    n_components : int, default=None
        Number of components :math:`k`. ``None`` keeps ``n_features`` (or
        the number of columns of an initial ``W`` given in ``init``).
    prox_W, prox_H : str or callable, default="nonnegative"
        Structure of :math:`W` (activations, one row per sample) and of
        :math:`H` (``components_``, one row per component). A name of
        :data:`skfactor.prox.PROX_NAMES` selects ``skfactor.prox.prox_<name>``
        acting on the **rows** of the factor where the operator works on
        slices (so a constraint on ``W`` applies to each sample
        independently, and one on ``H`` to each component):

        - constraints: ``"identity"`` (none), ``"nonnegative"``, ``"box"``
          (entries in [0, 1]), ``"l2_ball"`` (rows of norm at most 1),
          ``"simplex"`` (nonnegative rows summing to one);
        - penalties weighted by ``alpha_W`` / ``alpha_H``: ``"l1"``
          (:math:`\alpha \|\cdot\|_1`), ``"nonnegative_l1"`` (nonnegative
          and :math:`\alpha \|\cdot\|_1`), ``"group_l2"``
          (:math:`\alpha \sum_i \|\text{row}_i\|_2`, zeroing whole rows),
          ``"max_entropy"`` (:math:`\alpha \sum x \log x`, positive
          entries).

        A callable ``(array, step) -> array`` is used as the proximal
        operator itself, e.g. ``functools.partial(skfactor.prox.prox_simplex,
        axis=0)`` or :func:`skfactor.prox.compose` of two operators, or your
        own function; it must return a finite array of the shape of its input
        and accept ``step=0`` (see ``init``). Its penalty enters
        ``objective_`` through :func:`skfactor.prox.penalty_value` (operators
        of :mod:`skfactor.prox`, or callables with a ``penalty`` attribute);
        other callables contribute 0 to the reported objective.
    alpha_W, alpha_H : float, default=0.0
        Weight of the penalty of a named penalty operator. Must be 0 for the
        named constraints and for callables (configure those directly).
        The fit is unchanged by :math:`(W, H) \to (cW, H/c)`, so a penalty
        such as ``"l1"`` on one factor only selects a solution if the scale
        of the other factor is fixed (``"simplex"``, ``"l2_ball"``,
        ``"box"``) or penalized too; fitting warns otherwise.
    step_size : "auto", "lipschitz", float or tuple of two floats, default="auto"
        ``"auto"``: adaptive steps. Each factor first tries twice its last
        step, halved until the sufficient-decrease test of the quadratic fit
        passes (exact, and cheap: no product with ``X``), never below the
        inverse Lipschitz constant; when both ``prox_W`` and ``prox_H`` are
        ``"nonnegative"`` or ``"identity"`` (cones), the components are
        also rescaled to equal norms in ``W`` and ``H`` at every iteration
        (same product, same objective: one step per component). See the
        :ref:`user guide <proximal_mf_steps>`.
        ``"lipschitz"``: the inverse block Lipschitz constants
        :math:`1/\|H H^\top\|_2` and :math:`1/\|W^\top W\|_2`, updated
        every iteration (one proximal step per factor and iteration, but
        more iterations). A float: the same fixed step for both factors; a
        pair: fixed steps ``(t_W, t_H)`` (Melchior's hand-set learning
        rates). Fixed steps larger than twice the inverse Lipschitz constants
        make the iteration diverge, which raises a ``ValueError``.
    acceleration : bool, default=True
        Nesterov extrapolation with adaptive restart. ``False`` gives the
        plain (monotone) block proximal gradient method.
    init : {"svd", "random"} or tuple (W, H), default="svd"
        Starting point. ``"svd"``: truncated SVD of ``X`` split into two
        factors, signs chosen as in NNDSVD; ``"random"``: absolute normal
        entries scaled to the data (uses ``random_state``); or arrays of
        shapes ``(n_samples, n_components)`` and
        ``(n_components, n_features)``. Every starting point is first mapped
        through the proximal operators with step 0, which projects it onto
        the constraint sets (an initialization that violates a constraint is
        projected, not rejected).
    {{max_iter=200}}
    {{tol=1e-4}}
        The solver also stops when the fit becomes exact to half the working
        precision, :math:`\|X - WH\|_F^2 \le \epsilon \|X\|_F^2`. The
        convex problem in :math:`W` alone (:meth:`transform`, and the last
        step of the fit) is solved to ``tol ** 2``: near the solution the
        error of the iterate scales as the square root of the relative change
        of the objective, so this gives activations accurate to about
        ``tol``.
    {{random_state}}
    {{verbose}}

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The factor :math:`H`.
    n_components_ : int
        Number of components.
    reconstruction_err_ : float
        Frobenius norm :math:`\|X - WH\|_F` of the returned factorization.
    objective_ : ndarray
        Objective at the initialization and after each iteration of the
        alternating solver (``n_iter_ + 1`` values). The fit then solves
        for :math:`W` with the final components, as :meth:`transform` does
        (starting from the last iterate, so the objective only decreases
        further): the activations returned by :meth:`fit_transform` are
        those :meth:`transform` gives on the training data.
    n_iter_ : int
        Number of iterations run.
    n_restarts_ : int
        Number of adaptive restarts.
    step_sizes_ : ndarray of shape (n_iterations, 2)
        Steps :math:`(t_W, t_H)` used at each of the ``n_iter_`` iterations.
    n_prox_ : int
        Number of proximal steps computed by the alternating solver (two
        per iteration, plus the trial steps rejected by the backtracking of
        ``step_size="auto"`` and the steps of redone iterations).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` has
        feature names that are all strings.

    See Also
    --------
    sklearn.decomposition.NMF : Nonnegative matrix factorization (the
        special case ``prox_W = prox_H = "nonnegative"``).
    skfactor.prox : The proximal operators.

    Notes
    -----
    The model comes from Peter Melchior's "Proximal matrix factorization in
    pytorch" (2018), which runs the same
    proximal gradient iteration with hand-set step sizes and leaves their
    choice as an open problem. Here they come from an adaptive backtracking
    that can increase the step as well as decrease it (Scheinberg, Goldfarb
    and Bai, 2014; Calatroni and Chambolle, 2019) above the inverse block
    Lipschitz constants, which makes the method invariant to the rescaling
    :math:`(W, H) \to (cW, H/c)` when the constraints are cones (and, with
    the balanced components, to the rescaling of each component), and
    adaptive restart (Xu and Yin, 2013; O'Donoghue and Candès, 2015) keeps
    the accelerated iteration monotone. Melchior's sum-to-one normalization
    ``X / X.sum()`` is not a proximal operator; ``"simplex"`` is the
    projection onto the same constraint set.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor import ProximalMF
    >>> from skfactor.metrics import factor_match_score
    >>> rng = np.random.default_rng(0)
    >>> W_true = rng.uniform(size=(30, 3))
    >>> H_true = rng.dirichlet(np.full(12, 0.3), size=3)  # rows sum to one
    >>> X = W_true @ H_true + 0.01 * rng.uniform(size=(30, 12))
    >>> model = ProximalMF(3, prox_H="simplex", random_state=0)
    >>> W = model.fit_transform(X)
    >>> model.components_.sum(axis=1)
    array([1., 1., 1.])
    >>> score = factor_match_score([W_true, H_true.T], [W, model.components_.T])
    >>> bool(score > 0.95)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "prox_W": [StrOptions(set(_prox.PROX_NAMES)), callable],
        "prox_H": [StrOptions(set(_prox.PROX_NAMES)), callable],
        "alpha_W": [Interval(Real, 0, None, closed="left")],
        "alpha_H": [Interval(Real, 0, None, closed="left")],
        "step_size": [
            StrOptions({"auto", "lipschitz"}),
            Interval(Real, 0, None, closed="neither"),
            tuple,
        ],
        "acceleration": ["boolean"],
        "init": [StrOptions({"svd", "random"}), tuple],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        prox_W="nonnegative",
        prox_H="nonnegative",
        alpha_W=0.0,
        alpha_H=0.0,
        step_size="auto",
        acceleration=True,
        init="svd",
        max_iter=200,
        tol=1e-4,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.prox_W = prox_W
        self.prox_H = prox_H
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.step_size = step_size
        self.acceleration = acceleration
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------
    # validation helpers

    def _steps(self):
        if isinstance(self.step_size, str):
            return self.step_size
        if isinstance(self.step_size, tuple):
            steps = self.step_size
            if len(steps) != 2 or not all(
                isinstance(t, Real)
                and not isinstance(t, bool)
                and np.isfinite(t)
                and t > 0
                for t in steps
            ):
                raise ValueError(
                    "step_size must be 'auto', 'lipschitz', a positive float or a "
                    f"pair of positive floats (t_W, t_H); got {self.step_size!r}."
                )
            return tuple(float(t) for t in steps)
        return (float(self.step_size), float(self.step_size))

    def _check_data(self, X, reset):
        X = validate_data(
            self,
            X,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            reset=reset,
        )
        if not np.isfinite(squared_frobenius(X)):
            values = X.data if sp.issparse(X) else X
            raise ValueError(
                "X is too large for the squared Frobenius objective: |X|_F^2 "
                f"overflows (largest magnitude {np.abs(values).max():g}). Rescale X."
            )
        return X

    def _initial_factors(self, X, n_components, random_state):
        if isinstance(self.init, tuple):
            if len(self.init) != 2:
                raise ValueError(
                    "init must be 'svd', 'random' or a pair (W, H) of arrays; got a "
                    f"tuple of length {len(self.init)}."
                )
            n_samples, n_features = X.shape
            W = check_array(self.init[0], dtype=X.dtype, input_name="init W", copy=True)
            H = check_array(self.init[1], dtype=X.dtype, input_name="init H", copy=True)
            expected = ((n_samples, n_components), (n_components, n_features))
            for name, array, shape in zip("WH", (W, H), expected):
                if array.shape != shape:
                    raise ValueError(
                        f"The initial {name} given in init has shape {array.shape}; "
                        f"expected {shape} for X of shape {X.shape} and "
                        f"n_components={n_components}."
                    )
            return W, H
        make = svd_init if self.init == "svd" else random_unit_rows_init
        return make(X, n_components, random_state, dtype=X.dtype)

    def _n_components(self, X):
        if self.n_components is not None:
            return self.n_components
        if isinstance(self.init, tuple) and len(self.init) == 2:
            return np.shape(self.init[0])[1] if np.ndim(self.init[0]) == 2 else 1
        return X.shape[1]

    def _warn_if_scale_escapes_penalty(self):
        for factor, other in (("W", "H"), ("H", "W")):
            prox, alpha = (
                getattr(self, f"prox_{factor}"),
                getattr(self, f"alpha_{factor}"),
            )
            other_prox = getattr(self, f"prox_{other}")
            if (
                isinstance(prox, str)
                and prox in _HOMOGENEOUS
                and alpha > 0
                and isinstance(other_prox, str)
                and other_prox in _CONES
            ):
                warn_at_caller(
                    f"alpha_{factor}={alpha!r} penalizes {factor} but {other} is only "
                    f"constrained to a cone (prox_{other}={other_prox!r}): rescaling "
                    f"{factor} -> c {factor}, {other} -> {other} / c leaves the fit "
                    "unchanged and drives the penalty to 0 as c -> 0, so the penalty "
                    f"does not select a solution. Fix the scale of {other} (e.g. "
                    f"prox_{other}='simplex' or 'l2_ball') or penalize it too.",
                    UserWarning,
                )

    def _cone_constraints(self):
        """Both factors only constrained to named cones: free component scales."""
        return all(
            isinstance(prox, str) and prox in _CONES
            for prox in (self.prox_W, self.prox_H)
        )

    def _run(
        self,
        X,
        W,
        H,
        prox_W,
        prox_H,
        penalty_W,
        penalty_H,
        steps,
        update_H,
        quiet=False,
    ):
        """Run the solver; only W is updated (to tol ** 2) if not update_H.

        ``quiet``: no verbose output (the final W-solve inside ``fit``).
        """
        name = type(self).__name__ + ("" if update_H else ".transform")
        try:
            return block_pgm(
                X,
                W,
                H,
                prox_W=prox_W,
                prox_H=prox_H,
                penalty_W=penalty_W,
                penalty_H=penalty_H,
                step_size=steps,
                balance=steps == "auto" and self._cone_constraints(),
                acceleration=self.acceleration,
                update_H=update_H,
                max_iter=self.max_iter,
                tol=self.tol if update_H else self.tol**2,
                verbose=0 if quiet else self.verbose,
                name=name,
            )
        except FloatingPointError as exc:
            if isinstance(steps, str):
                raise ValueError(
                    f"{name} diverged ({exc}). With automatic steps this comes "
                    "from the proximal operators or the scale of X."
                ) from exc
            lipschitz_W = power_iteration(H @ H.T)[0]
            lipschitz_H = power_iteration(W.T @ W)[0]
            safe = [1 / L if L > 0 else np.inf for L in (lipschitz_W, lipschitz_H)]
            raise ValueError(
                f"{name} diverged with step_size={self.step_size!r}: {exc} At the "
                f"initialization the inverse Lipschitz constants are t_W = "
                f"{safe[0]:.3g} and t_H = {safe[1]:.3g}; fixed steps above twice "
                "these diverge. Use smaller steps or step_size='auto'."
            ) from exc

    # ------------------------------------------------------------------
    # public API

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Learn the factorization of X and return the activations W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data matrix.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Activations of the training samples.
        """
        X = self._check_data(X, reset=True)
        steps = self._steps()
        prox_W, penalty_W = _resolve_prox(self.prox_W, self.alpha_W, "W")
        prox_H, penalty_H = _resolve_prox(self.prox_H, self.alpha_H, "H")
        self._warn_if_scale_escapes_penalty()
        n_components = self._n_components(X)
        random_state = check_random_state(self.random_state)
        W, H = self._initial_factors(X, n_components, random_state)
        W, H = prox_W(W, 0.0), prox_H(H, 0.0)

        result = self._run(X, W, H, prox_W, prox_H, penalty_W, penalty_H, steps, True)
        # W for the final components, solved like transform does (warm start)
        final = self._run(
            X, result.W, result.H, prox_W, None, penalty_W, None, steps, False, True
        )

        self.components_ = result.H
        self.n_components_ = n_components
        self.objective_ = np.asarray(result.objective)
        self.n_iter_ = result.n_iter
        self.n_restarts_ = result.n_restarts
        self.step_sizes_ = result.step_sizes
        self.n_prox_ = result.n_prox
        self.reconstruction_err_ = float(np.sqrt(2.0 * final.fit))
        if (not np.any(final.W) or not np.any(result.H)) and squared_frobenius(X) > 0:
            causes = (
                f"the penalties (alpha_W={self.alpha_W!r}, alpha_H={self.alpha_H!r}) "
                "or the constraints are too strong for this data"
            )
            if not isinstance(steps, str):
                causes += f", or step_size={self.step_size!r} is too large"
            warn_at_caller(
                f"{type(self).__name__}: every component is zero at the end of the "
                f"fit; {causes}.",
                UserWarning,
            )
        return final.W

    def transform(self, X):
        """Activations W of X for the learned components, constraints included.

        Solves :math:`\\min_W \\tfrac12 \\|X - W H\\|_F^2 + g_W(W)` with
        :math:`H` = ``components_`` fixed, by the same accelerated proximal
        gradient iteration (steps :math:`1/\\|HH^\\top\\|_2`), starting from
        the least-squares activations projected onto the constraints.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data matrix.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Activations.
        """
        check_is_fitted(self)
        X = self._check_data(X, reset=False)
        steps = self._steps()
        prox_W, penalty_W = _resolve_prox(self.prox_W, self.alpha_W, "W")
        H = self.components_.astype(X.dtype, copy=False)
        W = np.asarray(X @ np.linalg.pinv(H)).astype(X.dtype, copy=False)
        W = prox_W(W, 0.0)
        result = self._run(X, W, H, prox_W, None, penalty_W, None, steps, False)
        return result.W

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
