r"""Majorization-minimization steps shared by the solvers of penalized NMF.

- :func:`penalized_step` / :func:`entry_step`: the entrywise minimizer of
  the separable majorizer of the objective in one factor (multiplicative
  updates): :math:`f = \tilde f\, b / (d + \alpha)` for an
  :math:`\ell_1` penalty, :math:`f = 2s / (c + \sqrt{c^2 + 8\alpha s})`
  for Kullback-Leibler with a ridge penalty, and
  :math:`f = \tilde f b / (d + 2\alpha\tilde f)` for Frobenius with a
  ridge penalty.
- :func:`balance_in_place`: the optimal rescaling of the rank-one
  components :math:`(W_{:q}, H_{q:}) \to (\lambda_q W_{:q}, H_{q:}/\lambda_q)`
  (:func:`skfactor._balance.scales_of_penalties`), clipped so that no entry
  falls below the floor :math:`\epsilon`.

Scalars reach the compiled code packed: a factor's penalty as a
:class:`Penalty` ``(alpha, degree)``, both factors' as :class:`Penalties`.

References
----------
J. E. Cohen, "Implicit regularization in regularized (nonnegative)
low-rank approximations", talk, Palaiseau, March 2024 (joint work with
V. Leplat); its equations are cited as "Cohen and Leplat, eq. N".
"""

from collections import namedtuple

import numpy as np
from numba import njit

from .._balance import scales_of_penalties
from ..utils._penalties import entry_penalty, penalty_degree
from ._objective import _TINY, EPSILON

#: Penalty of one factor: weight ``alpha`` and homogeneity ``degree`` (1 for
#: l1, 2 for the squared Frobenius norm).
Penalty = namedtuple("Penalty", ["alpha", "degree"])
#: Penalties of ``W`` and ``H``.
Penalties = namedtuple("Penalties", ["W", "H"])


def make_penalties(alpha_W, alpha_H, penalty_W, penalty_H):
    """:class:`Penalties` of the model, as floats for the compiled code."""
    return Penalties(
        Penalty(float(alpha_W), penalty_degree(penalty_W)),
        Penalty(float(alpha_H), penalty_degree(penalty_H)),
    )


