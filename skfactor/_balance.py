r"""Optimal rescaling ("balancing") of rank-one components.

Low-rank models such as NMF, CP and Tucker decompositions have a fit term
that is invariant to rescaling the columns of their factors,
:math:`X_i[:, q] \to \lambda_{iq} X_i[:, q]` with
:math:`\prod_i \lambda_{iq} = 1`, while their regularizers are not. When
each factor :math:`X_i` is penalized by :math:`\mu_i \sum_q g_i(X_i[:, q])`
with :math:`g_i` positively homogeneous of degree :math:`p_i`
(:math:`\ell_1` norm: 1, squared :math:`\ell_2` norm: 2), the best scales
solve, for each component :math:`q` separately,

.. math::

    \min_{\lambda_{1q}, \dots, \lambda_{nq} > 0}
        \sum_{i=1}^n \lambda_{iq}^{p_i} a_{iq}
    \quad \text{s.t.} \quad \prod_{i=1}^n \lambda_{iq} = 1,
    \qquad a_{iq} = \mu_i g_i(X_i[:, q]),

whose unique solution is given by the geometric-mean identity (eqs. 7-11 of
Cohen, *Implicit regularization in regularized (nonnegative) low-rank
approximations*, 2024, joint work with Leplat):

.. math::

    \lambda_{iq} = \left(\frac{\beta_q}{p_i a_{iq}}\right)^{1/p_i},
    \qquad
    \beta_q = \Bigl(\prod_{i=1}^n (p_i a_{iq})^{1/p_i}\Bigr)^{1 / \sum_i 1/p_i}.

After balancing, :math:`p_i a_{iq}` is the same for all factors. Applying
this after each outer iteration of an alternating algorithm is the
"balancing" used by :class:`~skfactor.BalancedSparseNMF` and
:class:`~skfactor.RidgeCPD`. The module also gives the optimal scalar
rescaling :math:`\eta` of all factors used to initialize Cohen and Leplat's
meta-algorithm (alternating updates, then balancing).

A Tucker model :math:`G \times_0 A_0 \dots \times_{N-1} A_{N-1}` is not a
sum of separable rank-one terms: its scaling invariances are the diagonal
rescalings :math:`A_k \to A_k \Lambda_k^{-1}`, :math:`G \to G \times_k
\Lambda_k` of each mode. Two balancings use them (Cohen and Leplat, eq.
31-34): the *scalar* one rescales every block (core and factors) by one
number, the identity above with one component per block
(:func:`balance_blocks`); the *Sinkhorn* one minimizes over one
:math:`\Lambda_k` at a time, an exact two-block balancing of the slices
of the core along mode :math:`k` against the columns of :math:`A_k`,
alternated over the modes (:func:`sinkhorn_balance_tucker`).

All functions are pure: they return new arrays and never modify their input.
"""

import math

import numpy as np
from numba import njit
from scipy.optimize import minimize_scalar

from .utils._penalties import penalty_degree, penalty_values
from .utils._roots import positive_real_roots

__all__ = [
    "balance_blocks",
    "frobenius_optimal_initial_scale",
    "frobenius_scale_fit",
    "kl_optimal_initial_scale",
    "kl_scale_fit",
    "optimal_initial_scale",
    "optimal_scales",
    "penalty_degree",
    "penalty_values",
    "sinkhorn_balance_tucker",
]


def optimal_scales(a, degrees):
    """Optimal scales of the rank-one components (geometric-mean identity).

    Parameters
    ----------
    a : array-like of shape (n_factors, r)
        Weighted penalties :math:`a_{iq} = \\mu_i g_i(X_i[:, q])`, nonnegative.
    degrees : array-like of shape (n_factors,)
        Homogeneity degrees :math:`p_i > 0`.

    Returns
    -------
    scales : ndarray of shape (n_factors, r)
        :math:`\\lambda_{iq}`, with :math:`\\prod_i \\lambda_{iq} = 1` for
        every column. A component with :math:`a_{iq} = 0` for some factor
        (an unpenalized factor or a zero column) has no minimizer (the
        penalty can be pushed to zero without bound); its scales are left
        at 1.

    Examples
    --------
    >>> import numpy as np
    >>> optimal_scales(np.array([[4.0], [1.0]]), [2, 2])
    array([[0.70710678],
           [1.41421356]])
    """
    a = np.asarray(a, dtype=float)
    degrees = np.asarray(degrees, dtype=float)
    if a.ndim != 2 or degrees.shape != (a.shape[0],):
        raise ValueError(
            f"a must have shape (n_factors, r) and degrees (n_factors,); got "
            f"{a.shape} and {degrees.shape}."
        )
    if np.any(a < 0) or not np.all(np.isfinite(a)):
        raise ValueError("Weighted penalties a must be finite and nonnegative.")
    if np.any(degrees <= 0):
        raise ValueError("Homogeneity degrees must be positive.")
    return scales_of_penalties(np.ascontiguousarray(a), degrees)


