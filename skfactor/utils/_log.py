r"""A natural logarithm that compiled loops can vectorize.

The Kullback-Leibler objectives need :math:`\sum_p w_p \log v_p` over every
nonzero of the data at every iteration. numpy's ``log`` of float64 calls the
C library once per entry (4.5-5.5 ns on the AVX2 machines without AVX-512
measured), which costs as much as the rest of a multiplicative-update
iteration on a 200 x 120 matrix. :func:`log` is written with arithmetic
only, so that LLVM turns a loop over it into SIMD code (about 1 ns per entry
on one such machine; in a weighted sum of 150,000 entries on another, an
AMD EPYC, December 2026, 1.6 ns, 1.9 with the ten-term series this module
used before):

* split :math:`v = 2^e m` with :math:`m \in [\sqrt{1/2}, \sqrt 2)`, reading
  the exponent and mantissa from the bits of :math:`v`;
* :math:`\log m = 2 \operatorname{atanh} s = 2s + 2s z P(z)` with
  :math:`s = (m - 1) / (m + 1)`, :math:`|s| \le 0.1716`, :math:`z = s^2`
  and :math:`P(z) = (\operatorname{atanh}(\sqrt z)/\sqrt z - 1)/z
  = \sum_{k \ge 0} z^k / (2k + 3)`, taken as the degree-6 Chebyshev
  approximation of :math:`P` on :math:`[0, 0.1716^2]` (fitted once,
  offline, by ``mpmath.chebyfit`` at 60 digits, not a dependency; its
  error, 1.6e-16, moves the logarithm by about 5e-18 relative): seven
  multiply-adds where the series needs ten terms, and the same accuracy
  (at most 2 units in the last place on 2,000,000 values over every
  binade, as before);
* :math:`\log v = e \log 2 + \log m`, with :math:`\log 2` split in a head
  exact in a product by :math:`e` and a tail.

The result is within a few units in the last place of ``math.log`` for
positive normal numbers. Zero, subnormal, negative, infinite and NaN entries
are not handled by :func:`log`: a loop counts them with :func:`abnormal` on
the way and redoes its sum by :func:`exact_weighted_log_sum` (``math.log``)
when there are any.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["abnormal", "exact_weighted_log_sum", "log", "weighted_log_sum"]

_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE = 0x3FF0000000000000  # bits of 1.0
_SQRT2 = 0x3FF6A09E667F3BCD  # bits of sqrt(2), rounded down
_TWO52 = 0x4330000000000000  # bits of 2 ** 52: a float whose last bits are an int
# log 2 = _LN2_HEAD + _LN2_TAIL, the head with 11 trailing zero bits, so that
# e * _LN2_HEAD is exact for |e| < 2048
_LN2_HEAD = 6.93147180369123816490e-01
_LN2_TAIL = 1.90821492927058770002e-10
# P(z) = sum_k z^k / (2 k + 3), lowest degree first: its degree-6 Chebyshev
# approximation on [0, ((sqrt 2 - 1) / (sqrt 2 + 1))^2] (see the module)
_P = (
    0.3333333333333335,
    0.19999999999949444,
    0.14285714313126918,
    0.11111105544689748,
    0.09091446216268435,
    0.07665805861027504,
    0.07308903576708663,
)


@intrinsic
def _bits(typingctx, x):  # pragma: no cover (compiled)
    """The bits of a float64 as an int64 (no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _float(typingctx, b):  # pragma: no cover (compiled)
    """The float64 whose bits are the int64 ``b``."""
    if b != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True, inline="always", error_model="numpy")
def log(v):  # pragma: no cover (compiled)
    """Natural logarithm of a positive normal float64 (see the module)."""
    b = _bits(v)
    mantissa = (b & _MANTISSA) | _ONE
    # m in [sqrt(1/2), sqrt(2)): halve m, and raise the exponent, above sqrt 2
    high = np.int64(mantissa > _SQRT2)
    mantissa -= high << 52
    # the exponent, as a float without an int-to-float conversion (AVX2 has
    # none for 64-bit integers)
    e = _float(_TWO52 | ((b >> 52) + high)) - (4503599627370496.0 + 1023.0)
    f = _float(mantissa) - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = _P[6]
    p = p * z + _P[5]
    p = p * z + _P[4]
    p = p * z + _P[3]
    p = p * z + _P[2]
    p = p * z + _P[1]
    p = p * z + _P[0]
    return e * _LN2_HEAD + (e * _LN2_TAIL + (2.0 * s + 2.0 * s * z * p))


@njit(cache=True, inline="always")
def abnormal(v):  # pragma: no cover (compiled)
    """1 if ``v`` is not a positive normal number (outside :func:`log`)."""
    exponent = _bits(v) >> 52  # negative for a set sign bit
    return np.int64((exponent <= 0) | (exponent >= 2047))


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def weighted_log_sum(weights, values):  # pragma: no cover (compiled)
    r""":math:`\sum_p w_p \log v_p` over the entries with :math:`w_p \ne 0`.

    Fastest when every value is a positive normal number, those of zero
    weight included (e.g. 1); otherwise the sum is that of
    :func:`exact_weighted_log_sum`.

    Parameters
    ----------
    weights, values : ndarray of shape (n,)

    Returns
    -------
    total : float
    """
    total = 0.0
    n_abnormal = 0
    for p in range(values.size):
        n_abnormal += abnormal(values[p])
        total += weights[p] * log(values[p])
    if n_abnormal:
        return exact_weighted_log_sum(weights, values)
    return total


@njit(cache=True)
def exact_weighted_log_sum(weights, values):  # pragma: no cover (compiled)
    r""":math:`\sum_p w_p \log v_p` over :math:`w_p \ne 0` by ``math.log``:
    ``-inf``, ``inf`` or NaN for a zero, an infinite or a negative value."""
    total = 0.0
    for p in range(values.size):
        if weights[p] != 0.0:
            total += weights[p] * math.log(values[p])
    return total
