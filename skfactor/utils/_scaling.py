r"""The one policy for data near the limits of floating point.

Solvers square the data (losses, Gram matrices), floor it at an absolute
:math:`\epsilon` (multiplicative updates) or take its logarithm, so data whose
magnitude is far from 1 can overflow, underflow or meet the floor. Two cases:

- **Models invariant under a change of scale** (matrix and tensor
  factorizations, factor models) divide the data by a power of two,
  :math:`X' = 2^{-e} X`, which is exact in binary floating point (every
  rounding of the solver is unchanged, barring overflow), solve, and map the
  result back (factors multiplied by :math:`2^{e / N}`, penalty weights by the
  power of two their homogeneity degree gives). :func:`scale_exponent`
  chooses :math:`e`: zero for data already within :math:`2^{\pm r}` of 1
  (results are then bit-identical to an unscaled solve), otherwise the
  multiple of ``multiple`` nearest to :math:`\log_2 \max |X|`.
- **Models with user constraints** that do not transform with the data
  (switching regressions with cvxpy constraints on the coefficients) cannot
  rescale; they reject data whose squares overflow, with a message that says
  to rescale it (:func:`skfactor.utils.validation.check_finite_scale`).
"""

import numpy as np

__all__ = ["scale_exponent", "row_scale_exponents"]

#: Data with largest magnitude within 2**-UNSCALED_RANGE .. 2**UNSCALED_RANGE
#: of one is solved as it is.
UNSCALED_RANGE = 20


def scale_exponent(max_abs, multiple=1, unscaled_range=UNSCALED_RANGE):
    """Exponent :math:`e` of the exact rescaling :math:`X / 2^e`.

    Parameters
    ----------
    max_abs : float
        Largest magnitude of the data, ``>= 0``.
    multiple : int, default=1
        :math:`e` is a multiple of it (e.g. the number of factors the scale
        is shared among, so each factor takes :math:`2^{e / N}` exactly).
    unscaled_range : float, default=20
        No rescaling (``e = 0``) when :math:`|\\log_2 \\max|X|| \\le` this.

    Returns
    -------
    e : int

    Examples
    --------
    >>> scale_exponent(1e300, multiple=3), scale_exponent(5.0), scale_exponent(0.0)
    (996, 0, 0)
    """
    if not max_abs > 0 or not np.isfinite(max_abs):
        return 0
    exponent = float(np.log2(max_abs))
    if abs(exponent) <= unscaled_range:
        return 0
    return int(multiple * np.round(exponent / multiple))


def row_scale_exponents(max_abs_rows):
    """Per-row exponents :math:`e_i` with :math:`2^{-e_i} \\max_j |X_{ij}|` in
    :math:`[1/2, 1)` (0 for a zero row): exact row scaling before moments are
    computed, so neither a mean nor a variance overflows.

    Parameters
    ----------
    max_abs_rows : ndarray of shape (n_rows,)

    Returns
    -------
    exponents : ndarray of int of shape (n_rows,)

    Examples
    --------
    >>> import numpy as np
    >>> row_scale_exponents(np.array([1e300, 3.0, 0.0]))
    array([997,   2,   0])
    """
    _, exponents = np.frexp(np.asarray(max_abs_rows, dtype=np.float64))
    return exponents.astype(np.int64)
