r"""The functions the operators are the proximal operators of.

:func:`penalty_value` evaluates :math:`g(X)` for an operator of
:mod:`skfactor.prox` (:math:`\alpha \|X\|_1`, :math:`\alpha \sum_g
\|x_g\|_2`, :math:`\alpha \sum X \log X`, zero for projections), the term a
proximal solver adds to its objective; :func:`get_prox` configures an
operator by name.
"""

import functools

import numpy as np
from scipy.special import xlogy

from ..utils._penalties import penalty_values
from ._operators import (
    _check_axis,
    _group_norms,
    prox_box,
    prox_group_l2,
    prox_identity,
    prox_l1,
    prox_l2_ball,
    prox_max_entropy,
    prox_nonnegative,
    prox_nonnegative_l1,
    prox_simplex,
)

# --------------------------------------------------------------------------
# penalties (the functions the operators are the proximal operators of)


def _zero(X, **params):
    return 0.0


def _l1_value(X, *, alpha=1.0):
    return float(alpha) * float(penalty_values(np.reshape(X, (-1, 1)), "l1")[0])


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
_BY_NAME = {f.__name__[len("prox_") :]: f for f in _PENALTIES}

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
    func = _BY_NAME[name]
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
    resolved = _resolve(operator)
    if resolved is not None:
        func, params = resolved
        return float(_PENALTIES[func](X, **params))
    penalty = getattr(operator, "penalty", None)  # e.g. a ComposedProx
    if callable(penalty):
        value = penalty(X)
        return None if value is None else float(value)
    return None
