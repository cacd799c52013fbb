r"""Proximal operators.

The proximal operator of a convex function :math:`g` with step
:math:`t \ge 0` maps a point :math:`V` to

.. math::

    \operatorname{prox}_{t g}(V) = \operatorname*{arg\,min}_X \;
        t\, g(X) + \tfrac12 \|X - V\|_F^2 .

When :math:`g` is the indicator of a closed convex set :math:`C` (0 on
:math:`C`, :math:`+\infty` outside) the operator is the Euclidean projection
onto :math:`C` and does not depend on :math:`t`; when :math:`g` is a penalty
:math:`\alpha\, h(X)` the step multiplies the weight. Every operator of this
module has the same signature

.. code-block:: python

    operator(X, step) -> new array of the shape of X

plus keyword-only parameters with defaults (``alpha``, ``axis``, bounds...).
Configure one with :func:`functools.partial` (or :func:`get_prox`): the
result, like any callable a user writes with that signature, can be passed
wherever the package expects a proximal operator, e.g. to
:class:`~skfactor.ProximalMF`. Operators never modify their input; integer
and boolean inputs are promoted to ``float64``, floating inputs keep their
precision.

Operators whose parameter ``axis`` is an integer act on each 1-D slice along
that axis independently (``axis=-1``, the default, means each row of a
matrix); ``axis=None`` treats the whole array as one vector.

:func:`compose` chains two operators in the cases where the composition is
exactly the proximal operator of the sum of the two functions, and
:func:`penalty_value` evaluates the function an operator is the proximal
operator of (the penalty a solver adds to its objective).
"""

import functools
from numbers import Integral, Real

import numpy as np
from scipy.special import wrightomega, xlogy

from .utils._docstrings import fill_doc

__all__ = [
    "PROX_NAMES",
    "ComposedProx",
    "compose",
    "get_prox",
    "penalty_value",
    "prox_box",
    "prox_group_l2",
    "prox_identity",
    "prox_l1",
    "prox_l2_ball",
    "prox_max_entropy",
    "prox_nonnegative",
    "prox_nonnegative_l1",
    "prox_simplex",
]


# Parameter and return descriptions every operator shares (see fill_doc).
_POINT = """\
X : array-like
    Point :math:`V` at which the operator is evaluated."""
_DOCS = {
    "point_and_step": _POINT
    + """
step : float
    Step :math:`t \\ge 0`.""",
    "point_and_projection_step": _POINT
    + """
step : float
    Step :math:`t \\ge 0` (a projection does not depend on it).""",
    "returns": """\
Returns
-------
ndarray
    New array of the shape of ``X``.""",
}
_fill_doc = fill_doc(fragments=_DOCS)


# --------------------------------------------------------------------------
# input handling


def _as_float_array(X):
    """Return X as a float array (a view if already floating, never mutated)."""
    X = np.asarray(X)
    if X.dtype.kind == "f":
        return X
    if np.iscomplexobj(X):
        raise TypeError(
            f"Proximal operators take real arrays; got an array of dtype {X.dtype}."
        )
    if not np.issubdtype(X.dtype, np.floating):
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Proximal operators take numeric arrays; got dtype {X.dtype}."
            ) from exc
    return X


