r"""Exact stochastic proximal point step of a factorization machine.

One sample with nonzero feature values :math:`a_i` on the index set
:math:`N` (:math:`n = |N|`), label :math:`\hat y = \pm 1`, latent step
:math:`\eta`, bias step :math:`\eta_b` and L2 penalty :math:`\lambda` on the
touched biases and latent vectors. The step solves

.. math::

    x_{t+1} = \arg\min_x \; \log(1 + e^{-\hat y \sigma(x)})
        + \frac{\lambda}{2}\bigl(\|b_N\|^2 + \|V_N\|^2\bigr)
        + \frac{\|b - b_t\|^2}{2\eta_b} + \frac{\|V - V_t\|^2}{2\eta} .

**Penalty.** :math:`\frac{\lambda}{2}\|u\|^2 + \frac{1}{2\eta}\|u - u_t\|^2`
equals :math:`\frac{1}{2\eta'}\|u - \rho u_t\|^2` up to a constant, with
:math:`\rho = 1/(1 + \eta\lambda)` and :math:`\eta' = \rho\eta`: the
penalized step is the plain step from the shrunk centre :math:`c_N = \rho_b
b_{N,t}`, :math:`U = \rho V_{N,t}` (the global bias is not penalized).

**Dual.** With :math:`\log(1+e^{s}) = \max_{z\in[0,1]} sz - h^*(z)`,
:math:`h^*(z) = z\log z + (1-z)\log(1-z)`, and :math:`\beta = \eta' z \hat
y`, the pairwise term is :math:`\tfrac12 \operatorname{tr}(V^\top C V)` with
:math:`C = aa^\top - \operatorname{diag}(a^2)`, and

.. math::

    q(z) = -z\hat y\,(b_0 + a^\top c_N) - \frac{z^2}{2}(\eta_b + \eta_b'\|a\|^2)
        + \frac{1}{2\eta'}\bigl(\|U\|^2 - K(\beta)\bigr) - h^*(z)
        + \text{const},
    \qquad K(\beta) = \operatorname{tr}\bigl(U^\top (I - \beta C)^{-1} U\bigr).

The step is strictly convex for every :math:`z \in [0, 1]` when :math:`\eta'
L < 1` with :math:`L = \|a\|^2 - \min_i a_i^2` (:func:`row_curvature_bounds`;
:math:`L = n - 1` for indicators, where it is exact).

**Rows of equal magnitude** (:math:`a_i^2 = c`, binary one-hot rows have
:math:`c = 1`): :math:`C` has two eigenvalues, :math:`\lambda_1 = (n-1)c`
along :math:`a` and :math:`\lambda_2 = -c` on its orthogonal complement, so

.. math::

    K(\beta) = \frac{e_1}{1 - \beta\lambda_1} + \frac{e_2}{1 - \beta\lambda_2},
    \qquad e_1 = \frac{\|U^\top a\|^2}{nc},\; e_2 = \|U\|^2 - e_1,

an :math:`O(1)` evaluation after one :math:`O(nk)` gather of
:math:`\|V_N\|^2` and :math:`r = V_N^\top a`, and the update is
:math:`v_i \leftarrow (\rho v_i + \kappa a_i \rho r) / (1 + \beta c)` with
:math:`\kappa = \beta / (1 - \beta\lambda_1)`. **Other rows** use the
Sherman-Morrison form of :math:`(I - \beta C)^{-1}`, :math:`v_i = g_i (u_i +
\kappa a_i r)` with :math:`g_i = 1/(1 + \beta a_i^2)`, :math:`r = \sum_j a_j
g_j u_j`, :math:`\kappa = \beta / (1 - \beta \sum_j a_j^2 g_j)`, in
:math:`O(nk)` per evaluation.

**Maximizing q.** By the envelope theorem :math:`q'(z) = -\hat y
\sigma(x^*(z)) - \operatorname{logit} z` with :math:`\hat y \sigma(x^*(z)) =
m(z) = \hat y (b_0 + a^\top c_N) + z(\eta_b + \eta_b'\|a\|^2) + \tfrac{\hat
y}{2} K'(\beta)`, nondecreasing in :math:`z`. The maximizer solves
:math:`F(t) = t + m(\operatorname{expit} t) = 0`, increasing in :math:`t =
\operatorname{logit} z` and bracketed by :math:`[-m(1), -m(0)]`; Newton's
method in :math:`t`, safeguarded by bisection, finds it in a few steps (the
logit variable keeps full relative precision on tiny :math:`z`).

The kernels take their scalars packed in named tuples (:class:`Step`,
:class:`Model`, :class:`Work`, :class:`Dual`) and allocate nothing; they are
used with float64 values and int64 indices only, so each compiles once.

References
----------
A. Shtoff (2020), Proximal point to the extreme - factorization machines,
blog post of the series "Efficient incremental proximal point methods".

S. Rendle (2010), Factorization Machines, IEEE International Conference on
Data Mining, 995-1000.
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit, types
from numba.extending import overload

__all__ = [
    "Dual",
    "Model",
    "Step",
    "Work",
    "logistic_loss",
    "prox_step",
    "row_curvature_bounds",
]

_NEWTON_MAX_ITER = 100
# Relative step at which solve_dual stops. The error left is of order the
# step's cube after the Halley steps of uniform rows and its square after the
# Newton-like steps of general rows: about 1e-12 either way.
_HALLEY_RTOL = 1e-4
_NEWTON_RTOL = 1e-6
_BRACKET_RTOL = 1e-12

Step = namedtuple("Step", ["eta_bias", "eta_latent", "alpha"])
Step.__doc__ = """Bias step, latent step and L2 penalty of one proximal step."""

Model = namedtuple("Model", ["w0", "w", "V"])
Model.__doc__ = """Global bias (shape (1,)), feature biases and latent vectors."""

Work = namedtuple("Work", ["r", "p", "q"])
Work.__doc__ = """Three work vectors of length ``n_components``."""

Dual = namedtuple(
    "Dual",
    [
        "linear_c",  # b0 + a^T c_N: the linear part at the shrunk centre
        "slope",  # eta_b + eta_b' ||a||^2
        "eta",  # eta': the latent step after shrinkage
        "rho",  # shrinkage of the latent vectors
        "uniform",  # every a_i^2 equals c (two-eigenvalue form)
        "lam1",  # eigenvalues and energies of the uniform form
        "e1",
        "lam2",
        "e2",
    ],
)
Dual.__doc__ = """The scalars of the one-dimensional dual of a proximal step."""


def make_work(n_components):
    """Work vectors for :func:`prox_step`."""
    return Work(np.empty(n_components), np.empty(n_components), np.empty(n_components))


@njit(cache=True, nogil=True)
def logistic_loss(margin):
    """``log(1 + exp(-margin))`` without overflow."""
    if margin > 0:
        return math.log1p(math.exp(-margin))
    return -margin + math.log1p(math.exp(margin))


@njit(cache=True, nogil=True, inline="always")
def expit(t):
    """``1 / (1 + exp(-t))`` without overflow."""
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def row_curvature_bounds(indptr, data):
    """``L_i = ||x_i||^2 - min_j x_ij^2`` of every CSR row (0 for <= 1 nonzero).

    The proximal step of row ``i`` is strictly convex when ``eta' L_i < 1``
    (``eta'`` the step of the latent vectors after the penalty's shrinkage).
    Rows must hold no explicit zeros.
    """
    with np.errstate(over="ignore"):
        squares = np.asarray(data, dtype=np.float64) ** 2
    counts = np.diff(indptr)
    nonempty = counts > 0
    totals = np.zeros(counts.shape[0])
    smallest = np.zeros(counts.shape[0])
    starts = np.asarray(indptr[:-1])[nonempty]
    if starts.size:
        totals[nonempty] = np.add.reduceat(squares, starts)
        smallest[nonempty] = np.minimum.reduceat(squares, starts)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 1, totals - smallest, 0.0)


# ------------------------------------------------------------------ gather
@njit(cache=True, nogil=True, inline="always")
def gather(idx, val, model, r):
    """One pass over the row: ``r = V_N^T a`` and the row's scalars.

    Returns ``(linear, pairwise, rr, sum_a2, sum_a2_v2, uniform, c)``:
    ``linear = b0 + a^T b_N`` and ``pairwise`` of the current iterate,
    ``rr = ||r||^2``, ``sum_a2 = ||a||^2``, ``sum_a2_v2 = sum_i a_i^2
    ||v_i||^2``, whether every ``a_i^2`` equals ``c = a_0^2``.
    """
    V = model.V
    k = V.shape[1]
    n = idx.shape[0]
    for col in range(k):
        r[col] = 0.0
    linear = model.w0[0]
    sum_a2 = 0.0
    sum_a2_v2 = 0.0
    c = val[0] * val[0] if n > 0 else 1.0
    uniform = True
    for i in range(n):
        a = val[i]
        row = idx[i]
        linear += a * model.w[row]
        a2 = a * a
        sum_a2 += a2
        if abs(a2 - c) > 1e-12 * c:
            uniform = False
        norm2 = 0.0
        for col in range(k):
            x = V[row, col]
            r[col] += a * x
            norm2 += x * x
        sum_a2_v2 += a2 * norm2
    rr = 0.0
    for col in range(k):
        rr += r[col] * r[col]
    pairwise = 0.5 * (rr - sum_a2_v2)
    return linear, pairwise, rr, sum_a2, sum_a2_v2, uniform, c


@njit(cache=True, nogil=True, inline="always")
def dual_scalars(n, w0, step, linear, rr, sum_a2, sum_a2_v2, uniform, c):
    """The :class:`Dual` of a row from the scalars of :func:`gather`."""
    rho_b = 1.0 / (1.0 + step.eta_bias * step.alpha)
    rho = 1.0 / (1.0 + step.eta_latent * step.alpha)
    lam1 = 0.0
    e1 = 0.0
    lam2 = 0.0
    e2 = 0.0
    uniform = uniform and n > 1 and c > 0.0  # c == 0: squares underflow
    if uniform:
        lam1 = (n - 1) * c
        lam2 = -c
        e1 = rho * rho * rr / (n * c)
        e2 = max(rho * rho * (sum_a2_v2 - rr / n) / c, 0.0)
    return Dual(
        w0 + rho_b * (linear - w0),
        step.eta_bias + step.eta_bias * rho_b * sum_a2,
        step.eta_latent * rho,
        rho,
        uniform,
        lam1,
        e1,
        lam2,
        e2,
    )


# ------------------------------------------------------------- the kernel K
@njit(cache=True, nogil=True, inline="always")
def uniform_kernel(beta, dual):
    """``K`` and its first three derivatives at ``beta``, two-eigenvalue form (O(1)).

    With ``d_j = 1 / (1 - beta lam_j)``: ``K^(p) = p! sum_j e_j lam_j^p
    d_j^(p+1)``.
    """
    d1 = 1.0 / (1.0 - beta * dual.lam1)
    d2 = 1.0 / (1.0 - beta * dual.lam2)
    t1 = dual.e1 * d1
    t2 = dual.e2 * d2
    s1 = dual.lam1 * d1
    s2 = dual.lam2 * d2
    k0 = t1 + t2
    k1 = s1 * t1 + s2 * t2
    k2 = 2.0 * (s1 * s1 * t1 + s2 * s2 * t2)
    k3 = 6.0 * (s1 * s1 * s1 * t1 + s2 * s2 * s2 * t2)
    return k0, k1, k2, k3


@njit(cache=True, nogil=True)
def sherman_morrison(beta, idx, val, V, rho, r):
    """Fill ``r = sum_j a_j g_j u_j`` (``u_j = rho V[j]``); return ``(kappa, gamma)``.

    ``g_j = 1 / (1 + beta a_j^2)``, ``gamma = sum_j a_j^2 g_j``, ``kappa =
    beta / (1 - beta gamma)``, so that ``(I - beta C)^{-1} U`` has rows
    ``g_i (u_i + kappa a_i r)``.
    """
    k = V.shape[1]
    for col in range(k):
        r[col] = 0.0
    gamma = 0.0
    for i in range(idx.shape[0]):
        a = val[i]
        g = 1.0 / (1.0 + beta * a * a)
        gamma += a * a * g
        coef = a * g * rho
        row = idx[i]
        for col in range(k):
            r[col] += coef * V[row, col]
    return beta / (1.0 - beta * gamma), gamma


@njit(cache=True, nogil=True)
def general_kernel(beta, idx, val, V, rho, work):
    """``K, K', K''`` for arbitrary nonzero values, ``O(nk)``, no allocation.

    With ``V* = (I - beta C)^{-1} U``: ``K = tr(U^T V*)``, ``K' = tr(V*^T C
    V*)`` and ``K'' = 2 tr(Y^T (I - beta C)^{-1} Y)`` with ``Y = C V*``.
    """
    r, p, q = work.r, work.p, work.q
    k = V.shape[1]
    kappa, gamma = sherman_morrison(beta, idx, val, V, rho, r)
    for col in range(k):
        p[col] = 0.0
        q[col] = 0.0
    k0 = 0.0
    a2v2 = 0.0
    ga4v2 = 0.0
    for i in range(idx.shape[0]):
        a = val[i]
        g = 1.0 / (1.0 + beta * a * a)
        row = idx[i]
        for col in range(k):
            u = rho * V[row, col]
            v = g * (u + kappa * a * r[col])
            p[col] += a * v
            q[col] += g * a * a * a * v
            k0 += u * v
            a2v2 += a * a * v * v
            ga4v2 += g * a * a * a * a * v * v
    pp = 0.0
    pq = 0.0
    rest = 0.0
    for col in range(k):
        pp += p[col] * p[col]
        pq += p[col] * q[col]
        diff = gamma * p[col] - q[col]
        rest += diff * diff
    k1 = pp - a2v2
    k2 = 2.0 * (gamma * pp - 2.0 * pq + ga4v2 + kappa * rest)
    return k0, k1, k2


# ---------------------------------------------------------------- the dual
GeneralRow = namedtuple("GeneralRow", ["dual", "idx", "val", "V", "work"])
GeneralRow.__doc__ = """A row whose values differ in magnitude, for :func:`margin`."""


def _margin_of_dual(z, yhat, row):
    dual = row
    _, k1, k2, k3 = uniform_kernel(dual.eta * z * yhat, dual)
    m = yhat * dual.linear_c + z * dual.slope + 0.5 * yhat * k1
    dm = dual.slope + 0.5 * dual.eta * k2
    return m, dm, 0.5 * dual.eta * dual.eta * yhat * k3


def _margin_of_row(z, yhat, row):
    dual = row.dual
    beta = dual.eta * z * yhat
    _, k1, k2 = general_kernel(beta, row.idx, row.val, row.V, dual.rho, row.work)
    m = yhat * dual.linear_c + z * dual.slope + 0.5 * yhat * k1
    return m, dual.slope + 0.5 * dual.eta * k2, 0.0


def margin(z, yhat, row):
    """``m(z) = yhat sigma(x*(z))`` and its first two derivatives.

    ``row`` is a :class:`Dual` (uniform row: two-eigenvalue form, O(1)) or a
    :class:`GeneralRow` (Sherman-Morrison form, O(nk); the second derivative
    is not computed there and returned as 0). The choice is made when
    compiling, so the root finder :func:`solve_dual` is written once and the
    uniform one touches no array.
    """
    if isinstance(row, Dual):
        return _margin_of_dual(z, yhat, row)
    return _margin_of_row(z, yhat, row)


@overload(margin, inline="always")
def _margin_overload(z, yhat, row):
    if isinstance(row, types.NamedTuple) and row.instance_class is Dual:
        return _margin_of_dual
    return _margin_of_row


def step_rtol(row):
    """The stopping step of :func:`solve_dual`'s Halley steps on ``row``.

    ``row`` as in :func:`margin`; the steps are of third order on uniform
    rows (exact ``m''``), of second order on the others.
    """
    return _HALLEY_RTOL if isinstance(row, Dual) else _NEWTON_RTOL


@overload(step_rtol)
def _step_rtol_overload(row):
    uniform = isinstance(row, types.NamedTuple) and row.instance_class is Dual
    rtol = _HALLEY_RTOL if uniform else _NEWTON_RTOL
    return lambda row: rtol


@njit(cache=True, nogil=True, inline="always")
def solve_dual(yhat, args):
    """Maximize q: root of ``F(t) = t + m(expit(t))`` by safeguarded Halley steps.

    ``args``: the :class:`Dual` of a uniform row or a :class:`GeneralRow`
    (see :func:`margin`). ``F`` is increasing (``F' >= 1``) and ``F(-m(0))
    >= 0 >= F(-m(1))``. The iteration starts at ``-m(0)`` (where
    ``expit(-m(0))`` is the loss derivative of SGD) and takes Halley steps
    ``F / (F' - F F2 / (2 F'))`` with ``F2`` the second derivative of ``F``
    (cubic convergence; with the ``m''`` = 0 of general rows the correction
    is still second order, so those steps converge at least quadratically,
    like Newton's, to which they fall back when the correction would halve
    the denominator). An iterate leaving the current bracket is replaced by
    bisection, and the lower end ``-m(1)`` is only evaluated when a
    bisection needs it. A step below ``rtol (1 + |t|)`` ends the iteration,
    ``rtol = 1e-4`` after a Halley step on a uniform row (the error left is
    of order its cube) and ``1e-6`` after the others (its square): an error
    of order ``1e-12`` or less either way.
    """
    m0, _, _ = margin(0.0, yhat, args)
    hi = -m0
    lo = -np.inf
    t = hi
    for _ in range(_NEWTON_MAX_ITER):
        z = expit(t)
        m, dm, d2m = margin(z, yhat, args)
        f = t + m
        if f > 0.0:
            hi = t
        elif f < 0.0:
            lo = t
        else:
            return z
        dz = z * (1.0 - z)  # d expit / dt
        fp = 1.0 + dm * dz
        fpp = d2m * dz * dz + dm * dz * (1.0 - 2.0 * z)
        denom = fp - 0.5 * f * fpp / fp
        rtol = step_rtol(args)
        if denom < 0.5 * fp:  # Newton's step
            denom = fp
            rtol = _NEWTON_RTOL
        step = f / denom
        t_new = t - step
        if not (lo < t_new < hi):
            if lo == -np.inf:
                m1, _, _ = margin(1.0, yhat, args)
                lo = -m1
                if lo >= hi:  # degenerate bracket (no dependence on z)
                    return expit(hi)
            t_new = 0.5 * (lo + hi)
        elif abs(step) <= rtol * (1.0 + abs(t)):
            return expit(t_new)
        if hi - lo <= _BRACKET_RTOL * (1.0 + abs(t_new)):
            return expit(t_new)
        t = t_new
    return expit(t)


# ----------------------------------------------------------------- updates
@njit(cache=True, nogil=True, inline="always")
def update_latent(beta, dual, idx, val, V, r, held, offset):
    """``V_N <- (I - beta C)^{-1} rho V_N`` in place.

    ``r`` holds ``V_N^T a`` of the current iterate (from :func:`gather`) for
    uniform rows; other rows refill it by :func:`sherman_morrison`. Every
    change ``new - old`` also enters ``offset -= held (new - old)`` (the lazy
    average of :mod:`skfactor.fm._epoch`; ``held = 0`` when not averaging).
    """
    k = V.shape[1]
    n = idx.shape[0]
    rho = dual.rho
    if n == 1:
        row = idx[0]
        for col in range(k):
            old = V[row, col]
            V[row, col] = rho * old
            offset[row, col] += held * (old - V[row, col])
    elif dual.uniform:
        scale = 1.0 / (1.0 - beta * dual.lam2)
        coef = scale * beta * rho / (1.0 - beta * dual.lam1)
        shrink = scale * rho
        for i in range(n):
            row = idx[i]
            ca = coef * val[i]
            for col in range(k):
                old = V[row, col]
                V[row, col] = shrink * old + ca * r[col]
                offset[row, col] += held * (old - V[row, col])
    else:
        kappa, _ = sherman_morrison(beta, idx, val, V, rho, r)
        for i in range(n):
            row = idx[i]
            a = val[i]
            g = 1.0 / (1.0 + beta * a * a)
            for col in range(k):
                old = V[row, col]
                V[row, col] = g * (rho * old + kappa * a * r[col])
                offset[row, col] += held * (old - V[row, col])


@njit(cache=True, nogil=True, inline="always")
def update_biases(z, yhat, step, idx, val, model, held, offsets):
    """``b_0 += eta_b z yhat``, ``b_N <- rho_b b_N + eta_b' z yhat a``.

    Changes enter ``offsets`` (a :class:`Model` of offsets) as in
    :func:`update_latent`.
    """
    rho_b = 1.0 / (1.0 + step.eta_bias * step.alpha)
    move = step.eta_bias * rho_b * z * yhat
    w, offset = model.w, offsets.w
    for i in range(idx.shape[0]):
        row = idx[i]
        old = w[row]
        w[row] = rho_b * old + move * val[i]
        offset[row] += held * (old - w[row])
    change = step.eta_bias * z * yhat
    model.w0[0] += change
    offsets.w0[0] -= held * change


@njit(cache=True, nogil=True, inline="always")
def prox_step(idx, val, yhat, step, model, work, held, offsets):
    """One exact proximal step in place; return ``(loss before the step, z)``.

    ``idx`` / ``val``: the sample's nonzero columns and values (no
    duplicates); ``yhat`` in {-1, +1}; ``step``: a :class:`Step` (sample
    weight included); ``model``: the :class:`Model`, updated in place;
    ``work``: a :class:`Work`. The caller guarantees ``eta' L < 1``.
    ``offsets``: a :class:`Model` of the lazy average offsets, which receive
    ``-held`` times every change (``held = 0`` when not averaging).
    """
    linear, pairwise, rr, sum_a2, sum_a2_v2, uniform, c = gather(
        idx, val, model, work.r
    )
    loss = logistic_loss(yhat * (linear + pairwise))
    dual = dual_scalars(
        idx.shape[0], model.w0[0], step, linear, rr, sum_a2, sum_a2_v2, uniform, c
    )
    if dual.uniform:
        z = solve_dual(yhat, dual)
    else:
        z = solve_dual(yhat, GeneralRow(dual, idx, val, model.V, work))
    beta = dual.eta * z * yhat
    update_latent(beta, dual, idx, val, model.V, work.r, held, offsets.V)
    update_biases(z, yhat, step, idx, val, model, held, offsets)
    return loss, z
