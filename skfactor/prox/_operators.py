r"""The proximal operators and the checks of their input.

Each ``prox_<name>(X, step, **params)`` evaluates
:math:`\operatorname{prox}_{t g}(V) = \arg\min_X t\, g(X) + \tfrac12 \|X - V\|_F^2`
for one function :math:`g`: identity (:math:`g = 0`), projections onto the
nonnegative orthant, a box, an l2 ball and the simplex; soft thresholding
(l1, nonnegative l1), group soft thresholding (group l2) and the
negative-entropy operator (Wright omega function).
"""

from numbers import Integral, Real

import numpy as np
from scipy.special import wrightomega

from ..utils._docstrings import fill_doc
from ..utils._penalties import group_norms as _group_norms

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
