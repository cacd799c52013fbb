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


The package is split by concept: :mod:`skfactor.prox._operators` (the
operators and their input checks), :mod:`skfactor.prox._penalties` (the
functions they are the proximal operators of, :func:`get_prox` and
:func:`penalty_value`) and :mod:`skfactor.prox._compose` (:func:`compose`).
"""

from ._compose import ComposedProx, compose
from ._operators import (
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
from ._penalties import PROX_NAMES, get_prox, penalty_value

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
