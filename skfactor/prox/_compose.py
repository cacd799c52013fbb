r"""Composition of two proximal operators.

:func:`compose` returns :math:`\operatorname{prox}_f \circ
\operatorname{prox}_g` only in the cases where it is exactly the proximal
operator of :math:`f + g` (a projection after a separable penalty it
commutes with, the same axis for group operators, ...).
"""

import numpy as np

from ._operators import (
    prox_identity,
    prox_box,
    prox_group_l2,
    prox_l1,
    prox_l2_ball,
    prox_max_entropy,
    prox_nonnegative,
    prox_nonnegative_l1,
)
from ._penalties import _resolve, penalty_value

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
        """Sum of the penalties of both operators at ``X`` (None if unknown)."""
        outer = penalty_value(self.outer, X)
        inner = penalty_value(self.inner, X)
        return None if outer is None or inner is None else outer + inner

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