def penalized_step(F, numerator, denominator, alpha, penalty, beta):
    r"""Entrywise minimizer of the majorizer of the objective in one factor.

    With :math:`\tilde F` the current factor, the majorizer of the fit term
    at an entry is

    - KL (:math:`\beta = 1`): :math:`c f - s \log f` with
      :math:`s = \tilde f \cdot` ``numerator`` and :math:`c` = ``denominator``
      (column sums of the other factor);
    - Frobenius (:math:`\beta = 2`): :math:`\frac{d}{2\tilde f} f^2 - b f`
      with :math:`b` = ``numerator`` (:math:`XH^\top`) and :math:`d` =
      ``denominator`` (:math:`\tilde W H H^\top`).

    Adding :math:`\alpha f` (:math:`\ell_1`; for Frobenius majorized by
    :math:`\alpha (f^2/\tilde f + \tilde f)/2`) or :math:`\alpha f^2`
    (ridge) and minimizing gives

    - :math:`\ell_1`: :math:`f = \tilde f \cdot b / (d + \alpha)` for both
      losses (eq. 26-27 of Cohen and Leplat for KL);
    - KL + ridge: the positive root of :math:`2\alpha f^2 + c f - s = 0`,
      :math:`f = 2s / (c + \sqrt{c^2 + 8\alpha s})`. Eq. 36 of Cohen and Leplat,
      :math:`(\sqrt{c^2 + 4\mu s} - c) / (2\mu)`, is the root of
      :math:`\mu f^2 + c f - s`, i.e. the update for a penalty
      :math:`\frac{\mu}{2}\|W\|_F^2`: we apply the penalty exactly as
      written, :math:`\alpha\|W\|_F^2`, hence :math:`\mu = 2\alpha`, in the
      cancellation-free form above;
    - Frobenius + ridge: :math:`f = \tilde f b / (d + 2\alpha\tilde f)`.

    Parameters
    ----------
    F : ndarray
        Current factor :math:`\tilde F`.
    numerator, denominator : ndarray
        Broadcastable to ``F``, see above.
    alpha : float
        Penalty weight.
    penalty : {"l1", "l2"}
    beta : {1, 2}

    Returns
    -------
    F_new : ndarray
        Unconstrained minimizer (clip it at ``EPSILON``: the majorizer is
        convex, so the clipped value is the constrained minimizer).

    Examples
    --------
    >>> import numpy as np
    >>> F, s, c = np.array([2.0]), np.array([3.0]), np.array([1.0])
    >>> f = penalized_step(F, s / F, c, 0.5, "l2", 1)
    >>> float(2 * 0.5 * f[0] ** 2 + 1.0 * f[0] - 3.0)  # the quadratic is 0
    0.0
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (F, numerator, denominator)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    # flat contiguous arrays (copies only where broadcast or strided)
    F, numerator, denominator = (
        np.ascontiguousarray(
            a if a.shape == shape else np.broadcast_to(a, shape)
        ).reshape(-1)
        for a in arrays
    )
    out = np.empty(F.shape)
    weight = Penalty(float(alpha), penalty_degree(penalty))
    _steps(F, numerator, denominator, weight, float(beta), out)
    return out.reshape(shape)


@njit(cache=True)
def entry_step(f, numerator, denominator, weight, beta):
    """:func:`penalized_step` at one entry (the formula, written once).

    ``weight`` is the :class:`Penalty` of the factor.
    """
    alpha = weight.alpha
    if alpha == 0.0 or weight.degree == 1.0:
        return f * numerator / (denominator + alpha)
    if beta == 1.0:
        s = f * numerator
        root = np.sqrt(denominator * denominator + 8.0 * alpha * s)
        return 2.0 * s / (denominator + root)
    return f * numerator / (denominator + 2.0 * alpha * f)


@njit(cache=True, error_model="numpy")
def _steps(F, numerator, denominator, weight, beta, out):
    for i in range(F.size):
        out[i] = entry_step(F[i], numerator[i], denominator[i], weight, beta)


@njit(cache=True, error_model="numpy")
def balance_in_place(W, Ht, penalties):
    """Balance the components of ``(W, Ht^T)`` in place, above the floor.

    ``penalties`` is a :class:`Penalties`; see :func:`balance`. Loops run
    along the rows of the C-contiguous factors. Returns the scales of the
    columns of ``W`` (those of ``Ht`` are their inverses) and the penalty of
    the balanced factors (from that of the columns before, by homogeneity).
    """
    r = W.shape[1]
    a = np.empty((2, r))
    degrees = np.empty(2)
    degrees[0], degrees[1] = penalties.W.degree, penalties.H.degree
    g_W, w_min = _column_penalties_minima(W, degrees[0])
    g_H, h_min = _column_penalties_minima(Ht, degrees[1])
    for k in range(r):
        a[0, k] = penalties.W.alpha * g_W[k]
        a[1, k] = penalties.H.alpha * g_H[k]
    scales = scales_of_penalties(a, degrees)
    scale = np.empty(r)
    penalty = 0.0
    for k in range(r):
        low = EPSILON / max(w_min[k], _TINY)
        high = max(h_min[k], _TINY) / EPSILON
        s = min(max(scales[0, k], min(low, 1.0)), max(high, 1.0))
        scale[k] = s
        penalty += a[0, k] * s ** degrees[0] + a[1, k] / s ** degrees[1]
    for i in range(W.shape[0]):
        for k in range(r):
            W[i, k] *= scale[k]
    for j in range(Ht.shape[0]):
        for k in range(r):
            Ht[j, k] /= scale[k]
    return scale, penalty


@njit(cache=True)
def balance_with_grams(W, Ht, gram_W, gram_H, penalties):
    """:func:`balance_in_place`, with the Gram matrices ``W^T W`` and
    ``Ht^T Ht`` rescaled in place as the factors are (W -> W S,
    Ht -> Ht S^-1: G_W -> S G_W S, G_H -> S^-1 G_H S^-1); the penalty."""
    scale, penalty = balance_in_place(W, Ht, penalties)
    for k in range(scale.size):
        for q in range(scale.size):
            gram_W[k, q] *= scale[k] * scale[q]
            gram_H[k, q] /= scale[k] * scale[q]
    return penalty


@njit(cache=True)
def _column_penalties_minima(F, degree):
    """:func:`column_penalties` of ``F`` and the minima of its columns, in
    one pass (half the time of two on a 500 x 10 factor)."""
    m, r = F.shape
    values = np.zeros(r)
    minima = np.full(r, np.inf)
    for i in range(m):
        for q in range(r):
            x = F[i, q]
            values[q] += entry_penalty(x, degree)
            if x < minima[q]:
                minima[q] = x
    return values, minima


def balance(W, H, alpha_W, alpha_H, penalty_W, penalty_H):
    """Optimal rescaling of the components ``(W[:, q], H[q])`` above the floor.

    The scales of :func:`skfactor._balance.optimal_scales` applied to
    ``[W, H.T]``, clipped so that no entry falls below ``EPSILON``: the
    penalty is convex in the log of the scale, so the clipped scale is the
    best one that keeps the factors feasible (it is the unclipped one unless
    a factor has entries at the floor). The product ``W @ H`` is unchanged
    and the penalty does not increase. Components left without a minimizer
    (a zero weight) keep their scale.
    """
    W = np.array(W, dtype=np.float64, order="C")
    Ht = np.array(H.T, dtype=np.float64, order="C")
    balance_in_place(W, Ht, make_penalties(alpha_W, alpha_H, penalty_W, penalty_H))
    return W, Ht.T