@njit(cache=True)
def scales_of_penalties(a, degrees):
    """:func:`optimal_scales` without input validation, compiled.

    The one implementation of the geometric-mean identity, also called from
    the compiled solvers. A component with a zero or non-finite weighted
    penalty keeps its scales at 1.
    """
    n_factors, r = a.shape
    inv_p = np.empty(n_factors)
    inv_p_sum = 0.0
    for i in range(n_factors):
        inv_p[i] = 1.0 / degrees[i]
        inv_p_sum += inv_p[i]
    scales = np.ones((n_factors, r))
    log_scales = np.empty(n_factors)
    for q in range(r):
        valid = True
        for i in range(n_factors):
            # (scalar loops only: array expressions multiply compile time)
            valid = valid and 0.0 < a[i, q] < np.inf
        if not valid:
            continue
        log_beta = 0.0
        for i in range(n_factors):
            log_scales[i] = np.log(degrees[i] * a[i, q])
            log_beta += inv_p[i] * log_scales[i]
        log_beta /= inv_p_sum
        mean = 0.0
        for i in range(n_factors):
            log_scales[i] = (log_beta - log_scales[i]) * inv_p[i]
            mean += log_scales[i]
        # enforce the product constraint exactly against rounding
        mean /= n_factors
        for i in range(n_factors):
            scales[i, q] = np.exp(log_scales[i] - mean)
    return scales


def _weighted_penalties(blocks, weights, penalties):
    """``weights[b] * g_b(blocks[b])`` summed over every block, an array."""
    return np.array(
        [
            w * penalty_values(np.reshape(b, (-1, 1)), p)[0]
            for b, w, p in zip(blocks, weights, penalties)
        ]
    )


def balance_blocks(blocks, weights, penalties):
    r"""Rescale whole blocks of a multilinear model to minimize its penalty.

    For a model that is linear in each block (e.g. the core and the factors
    of a Tucker model), :math:`B_b \to \lambda_b B_b` with
    :math:`\prod_b \lambda_b = 1` keeps the model, and the best scales
    follow from :func:`optimal_scales` with one column per block
    (:math:`a_b = \mu_b g_b(B_b)`): the scalar scaling of eq. 31 of
    Cohen and Leplat. The penalty never increases.

    Parameters
    ----------
    blocks : sequence of ndarray
        Blocks of any shapes.
    weights : array-like of shape (n_blocks,)
        Nonnegative weights :math:`\mu_b`.
    penalties : sequence of {"l1", "l2"} or float
        Penalty of each block, see :func:`penalty_degree`.

    Returns
    -------
    balanced : list of ndarray
        Rescaled copies of the blocks.
    scales : ndarray of shape (n_blocks,)

    Examples
    --------
    >>> import numpy as np
    >>> (a, b), scales = balance_blocks([np.array([4.0]), np.array([1.0])],
    ...                                 [1.0, 1.0], ["l2", "l2"])
    >>> float(a[0] * b[0]), float(a[0]), float(b[0])
    (4.0, 2.0, 2.0)
    """
    blocks = [np.asarray(b, dtype=float) for b in blocks]
    degrees = np.array([penalty_degree(p) for p in penalties])
    a = _weighted_penalties(blocks, weights, penalties)
    scales = optimal_scales(a[:, None], degrees)[:, 0]
    return [b * s for b, s in zip(blocks, scales)], scales


