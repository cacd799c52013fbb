r"""Positive real roots of small polynomials, in closed form.

The optimal scaling of a factorization's start
(:func:`skfactor._balance.frobenius_optimal_initial_scale`) is a root of its
stationarity polynomial, for two factors with l1 or ridge penalties a
cubic. :func:`positive_real_roots` solves degrees up to 3 in closed form
(about a quarter of the time of ``numpy.roots``, the eigenvalues of the
companion matrix, which it falls back to above degree 3 and wherever a
closed form is not accurate).
"""

import math

import numpy as np

__all__ = ["positive_real_roots"]

#: Most Newton steps polishing a root from a closed form.
_POLISH_STEPS = 6


def positive_real_roots(coef):
    """Positive real roots of the polynomial with coefficients ``coef``
    (highest power first; leading zeros are dropped, as ``numpy.roots``
    does).

    In closed form up to degree 3 (the scalings of one or two factors with
    l1 or ridge penalties: a line, or a cubic without its square term),
    each root then polished by Newton steps; above, and for a cubic whose
    discriminant's sign is lost to rounding or whose coefficients divided
    by the leading one overflow, from the eigenvalues of the
    companion matrix (``numpy.roots``), keeping those
    whose imaginary part is at most 1e-9 of their modulus. A root counted
    twice may come out once: that is a stationary point where the
    derivative does not change sign, never a minimizer.

    >>> positive_real_roots([1.0, 0.0, -7.0, 6.0])  # (x - 1)(x - 2)(x + 3)
    [1.0, 2.0]
    """
    coef = [float(c) for c in coef]
    while coef and coef[0] == 0.0:
        coef.pop(0)
    degree = len(coef) - 1
    if degree < 1:
        return []
    monic = [c / coef[0] for c in coef[1:]]
    roots = None
    if not all(map(math.isfinite, monic)):
        pass  # a leading coefficient orders of magnitude below the others
    elif degree == 1:
        roots = [-monic[0]]
    elif degree == 2:
        roots = _quadratic_roots(*monic)
    elif degree == 3:
        roots = _cubic_roots(*monic)
    if degree > 3 or roots is None:
        return _companion_roots(coef)
    polished = []
    for x in roots:
        for _ in range(_POLISH_STEPS):
            value, slope = _value_and_slope(coef, x)
            if slope == 0.0:
                break
            step = value / slope
            x -= step
            if abs(step) <= 1e-15 * abs(x):
                break
        polished.append(x)
    if not all(_is_root(coef, x) for x in polished):
        return _companion_roots(coef)
    return sorted(x for x in polished if x > 0)


def _is_root(coef, x):
    """Whether ``x`` is finite and the polynomial ``coef`` vanishes there to
    1e-10 of the sum of the moduli of its terms (the closed forms lose
    accuracy when the coefficients span hundreds of orders of magnitude)."""
    if not math.isfinite(x):
        return False
    value, size = 0.0, 0.0
    for c in coef:
        value = value * x + c
        size = size * abs(x) + abs(c)
    return abs(value) <= 1e-10 * size


def _companion_roots(coef):
    """:func:`positive_real_roots` by ``numpy.roots``."""
    roots = np.roots(coef)
    keep = (np.abs(roots.imag) <= 1e-9 * np.abs(roots)) & (roots.real > 0)
    return sorted(float(x) for x in roots.real[keep])


def _value_and_slope(coef, x):
    """The polynomial ``coef`` (highest power first) and its derivative at
    ``x`` (Horner)."""
    value, slope = 0.0, 0.0
    for c in coef:
        slope = slope * x + value
        value = value * x + c
    return value, slope


def _quadratic_roots(b, c):
    """Real roots of :math:`x^2 + bx + c` (without cancellation); None if
    the discriminant overflows."""
    discriminant = b * b - 4.0 * c
    if not math.isfinite(discriminant):
        return None
    if discriminant < 0:
        return []
    q = -0.5 * (b + math.copysign(math.sqrt(discriminant), b))
    return [q, c / q] if q != 0.0 else [0.0]


def _cubic_roots(b, c, d):
    """Real roots of :math:`x^3 + bx^2 + cx + d` (Numerical Recipes' form
    of Cardano's and the trigonometric formula). With three real roots
    only the one of largest modulus is taken from the formula, the other
    two from the quadratic left after dividing it out, which keeps roots
    orders of magnitude smaller accurate. None where the sign of the
    discriminant is lost to rounding (roots of very different magnitudes,
    or near a double root)."""
    Q = (b * b - 3.0 * c) / 9.0
    R = (2.0 * b * b * b - 9.0 * b * c + 27.0 * d) / 54.0
    Q3, b3 = Q * Q * Q, b * b * b  # (products overflow to inf; ** raises)
    size = max(R * R, abs(Q3), (b * b * c * c + abs(b3 * d) + abs(b * c * d)) / 81)
    if not math.isfinite(size) or abs(R * R - Q3) <= 1e-8 * size:
        return None
    if R * R < Q3:
        angle = math.acos(min(max(R / math.sqrt(Q3), -1.0), 1.0))
        candidates = [
            -2.0 * math.sqrt(Q) * math.cos((angle + 2.0 * math.pi * k) / 3.0) - b / 3.0
            for k in range(3)
        ]
        largest = max(candidates, key=abs)
        e = b + largest  # x^3 + b x^2 + c x + d = (x - largest)(x^2 + e x + f)
        rest = _quadratic_roots(e, c + e * largest)
        return None if rest is None else [largest, *rest]
    A = -math.copysign(_cbrt(abs(R) + math.sqrt(R * R - Q3)), R)
    return [A + (Q / A if A != 0.0 else 0.0) - b / 3.0]


def _cbrt(x):
    return math.copysign(abs(x) ** (1.0 / 3.0), x)