def _check_real(value, name, *, positive=False):
    """``value`` as a float, finite and nonnegative (or positive)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number; got {value!r}.")
    value = float(value)
    if not ((value > 0 if positive else value >= 0) and np.isfinite(value)):
        rule = "positive and finite" if positive else "finite and nonnegative"
        raise ValueError(f"{name} must be {rule}; got {value!r}.")
    return value


def _check_step(step):
    if type(step) is float and step >= 0 and step < np.inf:  # the solvers' case
        return step
    return _check_real(step, "step")


def _check_weight(value, name):
    return _check_real(value, name)


def _check_positive(value, name):
    return _check_real(value, name, positive=True)


def _check_axis(axis, ndim):
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, Integral):
        raise TypeError(f"axis must be an int or None; got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis={axis} is out of bounds for an array of dimension {ndim}."
        )
    return int(axis) % ndim


def _group_norms(X, axis):
    """l2 norms of the slices along ``axis`` (all of X if None), keepdims."""
    if axis is None:
        return np.sqrt(np.sum(X * X, keepdims=True, dtype=X.dtype))
    return np.sqrt(np.sum(X * X, axis=axis, keepdims=True, dtype=X.dtype))


# --------------------------------------------------------------------------
# operators


def prox_identity(X, step):
    r"""Proximal operator of the zero function: a copy of ``X``.

    .. math::

        \operatorname{prox}_{t \cdot 0}(V) = V.

    Parameters
    ----------
    X : array-like
        Point :math:`V` at which the operator is evaluated.
    step : float
        Step :math:`t \ge 0` (unused).

    Returns
    -------
    ndarray
        A new array equal to ``X``.

    Examples
    --------
    >>> from skfactor.prox import prox_identity
    >>> prox_identity([1.0, -2.0], 0.5)
    array([ 1., -2.])
    """
    _check_step(step)
    return _as_float_array(X).copy()


@_fill_doc
def prox_nonnegative(X, step):
    r"""Projection onto the nonnegative orthant.

    Proximal operator of the indicator of :math:`\{X : X_{ij} \ge 0\}`:

    .. math::

        \operatorname{prox}(V)_{ij} = \max(V_{ij}, 0).

    Parameters
    ----------
    {{point_and_projection_step}}

    {{returns}}

    Examples
    --------
    >>> from skfactor.prox import prox_nonnegative
    >>> prox_nonnegative([1.0, -2.0], 0.5)
    array([1., 0.])
    """
    _check_step(step)
    return np.maximum(_as_float_array(X), 0)


@_fill_doc
def prox_box(X, step, *, lower=0.0, upper=1.0):
    r"""Projection onto the box :math:`\{X : l \le X_{ij} \le u\}`.

    .. math::

        \operatorname{prox}(V)_{ij} = \min(\max(V_{ij}, l_{ij}), u_{ij}).

    Parameters
    ----------
    {{point_and_projection_step}}
    lower, upper : float or array-like broadcastable to X, default=0.0, 1.0
        Bounds :math:`l \le u`; ``-np.inf`` / ``np.inf`` leave a side open.

    {{returns}}

    Examples
    --------
    >>> from skfactor.prox import prox_box
    >>> prox_box([-1.0, 0.5, 3.0], 1.0, lower=0.0, upper=2.0)
    array([0. , 0.5, 2. ])
    """
    _check_step(step)
    X = _as_float_array(X)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    if np.isnan(lower).any() or np.isnan(upper).any():
        raise ValueError("The bounds of prox_box must not be NaN.")
    if np.any(lower > upper):
        raise ValueError(
            "prox_box needs lower <= upper; the box is empty where lower > upper."
        )
    try:
        shape = np.broadcast_shapes(X.shape, lower.shape, upper.shape)
    except ValueError:
        shape = None
    if shape != X.shape:
        raise ValueError(
            f"The bounds of prox_box (shapes {lower.shape} and {upper.shape}) do "
            f"not broadcast to the shape {X.shape} of X."
        )
    with np.errstate(over="ignore"):
        return np.clip(X, lower.astype(X.dtype), upper.astype(X.dtype))


@_fill_doc
def prox_l1(X, step, *, alpha=1.0):
    r"""Soft thresholding: proximal operator of :math:`\alpha \|X\|_1`.

    .. math::

        \operatorname{prox}_{t \alpha \|\cdot\|_1}(V)_{ij}
            = \operatorname{sign}(V_{ij}) \max(|V_{ij}| - t\alpha, 0).

    Parameters
    ----------
    {{point_and_step}}
    alpha : float, default=1.0
        Weight :math:`\alpha \ge 0` of the :math:`\ell_1` norm.

    {{returns}}

    Examples
    --------
    >>> from skfactor.prox import prox_l1
    >>> prox_l1([3.0, -0.5, -2.0], 1.0, alpha=1.0)
    array([ 2.,  0., -1.])
    """
    threshold = _check_step(step) * _check_weight(alpha, "alpha")
    X = _as_float_array(X)
    # V - clip(V, -t alpha, t alpha) (Moreau's decomposition): exact zeros,
    # never -0.0
    return X - np.clip(X, -threshold, threshold)


@_fill_doc
def prox_nonnegative_l1(X, step, *, alpha=1.0):
    r"""Nonnegative soft thresholding.

    Proximal operator of :math:`\alpha \|X\|_1` plus the indicator of the
    nonnegative orthant (on which the norm is :math:`\alpha \sum_{ij} X_{ij}`).
    It is exactly the projection onto the orthant composed with
    :func:`prox_l1`:

    .. math::

        \operatorname{prox}(V)_{ij} = \max(V_{ij} - t\alpha, 0).

    Parameters
    ----------
    {{point_and_step}}
    alpha : float, default=1.0
        Weight :math:`\alpha \ge 0` of the :math:`\ell_1` norm.

    {{returns}}

    Examples
    --------
    >>> from skfactor.prox import prox_nonnegative_l1
    >>> prox_nonnegative_l1([3.0, 0.5, -2.0], 1.0, alpha=1.0)
    array([2., 0., 0.])
    """
    threshold = _check_step(step) * _check_weight(alpha, "alpha")
    return np.maximum(_as_float_array(X) - threshold, 0)


@_fill_doc
def prox_l2_ball(X, step, *, radius=1.0, axis=-1):
    r"""Projection onto the :math:`\ell_2` ball of radius :math:`r`.

    Each slice :math:`v` along ``axis`` (each row by default; the whole array
    if ``axis=None``) is projected onto :math:`\{x : \|x\|_2 \le r\}`:

    .. math::

        \operatorname{prox}(v) = v \min\!\left(1, \frac{r}{\|v\|_2}\right).

    Parameters
    ----------
    {{point_and_projection_step}}
    radius : float, default=1.0
        Radius :math:`r > 0`.
    axis : int or None, default=-1
        Axis along which the norm is taken.

    {{returns}}

    Examples
    --------
    >>> from skfactor.prox import prox_l2_ball
    >>> prox_l2_ball([[3.0, 4.0], [0.3, 0.4]], 1.0)
    array([[0.6, 0.8],
           [0.3, 0.4]])
    """
    _check_step(step)
    radius = _check_positive(radius, "radius")
    X = _as_float_array(X)
    axis = _check_axis(axis, X.ndim)
    norms = _group_norms(X, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norms > radius, radius / norms, 1.0)
    return X * scale.astype(X.dtype, copy=False)


@_fill_doc
def prox_group_l2(X, step, *, alpha=1.0, axis=-1):
    r"""Block soft thresholding: proximal operator of the group :math:`\ell_2` norm.

    The groups :math:`x_g` are the slices along ``axis`` (each row by
    default; one group if ``axis=None``), the penalty is
    :math:`\alpha \sum_g \|x_g\|_2` and whole groups are set to zero:

    .. math::

        \operatorname{prox}(v_g) = v_g \max\!\left(1 - \frac{t\alpha}{\|v_g\|_2},
            0\right).

    Parameters
    ----------
    {{point_and_step}}
    alpha : float, default=1.0
        Weight :math:`\alpha \ge 0` of the penalty.
    axis : int or None, default=-1
        Axis along which the norm of a group is taken.

    {{returns}}

    Examples
    --------
    >>> from skfactor.prox import prox_group_l2
    >>> prox_group_l2([[3.0, 4.0], [0.3, 0.4]], 1.0, alpha=1.0)
    array([[2.4, 3.2],
           [0. , 0. ]])
    """
    threshold = _check_step(step) * _check_weight(alpha, "alpha")
    X = _as_float_array(X)
    axis = _check_axis(axis, X.ndim)
    norms = _group_norms(X, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norms > threshold, 1.0 - threshold / norms, 0.0)
    return X * scale.astype(X.dtype, copy=False)


def _project_last_axis_onto_simplex(V, total):
    """Sort-based projection of each row of V (last axis) onto the simplex."""
    m = V.shape[-1]
    U = -np.sort(-V, axis=-1)
    cumsum = np.cumsum(U, axis=-1) - total
    ranks = np.arange(1, m + 1, dtype=V.dtype)
    active = U - cumsum / ranks > 0
    # index of the last active coordinate (the first one always is)
    rho = m - 1 - np.argmax(active[..., ::-1], axis=-1)
    theta = np.take_along_axis(cumsum, rho[..., None], axis=-1) / ranks[rho][..., None]
    return np.maximum(V - theta, 0)


@_fill_doc
def prox_simplex(X, step, *, total=1.0, axis=-1):
    r"""Projection onto the simplex: nonnegative entries summing to ``total``.

    Each slice :math:`v` along ``axis`` (each row by default; the whole array
    if ``axis=None``) is projected onto
    :math:`\Delta = \{x : x_j \ge 0, \sum_j x_j = s\}`:

    .. math::

        \operatorname{prox}(v)_j = \max(v_j - \theta, 0),
        \qquad \theta \text{ such that } \sum_j \max(v_j - \theta, 0) = s,

    computed exactly by sorting (Held, Wolfe and Crowder 1974; Duchi et al.
    2008). This is the proximal form of the "sum-to-one normalization" of
    factors: dividing by the sum, ``v / v.sum()``, imposes the same
    constraint on nonnegative input but is not a proximal operator (it is not
    non-expansive, and is undefined when the sum is zero or negative).

    Parameters
    ----------
    {{point_and_projection_step}}
    total : float, default=1.0
        Sum :math:`s > 0` of each slice.
    axis : int or None, default=-1
        Axis along which the entries sum to ``total``.

    {{returns}}

    Examples
    --------
    >>> from skfactor.prox import prox_simplex
    >>> prox_simplex([[0.5, 0.5, 2.0], [0.2, 0.2, -1.0]], 1.0)
    array([[0. , 0. , 1. ],
           [0.5, 0.5, 0. ]])
    """
    _check_step(step)
    total = _check_positive(total, "total")
    X = _as_float_array(X)
    axis = _check_axis(axis, X.ndim)
    if X.size == 0:
        return X.copy()
    if axis is None:
        return _project_last_axis_onto_simplex(X.reshape(-1), total).reshape(X.shape)
    V = np.moveaxis(X, axis, -1)
    return np.moveaxis(_project_last_axis_onto_simplex(V, total), -1, axis)


@_fill_doc
def prox_max_entropy(X, step, *, alpha=1.0):
    r"""Proximal operator of the negative entropy :math:`\alpha \sum X \log X`.

    Minimizing the penalty maximizes the entropy, spreading mass over many
    entries; its domain is :math:`X \ge 0` (with :math:`0 \log 0 = 0`), so
    the result is positive. With :math:`\gamma = t\alpha > 0`, the optimality
    condition :math:`\gamma(\log x + 1) + x - v = 0` is solved by the Lambert
    W function, evaluated stably through the Wright omega function
    :math:`\omega(y) = W(e^y)`:

    .. math::

        \operatorname{prox}(V)_{ij}
            = \gamma\, W\!\left(\frac{1}{\gamma} e^{V_{ij}/\gamma - 1}\right)
            = \gamma\, \omega\!\left(\frac{V_{ij}}{\gamma} - 1 - \log\gamma\right),

    and :math:`\max(V_{ij}, 0)` (the projection onto the domain) when
    :math:`\gamma = 0`.

    Parameters
    ----------
    {{point_and_step}}
    alpha : float, default=1.0
        Weight :math:`\alpha \ge 0` of the penalty.

    {{returns}}

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.prox import prox_max_entropy
    >>> x = prox_max_entropy([1.0, 0.0, -5.0], 0.5, alpha=1.0)
    >>> np.round(x, 4)
    array([0.6874, 0.2315, 0.    ])
    >>> # optimality: t * alpha * (log x + 1) + x - v = 0
    >>> np.allclose(0.5 * (np.log(x) + 1) + x, [1.0, 0.0, -5.0])
    True
    """
    gamma = _check_step(step) * _check_weight(alpha, "alpha")
    X = _as_float_array(X)
    if gamma == 0:
        return np.maximum(X, 0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        y = X.astype(np.float64) / gamma - 1.0 - np.log(gamma)
        out = gamma * wrightomega(y)
    # y overflows only when v / gamma does: then x = v up to a relative
    # error gamma * log(v) / v below the float resolution.
    out = np.where(np.isfinite(out), out, np.maximum(X, 0))
    return out.astype(X.dtype, copy=False)


# --------------------------------------------------------------------------
# penalties (the functions the operators are the proximal operators of)


def _zero(X, **params):
    return 0.0


def _l1_value(X, *, alpha=1.0):
    return float(alpha) * float(np.abs(X).sum())


def _nonnegative_l1_value(X, *, alpha=1.0):
    return float(alpha) * float(np.asarray(X).sum())


def _group_l2_value(X, *, alpha=1.0, axis=-1):
    X = np.asarray(X)
    return float(alpha) * float(_group_norms(X, _check_axis(axis, X.ndim)).sum())


def _max_entropy_value(X, *, alpha=1.0):
    X = np.asarray(X, dtype=np.float64)
    return float(alpha) * float(xlogy(X, X).sum())


_PENALTIES = {
    prox_identity: _zero,
    prox_nonnegative: _zero,
    prox_box: _zero,
    prox_l1: _l1_value,
    prox_nonnegative_l1: _nonnegative_l1_value,
    prox_l2_ball: _zero,
    prox_group_l2: _group_l2_value,
    prox_simplex: _zero,
    prox_max_entropy: _max_entropy_value,
}

#: Names accepted by :func:`get_prox` (and by the ``prox_*`` parameters of the
#: estimators): the operator ``prox_<name>`` of this module.
PROX_NAMES = tuple(sorted(f.__name__[len("prox_") :] for f in _PENALTIES))

_PARAMETERS = {
    prox_identity: (),
    prox_nonnegative: (),
    prox_box: ("lower", "upper"),
    prox_l1: ("alpha",),
    prox_nonnegative_l1: ("alpha",),
    prox_l2_ball: ("radius", "axis"),
    prox_group_l2: ("alpha", "axis"),
    prox_simplex: ("total", "axis"),
    prox_max_entropy: ("alpha",),
}


def _is_module_operator(func):
    try:
        return func in _PENALTIES
    except TypeError:  # unhashable user callable
        return False


def _resolve(operator):
    """``(function, parameters)`` of an operator of this module, else None."""
    if isinstance(operator, functools.partial):
        if operator.args or not _is_module_operator(operator.func):
            return None
        func, keywords = operator.func, dict(operator.keywords)
    elif _is_module_operator(operator):
        func, keywords = operator, {}
    else:
        return None
    defaults = func.__kwdefaults__ or {}
    params = {name: keywords.get(name, defaults[name]) for name in _PARAMETERS[func]}
    return func, params


def get_prox(name, **params):
    """The operator called ``name``, configured with ``params``.

    Parameters
    ----------
    name : str
        One of :data:`PROX_NAMES`: ``"box"``, ``"group_l2"``, ``"identity"``,
        ``"l1"``, ``"l2_ball"``, ``"max_entropy"``, ``"nonnegative"``,
        ``"nonnegative_l1"``, ``"simplex"``.
    **params
        Keyword parameters of ``prox_<name>`` (e.g. ``alpha``, ``axis``).

    Returns
    -------
    operator : callable
        ``(X, step) -> ndarray``: the function ``prox_<name>`` itself, or a
        :func:`functools.partial` of it when ``params`` are given.

    Examples
    --------
    >>> from skfactor.prox import get_prox
    >>> soft = get_prox("l1", alpha=0.5)
    >>> soft([3.0, -2.0], 2.0)
    array([ 2., -1.])
    >>> get_prox("sparse")
    Traceback (most recent call last):
        ...
    ValueError: Unknown proximal operator 'sparse'; valid names are 'box', \