def sinkhorn_balance_tucker(
    core, factors, weights, penalties, *, max_sweeps=20, rtol=1e-8
):
    r"""Sinkhorn balancing of a Tucker core against each of its factors.

    Each step solves, for one mode :math:`k`, (eq. 32-34 of Cohen and Leplat
    for three modes)

    .. math::

        \min_{\Lambda_k \text{ diagonal} > 0}
            \mu_G\, g_G(G \times_k \Lambda_k)
            + \mu_k\, g_k(A_k \Lambda_k^{-1}),

    which separates over the columns :math:`q` of :math:`A_k`: the slice
    :math:`G[\dots, q, \dots]` and the column :math:`A_k[:, q]` are a
    two-block problem solved exactly by :func:`optimal_scales`. The steps
    cycle over the modes (one sweep) until a sweep lowers the penalty by at
    most ``rtol`` times its value, or ``max_sweeps`` sweeps. The model is
    unchanged and the penalty never increases.

    Parameters
    ----------
    core : ndarray of shape (r_0, ..., r_{N-1})
    factors : sequence of N ndarray of shape (I_k, r_k)
    weights : array-like of shape (N + 1,)
        :math:`(\mu_G, \mu_0, \dots, \mu_{N-1})`, nonnegative.
    penalties : sequence of N + 1 {"l1", "l2"} or float
        Penalties of the core and of each factor, in the same order.
    max_sweeps : int, default=20
    rtol : float, default=1e-8

    Returns
    -------
    core : ndarray
    factors : list of ndarray
        Rescaled copies.

    Examples
    --------
    >>> import numpy as np
    >>> G, A = np.array([[8.0]]), [np.ones((1, 1)), np.ones((1, 1))]
    >>> G2, A2 = sinkhorn_balance_tucker(G, A, [1, 1, 1], ["l1", "l2", "l2"])
    >>> float(G2[0, 0] * A2[0][0, 0] * A2[1][0, 0])  # the model is kept
    8.0
    """
    core = np.array(core, dtype=float, copy=True)
    factors = [np.array(f, dtype=float, copy=True) for f in factors]
    weights = np.asarray(weights, dtype=float)
    degrees = np.array([penalty_degree(p) for p in penalties])
    if weights.shape != (core.ndim + 1,) or len(penalties) != core.ndim + 1:
        raise ValueError(
            f"A core with {core.ndim} modes needs {core.ndim + 1} weights and "
            f"penalties (core first); got {weights.shape[0]} and {len(penalties)}."
        )

    def block_penalty(block, weight, degree):
        magnitude = np.abs(block)
        return weight * (magnitude if degree == 1 else magnitude**degree).sum()

    def total():
        blocks = [core, *factors]
        return sum(block_penalty(b, w, p) for b, w, p in zip(blocks, weights, degrees))

    previous = total() if max_sweeps > 1 else 0.0
    for sweep in range(max_sweeps):
        for k, factor in enumerate(factors):
            others = tuple(axis for axis in range(core.ndim) if axis != k)
            magnitude = np.abs(core) if degrees[0] == 1 else np.abs(core) ** degrees[0]
            a = np.empty((2, core.shape[k]))
            a[0] = weights[0] * magnitude.sum(axis=others)
            column = np.abs(factor) if degrees[k + 1] == 1 else factor**2
            if degrees[k + 1] not in (1.0, 2.0):
                column = np.abs(factor) ** degrees[k + 1]
            a[1] = weights[k + 1] * column.sum(axis=0)
            if not np.all(np.isfinite(a)):
                continue
            scales = scales_of_penalties(a, degrees[[0, k + 1]])
            shape = [1] * core.ndim
            shape[k] = core.shape[k]
            core = core * scales[0].reshape(shape)
            factors[k] = factor * scales[1]
        if sweep + 1 == max_sweeps:
            break
        current = total()
        if previous - current <= rtol * previous:
            break
        previous = current
    return core, factors


def frobenius_scale_fit(data_sq_norm, inner, model_sq_norm):
    """Squared Frobenius fit of a scaled model, :math:`\\|Y - tM\\|_F^2`.

    Returns the function :math:`t \\mapsto \\|Y\\|_F^2 - 2t\\langle Y, M
    \\rangle + t^2 \\|M\\|_F^2` for :func:`optimal_initial_scale`, from the
    three scalars (cheap to compute from factored models).

    >>> fit = frobenius_scale_fit(4.0, 2.0, 1.0)
    >>> fit(2.0)
    0.0
    """

    def fit(t):
        return data_sq_norm - 2.0 * t * inner + t * t * model_sq_norm

    return fit


