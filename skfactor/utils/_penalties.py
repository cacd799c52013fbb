r"""Values of the penalties of the package, each formula written once.

- :math:`g(x) = \sum_j |x_j|^p` per column (:func:`penalty_values`, compiled
  as :func:`column_penalties`): the :math:`\ell_1` norm (``"l1"``, degree 1),
  the squared Frobenius norm (``"l2"``, ridge, degree 2) or any positive
  degree; used by the objectives and the balancing of the factorizations
  (NMF, CP, Tucker, proximal MF) and by the coefficient penalties of the
  switching models;
- :math:`\|x_g\|_2` per slice (:func:`group_norms`): the group lasso of the
  proximal operators and of the switching models.
"""

import numpy as np
from numba import njit

__all__ = ["column_penalties", "group_norms", "penalty_degree", "penalty_values"]

_NAMED_DEGREES = {"l1": 1.0, "l2": 2.0}


def penalty_degree(penalty):
    """Homogeneity degree of a penalty.

    ``"l1"`` is the :math:`\\ell_1` norm (degree 1) and ``"l2"`` the squared
    Frobenius norm (ridge, degree 2); a positive number ``p`` stands for
    :math:`\\sum_j |x_j|^p` (degree ``p``).

    >>> penalty_degree("l1"), penalty_degree("l2"), penalty_degree(1.5)
    (1.0, 2.0, 1.5)
    """
    if isinstance(penalty, str):
        try:
            return _NAMED_DEGREES[penalty]
        except KeyError:
            raise ValueError(
                f"Unknown penalty {penalty!r}; expected 'l1', 'l2' or a positive "
                "number."
            ) from None
    degree = float(penalty)
    if not degree > 0:
        raise ValueError(f"A penalty degree must be positive; got {penalty!r}.")
    return degree


def penalty_values(factor, penalty):
    """Penalty of each column: :math:`g(x) = \\sum_j |x_j|^p`.

    Parameters
    ----------
    factor : ndarray of shape (m, r)
        Factor matrix.
    penalty : {"l1", "l2"} or float
        See :func:`penalty_degree`.

    Returns
    -------
    values : ndarray of shape (r,)

    Examples
    --------
    >>> import numpy as np
    >>> penalty_values(np.array([[1.0, -2.0], [3.0, 0.0]]), "l2")
    array([10.,  4.])
    """
    factor = np.ascontiguousarray(factor, dtype=np.float64)
    if factor.ndim != 2:
        raise ValueError(f"factor must be 2-dimensional; got shape {factor.shape}.")
    return column_penalties(factor, penalty_degree(penalty))


@njit(cache=True, inline="always")
def entry_penalty(x, degree):  # pragma: no cover (compiled)
    """:math:`|x|^p` for the penalty of ``degree`` p (the one implementation
    of :math:`g` per entry, also called from the compiled solvers)."""
    x = abs(x)
    if degree == 1.0:
        return x
    if degree == 2.0:
        return x * x
    return x**degree


@njit(cache=True)
def column_penalties(factor, degree):
    """:func:`penalty_values` of a C-contiguous float64 matrix, compiled
    (:func:`entry_penalty` summed down the columns); ``degree`` is a float
    from :func:`penalty_degree`."""
    m, r = factor.shape
    values = np.zeros(r)
    for i in range(m):
        for q in range(r):
            values[q] += entry_penalty(factor[i, q], degree)
    return values


def group_norms(X, axis):
    """l2 norms of the slices along ``axis`` (all of X if None), keepdims."""
    if axis is None:
        return np.sqrt(np.sum(X * X, keepdims=True, dtype=X.dtype))
    return np.sqrt(np.sum(X * X, axis=axis, keepdims=True, dtype=X.dtype))


# --------------------------------------------------------------------------
# operators