'group_l2', 'identity', 'l1', 'l2_ball', 'max_entropy', 'nonnegative', \
'nonnegative_l1', 'simplex'.
    """
    if not isinstance(name, str) or name not in PROX_NAMES:
        raise ValueError(
            f"Unknown proximal operator {name!r}; valid names are "
            + ", ".join(repr(n) for n in PROX_NAMES)
            + "."
        )
    func = globals()["prox_" + name]
    unknown = set(params) - set(_PARAMETERS[func])
    if unknown:
        allowed = ", ".join(_PARAMETERS[func]) or "none"
        raise TypeError(
            f"prox_{name} has no parameter {sorted(unknown)[0]!r} "
            f"(its parameters: {allowed})."
        )
    return functools.partial(func, **params) if params else func


def penalty_value(operator, X):
    r"""Value at ``X`` of the function whose proximal operator is ``operator``.

    This is the term a proximal solver adds to its objective for a factor:
    :math:`\alpha \|X\|_1` for :func:`prox_l1`,
    :math:`\alpha \sum_g \|x_g\|_2` for :func:`prox_group_l2`,
    :math:`\alpha \sum X \log X` for :func:`prox_max_entropy`, the sum of both
    parts for a :func:`compose` d operator. Constraints (indicator functions)
    contribute 0: ``X`` is assumed to satisfy them, as the output of the
    operator does.

    Parameters
    ----------
    operator : callable
        An operator of this module, a :func:`functools.partial` of one (with
        keyword arguments only), a :class:`ComposedProx`, or any callable with
        a ``penalty`` attribute ``X -> float``.
    X : array-like
        Point at which the penalty is evaluated.

    Returns
    -------
    value : float or None
        ``None`` when the penalty of ``operator`` is unknown (a user callable
        without a ``penalty`` attribute).

    Examples
    --------
    >>> from skfactor.prox import get_prox, penalty_value, prox_simplex
    >>> penalty_value(get_prox("l1", alpha=0.5), [[1.0, -3.0]])
    2.0
    >>> penalty_value(prox_simplex, [[0.5, 0.5]])
    0.0
    >>> print(penalty_value(lambda X, step: X, [1.0]))
    None
    """
    if isinstance(operator, ComposedProx):
        outer = penalty_value(operator.outer, X)
        inner = penalty_value(operator.inner, X)
        return None if outer is None or inner is None else outer + inner
    resolved = _resolve(operator)
    if resolved is not None:
        func, params = resolved
        return float(_PENALTIES[func](X, **params))
    penalty = getattr(operator, "penalty", None)
    if callable(penalty):
        return float(penalty(X))
    return None


# --------------------------------------------------------------------------
# composition


def _always(outer, inner):
    return None


def _same_axis(outer, inner):
    if outer["axis"] != inner["axis"]:
        return (
            f"both operators must act along the same axis (got axis="
            f"{outer['axis']!r} and axis={inner['axis']!r})"
        )
    return None


def _upper_nonnegative(outer, inner):
    if np.any(np.asarray(outer["upper"], dtype=float) < 0):
        return "the box must intersect the nonnegative orthant (upper >= 0)"
    return None


# (outer, inner) pairs for which outer(inner(V, t), t) = prox_{t(f + g)}(V):
# - a box or the orthant after a separable penalty: each coordinate is a 1-D
#   convex problem, whose minimizer over an interval is the clipped
#   unconstrained minimizer;
# - a penalty after the projection onto the orthant when the penalty is
#   separable or radial (the negative coordinates of V can only increase the
#   distance, so they are zero at the solution and V may be replaced by V+);
# - an l2 ball after group soft thresholding along the same axis: both act
#   radially on each group.
_EXACT_COMPOSITIONS = {
    (prox_nonnegative, prox_l1): _always,
    (prox_nonnegative, prox_nonnegative_l1): _always,
    (prox_nonnegative, prox_max_entropy): _always,
    (prox_box, prox_l1): _always,
    (prox_box, prox_nonnegative_l1): _upper_nonnegative,
    (prox_box, prox_max_entropy): _upper_nonnegative,
    (prox_l1, prox_nonnegative): _always,
    (prox_nonnegative_l1, prox_nonnegative): _always,
    (prox_group_l2, prox_nonnegative): _always,
    (prox_l2_ball, prox_nonnegative): _always,
    (prox_l2_ball, prox_group_l2): _same_axis,
}


def _describe(operator):
    resolved = _resolve(operator)
    if resolved is None:
        return repr(operator)
    func, params = resolved
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return f"{func.__name__}({args})" if args else func.__name__


def _same_operator(a, b):
    """Same function with equal parameters (partials compare by identity)."""
    ra, rb = _resolve(a), _resolve(b)
    if ra is None or rb is None:
        return a is b
    return ra[0] is rb[0] and all(
        np.array_equal(ra[1][name], rb[1][name]) for name in ra[1]
    )


class ComposedProx:
    """``outer(inner(X, step), step)``, built by :func:`compose`.

    Parameters
    ----------
    outer, inner : callable
        Operators of this module (or partials of them).
    """

    def __init__(self, outer, inner):
        self.outer = outer
        self.inner = inner

    def __call__(self, X, step):
        return self.outer(self.inner(X, step), step)

    def penalty(self, X):
        """Sum of the penalties of both operators at ``X``."""
        return penalty_value(self, X)

    def __repr__(self):
        return f"compose({_describe(self.outer)}, {_describe(self.inner)})"

    def __eq__(self, other):
        if not isinstance(other, ComposedProx):
            return NotImplemented
        return _same_operator(self.outer, other.outer) and _same_operator(
            self.inner, other.inner
        )

    def __hash__(self):
        return hash((ComposedProx, _resolve(self.outer)[0], _resolve(self.inner)[0]))


def compose(outer, inner):
    r"""Proximal operator of a sum of two functions, when it is a composition.

    In general :math:`\operatorname{prox}_{f+g} \ne \operatorname{prox}_f
    \circ \operatorname{prox}_g`; this function only builds the compositions
    for which equality holds, and raises ``ValueError`` otherwise:

    ==========================  ======================================
    ``outer``                   ``inner``
    ==========================  ======================================
    nonnegative                 l1, nonnegative_l1, max_entropy
    box                         l1; nonnegative_l1, max_entropy (if
                                ``upper >= 0``)
    l1, nonnegative_l1          nonnegative
    group_l2, l2_ball           nonnegative
    l2_ball                     group_l2 (same ``axis``)
    ==========================  ======================================

    A box or the orthant after a separable penalty is exact because each
    coordinate is a one-dimensional convex problem, minimized over an
    interval by the clipped unconstrained minimizer. A separable or radial
    penalty after the projection onto the orthant is exact because negative
    coordinates of :math:`V` are zero at the solution. A ball after group
    soft thresholding is exact because both act radially on each group.

    Parameters
    ----------
    outer : callable
        Operator applied second, e.g. a projection.
    inner : callable
        Operator applied first, e.g. a penalty's operator.

    Returns
    -------
    operator : ComposedProx
        Callable ``(X, step) -> ndarray`` whose :func:`penalty_value` is the
        sum of the two penalties.

    Examples
    --------
    >>> import functools
    >>> from skfactor.prox import compose, prox_box, prox_l1, prox_simplex
    >>> op = compose(functools.partial(prox_box, lower=-1, upper=1), prox_l1)
    >>> op([3.0, -0.5, -1.8], 1.0)
    array([ 1. ,  0. , -0.8])
    >>> compose(prox_simplex, prox_l1)
    Traceback (most recent call last):
        ...
    ValueError: compose(prox_simplex(...), prox_l1(...)) is not the proximal ...
    """
    pair = (_resolve(outer), _resolve(inner))
    if pair[0] is None or pair[1] is None:
        bad = outer if pair[0] is None else inner
        raise ValueError(
            f"compose only combines operators of skfactor.prox (or "
            f"functools.partial of them); got {bad!r}. Write the proximal "
            "operator of your sum as a callable (X, step) -> array instead."
        )
    (outer_func, outer_params), (inner_func, inner_params) = pair
    if outer_func is prox_identity or inner_func is prox_identity:
        return ComposedProx(outer, inner)
    check = _EXACT_COMPOSITIONS.get((outer_func, inner_func))
    if check is None:
        listing = "; ".join(
            f"{o.__name__} after {i.__name__}" for o, i in _EXACT_COMPOSITIONS
        )
        raise ValueError(
            f"compose({_describe(outer)}, {_describe(inner)}) is not the proximal "
            "operator of the sum of the two functions. Exact compositions: "
            f"{listing}."
        )
    problem = check(outer_params, inner_params)
    if problem is not None:
        raise ValueError(
            f"compose({_describe(outer)}, {_describe(inner)}) is not exact: {problem}."
        )
    return ComposedProx(outer, inner)