def kl_scale_fit(data_sum, model_sum):
    """Kullback-Leibler fit of a scaled model, up to a constant.

    :math:`KL(Y, tM) = KL(Y, M) + (t - 1)\\sum M - \\log(t) \\sum Y`, so
    the function returned, :math:`t \\mapsto t \\sum M - \\log(t) \\sum Y`,
    differs from the fit by a constant, which does not change the minimizer.

    >>> fit = kl_scale_fit(2.0, 1.0)
    >>> round(float(fit(2.0)), 6)
    0.613706
    """

    def fit(t):
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore"):
            log_t = np.log(t)
        # t -> 0 gives +inf when there is data to fit, 0 otherwise
        value = np.where(
            t > 0, t * model_sum - log_t * data_sum, np.inf if data_sum > 0 else 0.0
        )
        return value[()]

    return fit


def optimal_initial_scale(fit_of_scale, penalty_totals, degrees, *, log_range=30.0):
    r"""Best common rescaling :math:`\eta` of all factors (meta-algorithm init).

    Solves the scalar problem of the initialization of Cohen and Leplat's
    meta-algorithm,

    .. math::

        \min_{\eta > 0} f(\eta^N) + \sum_{i=1}^N \eta^{p_i} A_i,
        \qquad A_i = \mu_i \sum_q g_i(X_i[:, q]),

    where :math:`f(t)` is the fit of the model whose product is scaled by
    :math:`t` (the product of :math:`N` factors each scaled by :math:`\eta`
    scales by :math:`\eta^N`). The problem is one-dimensional but not convex
    in general, so it is solved globally: a log-spaced grid over
    :math:`\eta \in [e^{-L}, e^{L}]` (``L = log_range``) followed by a
    bounded Brent refinement around the best grid point.

    Parameters
    ----------
    fit_of_scale : callable
        :math:`t \mapsto f(t)`, vectorized over arrays of :math:`t`, e.g.
        from :func:`frobenius_scale_fit` or :func:`kl_scale_fit`.
    penalty_totals : array-like of shape (n_factors,)
        :math:`A_i`.
    degrees : array-like of shape (n_factors,)
        :math:`p_i`.
    log_range : float, default=30.0
        Half-width of the search interval for :math:`\log\eta`.

    Returns
    -------
    eta : float

    Examples
    --------
    >>> fit = frobenius_scale_fit(1.0, 1.0, 1.0)  # ||1 - t||^2
    >>> round(optimal_initial_scale(fit, [0.0, 0.0], [2, 2]), 6)
    1.0
    """
    totals = np.asarray(penalty_totals, dtype=float)
    degrees = np.asarray(degrees, dtype=float)
    n_factors = totals.shape[0]

    def objective(log_eta):
        # vectorized over log_eta: the grid is evaluated in one call
        eta = np.exp(np.asarray(log_eta, dtype=float))
        with np.errstate(over="ignore", invalid="ignore"):
            penalty = (totals * eta[..., None] ** degrees).sum(axis=-1)
            value = np.asarray(fit_of_scale(eta**n_factors) + penalty, dtype=float)
        return np.where(np.isfinite(value), value, np.inf)[()]

    grid = np.linspace(-log_range, log_range, 241)
    values = objective(grid)
    best = int(np.argmin(values))
    step = grid[1] - grid[0]
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    result = minimize_scalar(
        objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10 * step}
    )
    log_eta = result.x if result.fun <= values[best] else grid[best]
    return float(np.exp(log_eta))


