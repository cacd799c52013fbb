"""Input checks shared by the estimators, with messages that name the problem."""

import numpy as np
import scipy.sparse as sp

__all__ = ["check_finite_scale", "check_nonnegative", "check_shape"]


def check_nonnegative(X, whom):
    """Raise a ``ValueError`` counting the negative entries of ``X``.

    Unlike :func:`sklearn.utils.validation.check_non_negative`, the message
    says how many entries are negative and the most negative value, which is
    what a user needs to find the bad rows.

    Parameters
    ----------
    X : array-like or sparse matrix
        Data to check (already validated as numeric).
    whom : str
        Who passes the data, for the message, e.g. ``"BalancedSparseNMF.fit"``.

    Raises
    ------
    ValueError
        If any entry is negative.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.utils.validation import check_nonnegative
    >>> check_nonnegative(np.array([[0.0, 1.0]]), "fit")
    >>> check_nonnegative(np.array([[-1.0, 2.0, -3.0]]), "fit")
    Traceback (most recent call last):
        ...
    ValueError: Negative values in data passed to fit: 2 negative entries \
(minimum -3). This model needs nonnegative data.
    """
    values = X.data if sp.issparse(X) else np.asarray(X)
    negative = values < 0
    count = int(np.count_nonzero(negative))
    if count:
        minimum = values[negative].min()
        raise ValueError(
            f"Negative values in data passed to {whom}: {count} negative "
            f"entr{'y' if count == 1 else 'ies'} (minimum {minimum:g}). "
            "This model needs nonnegative data."
        )


# Squares of values up to this size, summed over up to 1e8 terms, stay finite
# in float64 (max 1.8e308).
MAX_ABS_VALUE = 1e150


def check_finite_scale(X, whom, name="X", max_abs=MAX_ABS_VALUE):
    """Raise a ``ValueError`` when ``X`` holds values too large to square.

    Losses, Gram matrices and gradients square the data; beyond ``max_abs``
    they overflow to infinity and the solvers fail deep inside LAPACK or
    return garbage. This check fails early and says what to do.

    Parameters
    ----------
    X : array-like or sparse matrix
        Data to check (already validated as finite and numeric).
    whom : str
        Who passes the data, for the message.
    name : str, default="X"
        Name of the data in the message.
    max_abs : float, default=1e150
        Largest absolute value accepted.

    Raises
    ------
    ValueError
        If some ``|X[i, j]| > max_abs``.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.utils.validation import check_finite_scale
    >>> check_finite_scale(np.array([1.0, -1e100]), "fit")
    >>> check_finite_scale(np.array([1.0, -1e300]), "fit", name="y")
    Traceback (most recent call last):
        ...
    ValueError: y passed to fit has values up to 1e+300 in absolute value; \
their squares overflow float64. Rescale the data (e.g. with StandardScaler).
    """
    values = X.data if sp.issparse(X) else np.asarray(X)
    if values.size == 0:
        return
    largest = float(np.max(np.abs(values)))
    if largest > max_abs:
        raise ValueError(
            f"{name} passed to {whom} has values up to {largest:.0e} in absolute "
            "value; their squares overflow float64. Rescale the data (e.g. "
            "with StandardScaler)."
        )


def check_shape(shape, name, *, min_length=1):
    """Validate an array shape given by the user: a sequence of positive ints.

    Parameters
    ----------
    shape : sequence of int
        The shape to check.
    name : str
        Name of the parameter, for the message.
    min_length : int, default=1
        Minimal number of axes.

    Returns
    -------
    shape : tuple of int

    Raises
    ------
    ValueError
        If ``shape`` is not a flat sequence of at least ``min_length``
        positive integers.

    Examples
    --------
    >>> from skfactor.utils.validation import check_shape
    >>> check_shape([3, 4], "tensor_shape")
    (3, 4)
    >>> check_shape((3, 0), "tensor_shape")
    Traceback (most recent call last):
        ...
    ValueError: tensor_shape must be a sequence of at least 1 positive \
integer(s); got (3, 0).
    """
    array = np.asarray(shape)
    if (
        array.ndim != 1
        or array.size < min_length
        or not np.issubdtype(array.dtype, np.integer)
        or np.any(array < 1)
    ):
        raise ValueError(
            f"{name} must be a sequence of at least {min_length} positive "
            f"integer(s); got {shape!r}."
        )
    return tuple(int(s) for s in array)