def kl_optimal_initial_scale(data_sum, model_sum, penalty_totals, degrees):
    r""":func:`optimal_initial_scale` for a Kullback-Leibler fit, in closed form.

    With :math:`N` factors (``len(degrees)``), the scaled fit is
    :math:`\eta^N \sum M - N \log(\eta) \sum Y` up to a constant
    (:func:`kl_scale_fit`), and the problem is convex in :math:`\log\eta`.
    Its stationarity condition, multiplied by :math:`\eta`,

    .. math::

        N \eta^N \textstyle\sum M + \sum_i p_i A_i \eta^{p_i} = N \sum Y,

    is a quadratic :math:`c_2\eta^2 + c_1\eta = N\sum Y` when :math:`N` and
    every :math:`p_i` are 1 or 2, whose positive root is
    :math:`\eta = 2N\sum Y / (c_1 + \sqrt{c_1^2 + 4 c_2 N \sum Y})`. Other
    cases, and data that sum to zero (no minimizer), are passed to
    :func:`optimal_initial_scale`.

    Parameters
    ----------
    data_sum, model_sum : float
        :math:`\sum Y` and :math:`\sum M`.
    penalty_totals : array-like of shape (n_factors,)
        :math:`A_i`.
    degrees : array-like of shape (n_factors,)
        :math:`p_i`.

    Returns
    -------
    eta : float

    Examples
    --------
    >>> kl_optimal_initial_scale(4.0, 1.0, [0.0, 0.0], [1, 1])  # eta**2 = 4
    2.0
    """
    totals = np.asarray(penalty_totals, dtype=float)
    degrees = np.asarray(degrees, dtype=float)
    n_factors = degrees.size
    closed_form = (
        data_sum > 0 and n_factors in (1, 2) and np.all((degrees == 1) | (degrees == 2))
    )
    if not closed_form:
        return optimal_initial_scale(kl_scale_fit(data_sum, model_sum), totals, degrees)
    c1 = float(np.sum(totals[degrees == 1])) + (model_sum if n_factors == 1 else 0.0)
    c2 = 2.0 * float(np.sum(totals[degrees == 2])) + (
        2.0 * model_sum if n_factors == 2 else 0.0
    )
    c0 = n_factors * data_sum
    return float(2.0 * c0 / (c1 + np.sqrt(c1 * c1 + 4.0 * c2 * c0)))


def frobenius_optimal_initial_scale(
    data_sq_norm, inner, model_sq_norm, penalty_totals, degrees, *, fit_weight=0.5
):
    r""":func:`optimal_initial_scale` for a Frobenius fit, from polynomial roots.

    With :math:`N` factors (``len(degrees)``), :math:`t = \eta^N` and
    :math:`c` = ``fit_weight``, the objective is

    .. math::

        c\,(\|Y\|^2 - 2\eta^N \langle Y, M\rangle + \eta^{2N}\|M\|^2)
        + \sum_i A_i \eta^{p_i},

    a polynomial in :math:`\eta` when every :math:`p_i` is a positive
    integer. Its stationary points are the positive real roots of
    :math:`\eta f'(\eta)/\eta`, of degree :math:`2N - 1`; the best of them
    is the global minimizer, unless none lies below the limit at
    :math:`\eta \to 0`, in which case the answer is the end of the range
    of :func:`optimal_initial_scale`, :math:`e^{-30}`. Other cases (a zero
    model, non-integer degrees) are passed to :func:`optimal_initial_scale`.

    Parameters
    ----------
    data_sq_norm, inner, model_sq_norm : float
        :math:`\|Y\|^2`, :math:`\langle Y, M\rangle`, :math:`\|M\|^2`.
    penalty_totals : array-like of shape (n_factors,)
        :math:`A_i`.
    degrees : array-like of shape (n_factors,)
        :math:`p_i`.
    fit_weight : float, default=0.5
        :math:`c` (one half for the losses of the NMF and NTD modules).

    Returns
    -------
    eta : float

    Examples
    --------
    >>> frobenius_optimal_initial_scale(4.0, 2.0, 1.0, [0.0, 0.0], [2, 2])
    1.414213562373...
    """
    totals = [float(t) for t in penalty_totals]
    degrees = [float(p) for p in degrees]
    n = len(degrees)
    integral = all(p >= 1 and p == round(p) for p in degrees)
    if not (integral and model_sq_norm > 0 and all(map(math.isfinite, totals))):
        fit = frobenius_scale_fit(data_sq_norm, inner, model_sq_norm)
        return optimal_initial_scale(lambda t: fit_weight * fit(t), totals, degrees)
    # eta f'(eta) = sum_k coef[k] eta^k, k = 1..2N, then divided by eta
    coef = [0.0] * (2 * n + 1)
    coef[2 * n] += 2.0 * n * fit_weight * model_sq_norm
    coef[n] -= 2.0 * n * fit_weight * inner
    for total, degree in zip(totals, degrees):
        coef[int(degree)] += degree * total
    real = positive_real_roots(coef[:0:-1])  # highest power first, without eta^0

    def objective(eta):
        eta = np.float64(eta)  # (overflows to inf, as numpy does, not raising)
        t = eta**n
        fit = data_sq_norm - 2.0 * t * inner + t * t * model_sq_norm
        return fit_weight * fit + sum(a * eta**p for a, p in zip(totals, degrees))

    floor = math.exp(-30.0)
    if not real:
        return floor
    values = [objective(eta) for eta in real]
    best = int(np.argmin(values))
    if values[best] >= objective(floor):
        return floor
    return float(real[best])
