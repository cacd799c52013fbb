r"""Exact stochastic proximal point step of a factorization machine (seed 001).

One sample with nonzero feature values :math:`a_i` on the index set
:math:`N` (:math:`n = |N|`), label :math:`\hat y = \pm 1`, step :math:`\eta`
and L2 penalty :math:`\lambda` on the touched biases and latent vectors. The
step solves

.. math::

    x_{t+1} = \arg\min_x \; \log(1 + e^{-\hat y \sigma(x)})
        + \frac{\lambda}{2}\bigl(\|b_N\|^2 + \|V_N\|^2\bigr)
        + \frac{1}{2\eta}\|x - x_t\|^2 .

**Penalty.** :math:`\frac{\lambda}{2}\|u\|^2 + \frac{1}{2\eta}\|u - u_t\|^2`
equals :math:`\frac{1}{2\eta'}\|u - \rho u_t\|^2` up to a constant, with
:math:`\rho = 1/(1 + \eta\lambda)` and :math:`\eta' = \rho\eta`: the
penalized step is the plain step from the shrunk centre :math:`c_N = \rho
b_{N,t}`, :math:`U = \rho V_{N,t}` with step :math:`\eta'` for the touched
parameters (the global bias keeps :math:`\eta`).

**Dual.** With :math:`\log(1+e^{s}) = \max_{z\in[0,1]} sz - h^*(z)`,
:math:`h^*(z) = z\log z + (1-z)\log(1-z)`, and :math:`\beta = \eta' z \hat
y`, the pairwise term is :math:`\tfrac12 \operatorname{tr}(V^\top C V)` with
:math:`C = aa^\top - \operatorname{diag}(a^2)`, and

.. math::

    q(z) = -z\hat y\,(b_0 + a^\top c_N) - \frac{z^2}{2}(\eta + \eta'\|a\|^2)
        + \frac{1}{2\eta'}\bigl(\|U\|^2 - K(\beta)\bigr) - h^*(z)
        + \frac{\lambda\rho}{2}\bigl(\|b_{N,t}\|^2 + \|V_{N,t}\|^2\bigr),

    K(\beta) = \operatorname{tr}\bigl(U^\top (I - \beta C)^{-1} U\bigr).

:math:`I - \beta C` is diagonal plus rank one (Sherman-Morrison). The step is
strictly convex for every :math:`z \in [0, 1]` when :math:`\eta' L < 1` with
:math:`L = \|a\|^2 - \min_i a_i^2 \ge \max(\lambda_{\max}(C),
|\lambda_{\min}(C)|)` (:math:`L = n - 1` for indicators, where it is exact;
:math:`L = 0` for a single nonzero). For rows whose nonzeros all have the
same magnitude :math:`a_i^2 = c` (indicators), :math:`C` has two
eigenvalues, :math:`(n-1)c` along :math:`a` and :math:`-c` on its
orthogonal complement, so

.. math::

    K(\beta) = \frac{T}{1 - \beta (n-1) c} + \frac{\|U\|^2 - T}{1 + \beta c},
    \qquad T = \frac{\|U^\top a\|^2}{n c},

an :math:`O(1)` evaluation after the :math:`O(nk)` gather of
:math:`\|U\|^2` and :math:`U^\top a`. Other rows cost :math:`O(nk)` per
evaluation (two passes, no allocation).

**Maximizing q.** By the envelope theorem :math:`q'(z) = -\hat y
\sigma(x^*(z)) - \operatorname{logit} z` with :math:`\hat y \sigma(x^*(z)) =
m(z) = \hat y (b_0 + a^\top c_N) + z(\eta + \eta'\|a\|^2) + \tfrac{\hat y}{2}
K'(\beta)`, nondecreasing in :math:`z`. The maximizer solves :math:`F(t) = t +
m(\operatorname{expit} t) = 0`, increasing in :math:`t = \operatorname{logit}
z` and bracketed by :math:`[-m(1), -m(0)]`; a Newton iteration in :math:`t`
safeguarded by bisection finds it in a handful of :math:`O(1)` steps (the
logit variable keeps full relative precision on tiny :math:`z`).

**Update.** :math:`b_0 \leftarrow b_0 + \eta z\hat y`, :math:`b_N \leftarrow
c_N + \eta' z \hat y a`, :math:`V_N \leftarrow (I - \beta C)^{-1} U`, i.e.
:math:`v_i = g_i (u_i + \kappa a_i r)` with :math:`g_i = 1/(1 + \beta
a_i^2)`, :math:`r = \sum_j a_j g_j u_j`, :math:`\kappa = \beta / (1 - \beta
\sum_j a_j^2 g_j)`.

**Two steps.** The biases may take a different step :math:`\eta_b` than the
latent vectors (:math:`\eta` above; :math:`b_0, b_N` use :math:`\eta_b`):
the bias part of the subproblem is separable from the latent part, so only
``slope`` and the bias update change, and the convexity bound concerns the
latent step alone.

**Averaging.** :func:`run_epoch` can keep the sums of a weighted average of
all iterates lazily (a parameter is accounted for only when it is about to
change), read by :func:`averaged_parameters`.

The compiled functions (``cache=True``) are used with float64 values and
int64 indices only, so each compiles once; the per-sample path
(:func:`prox_step`, :func:`run_epoch`) allocates nothing (only the test
helper :func:`dual_objective` does).
"""

import math

import numpy as np
from numba import njit

__all__ = [
    "row_curvature_bounds",
    "dual_objective",
    "logistic_loss",
    "prox_step",
    "run_epoch",
    "averaged_parameters",
]

_NEWTON_MAX_ITER = 100
_NEWTON_RTOL = 1e-12

SCHEDULES = {"constant": 0, "invscaling": 1}


@njit(cache=True, nogil=True)
def logistic_loss(margin):
    """``log(1 + exp(-margin))`` without overflow."""
    if margin > 0:
        return math.log1p(math.exp(-margin))
    return -margin + math.log1p(math.exp(margin))


@njit(cache=True, nogil=True)
def _expit(t):
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


@njit(cache=True, nogil=True)
def _neg_entropy(z):
    """``h*(z) = z log z + (1 - z) log(1 - z)`` on [0, 1]."""
    out = 0.0
    if z > 0.0:
        out += z * math.log(z)
    if z < 1.0:
        out += (1.0 - z) * math.log1p(-z)
    return out


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


@njit(cache=True, nogil=True)
def _uniform_kernel(beta, lam1, e1, lam2, e2):
    """``K, K', K''`` of ``sum_j e_j / (1 - beta lam_j)`` (two eigenblocks)."""
    d1 = 1.0 / (1.0 - beta * lam1)
    d2 = 1.0 / (1.0 - beta * lam2)
    k0 = e1 * d1 + e2 * d2
    k1 = e1 * lam1 * d1 * d1 + e2 * lam2 * d2 * d2
    k2 = 2.0 * (e1 * lam1 * lam1 * d1 * d1 * d1 + e2 * lam2 * lam2 * d2 * d2 * d2)
    return k0, k1, k2


@njit(cache=True, nogil=True)
def _sherman_morrison(beta, idx, val, V, rho, r):
    """Fill ``r = sum_j a_j g_j u_j`` (``u_j = rho V[j]``); return ``kappa``."""
    k = V.shape[1]
    for l in range(k):
        r[l] = 0.0
    gamma = 0.0
    for i in range(idx.shape[0]):
        a = val[i]
        g = 1.0 / (1.0 + beta * a * a)
        gamma += a * a * g
        coef = a * g * rho
        row = idx[i]
        for l in range(k):
            r[l] += coef * V[row, l]
    return beta / (1.0 - beta * gamma), gamma


@njit(cache=True, nogil=True)
def _general_kernel(beta, idx, val, V, rho, r, p, q):
    """``K, K', K''`` for arbitrary nonzero values, ``O(nk)``, no allocation.

    With ``V* = (I - beta C)^{-1} U``: ``K = tr(U^T V*)``, ``K' = tr(V*^T C
    V*)`` and ``K'' = 2 tr(Y^T (I - beta C)^{-1} Y)`` with ``Y = C V*``.
    """
    k = V.shape[1]
    kappa, gamma = _sherman_morrison(beta, idx, val, V, rho, r)
    for l in range(k):
        p[l] = 0.0
        q[l] = 0.0
    k0 = 0.0
    a2v2 = 0.0
    ga4v2 = 0.0
    for i in range(idx.shape[0]):
        a = val[i]
        g = 1.0 / (1.0 + beta * a * a)
        row = idx[i]
        for l in range(k):
            u = rho * V[row, l]
            v = g * (u + kappa * a * r[l])
            p[l] += a * v
            q[l] += g * a * a * a * v
            k0 += u * v
            a2v2 += a * a * v * v
            ga4v2 += g * a * a * a * a * v * v
    pp = 0.0
    pq = 0.0
    rest = 0.0
    for l in range(k):
        pp += p[l] * p[l]
        pq += p[l] * q[l]
        diff = gamma * p[l] - q[l]
        rest += diff * diff
    k1 = pp - a2v2
    k2 = 2.0 * (gamma * pp - 2.0 * pq + ga4v2 + kappa * rest)
    return k0, k1, k2


@njit(cache=True, nogil=True)
def _kernel(beta, uniform, lam1, e1, lam2, e2, idx, val, V, rho, r, p, q):
    if uniform:
        return _uniform_kernel(beta, lam1, e1, lam2, e2)
    return _general_kernel(beta, idx, val, V, rho, r, p, q)


@njit(cache=True, nogil=True)
def _gather(idx, val, w0, w, V, r):
    """Scalars of the sample at the current iterate; ``r = sum_i a_i v_i``.

    Returns ``(linear, pairwise, ||r||^2, sum a_i^2, uniform, c, sum a_i^2
    ||v_i||^2)`` where ``linear = b0 + a^T b`` and ``pairwise`` are those of
    the current iterate (for the loss before the step), ``uniform`` tells
    whether every ``a_i^2`` equals ``c``.
    """
    k = V.shape[1]
    n = idx.shape[0]
    for l in range(k):
        r[l] = 0.0
    linear = w0[0]
    sum_a2 = 0.0
    sum_a2_v2 = 0.0
    c = val[0] * val[0] if n > 0 else 1.0
    uniform = True
    for i in range(n):
        a = val[i]
        row = idx[i]
        linear += a * w[row]
        a2 = a * a
        sum_a2 += a2
        if abs(a2 - c) > 1e-12 * c:
            uniform = False
        norm2 = 0.0
        for l in range(k):
            x = V[row, l]
            r[l] += a * x
            norm2 += x * x
        sum_a2_v2 += a2 * norm2
    rr = 0.0
    for l in range(k):
        rr += r[l] * r[l]
    pairwise = 0.5 * (rr - sum_a2_v2)
    return linear, pairwise, rr, sum_a2, uniform, c, sum_a2_v2


@njit(cache=True, nogil=True)
def _setup(idx, val, eta, eta_v, lam_b, lam_v, w0, w, V, r):
    """Everything the dual needs, from one ``O(nk)`` gather."""
    n = idx.shape[0]
    linear, pairwise, rr, sum_a2, uniform, c, sum_a2_v2 = _gather(idx, val, w0, w, V, r)
    rho_b = 1.0 / (1.0 + eta * lam_b)
    rho = 1.0 / (1.0 + eta_v * lam_v)
    eta_b = eta * rho_b
    eta_v = eta_v * rho
    linear_c = w0[0] + rho_b * (linear - w0[0])
    lam1 = 0.0
    e1 = 0.0
    lam2 = 0.0
    e2 = 0.0
    if uniform and n > 1 and c > 0.0:  # c == 0: squares underflow, no pairwise term
        # C = a a^T - c I: eigenvalue (n - 1) c along a, -c orthogonally (for
        # n = 1, C = 0 and the latent vector only shrinks).
        lam1 = (n - 1) * c
        lam2 = -c
        e1 = rho * rho * rr / (n * c)
        e2 = max(rho * rho * (sum_a2_v2 - rr / n) / c, 0.0)
    slope = eta + eta_b * sum_a2
    return (
        linear,
        pairwise,
        linear_c,
        slope,
        rho_b,
        eta_b,
        rho,
        eta_v,
        uniform,
        lam1,
        e1,
        lam2,
        e2,
    )


@njit(cache=True, nogil=True)
def _margin(
    z,
    yhat,
    eta_v,
    linear_c,
    slope,
    uniform,
    lam1,
    e1,
    lam2,
    e2,
    idx,
    val,
    V,
    rho,
    r,
    p,
    q,
):
    """``m(z) = yhat sigma(x*(z))`` and ``m'(z)``."""
    beta = eta_v * z * yhat
    _, k1, k2 = _kernel(beta, uniform, lam1, e1, lam2, e2, idx, val, V, rho, r, p, q)
    m = yhat * linear_c + z * slope + 0.5 * yhat * k1
    dm = slope + 0.5 * eta_v * k2
    return m, dm


@njit(cache=True, nogil=True)
def _solve_dual(
    yhat, eta_v, linear_c, slope, uniform, lam1, e1, lam2, e2, idx, val, V, rho, r, p, q
):
    """Maximize q: root of ``F(t) = t + m(expit(t))`` by safeguarded Newton.

    ``F`` is increasing and ``F(-m(0)) >= 0 >= F(-m(1))``. Newton starts at
    ``-m(0)`` (where ``expit(-m(0))`` is the loss derivative of SGD); an
    iterate leaving the current bracket is replaced by bisection, and the
    lower end ``-m(1)`` is only evaluated when a bisection needs it. Stops
    when the Newton correction is below ``1e-12 (1 + |t|)``.
    """
    m0, _ = _margin(
        0.0,
        yhat,
        eta_v,
        linear_c,
        slope,
        uniform,
        lam1,
        e1,
        lam2,
        e2,
        idx,
        val,
        V,
        rho,
        r,
        p,
        q,
    )
    hi = -m0
    lo = -np.inf
    t = hi
    for _ in range(_NEWTON_MAX_ITER):
        z = _expit(t)
        m, dm = _margin(
            z,
            yhat,
            eta_v,
            linear_c,
            slope,
            uniform,
            lam1,
            e1,
            lam2,
            e2,
            idx,
            val,
            V,
            rho,
            r,
            p,
            q,
        )
        f = t + m
        if f > 0.0:
            hi = t
        elif f < 0.0:
            lo = t
        else:
            break
        step = f / (1.0 + dm * z * (1.0 - z))
        t_new = t - step
        if not (lo < t_new < hi):
            if lo == -np.inf:
                m1, _ = _margin(
                    1.0,
                    yhat,
                    eta_v,
                    linear_c,
                    slope,
                    uniform,
                    lam1,
                    e1,
                    lam2,
                    e2,
                    idx,
                    val,
                    V,
                    rho,
                    r,
                    p,
                    q,
                )
                lo = -m1
                if lo >= hi:  # degenerate bracket (no dependence on z)
                    return _expit(hi)
            t_new = 0.5 * (lo + hi)
        elif abs(step) <= _NEWTON_RTOL * (1.0 + abs(t)):
            t = t_new
            break
        if hi - lo <= _NEWTON_RTOL * (1.0 + abs(t_new)):
            t = t_new
            break
        t = t_new
    return _expit(t)


@njit(cache=True, nogil=True)
def prox_step(idx, val, yhat, eta, eta_v, lam_b, lam_v, w0, w, V, r, p, q):
    """One exact proximal step in place; return ``(loss before the step, z)``.

    ``idx`` / ``val``: the sample's nonzero columns and values (no
    duplicates); ``yhat`` in {-1, +1}; ``eta``: step (sample weight
    included); ``lam``: L2 penalty; ``w0`` (shape (1,)), ``w``, ``V``: the
    parameters, updated in place; ``r``, ``p``, ``q``: work vectors of length
    ``k``. The caller guarantees ``eta / (1 + eta lam) * L < 1``.
    """
    (
        linear,
        pairwise,
        linear_c,
        slope,
        rho_b,
        eta_b,
        rho,
        eta_v,
        uniform,
        lam1,
        e1,
        lam2,
        e2,
    ) = _setup(idx, val, eta, eta_v, lam_b, lam_v, w0, w, V, r)
    loss = logistic_loss(yhat * (linear + pairwise))
    z = _solve_dual(
        yhat,
        eta_v,
        linear_c,
        slope,
        uniform,
        lam1,
        e1,
        lam2,
        e2,
        idx,
        val,
        V,
        rho,
        r,
        p,
        q,
    )
    beta = eta_v * z * yhat
    k = V.shape[1]
    n = idx.shape[0]
    if n == 1:
        for l in range(k):
            V[idx[0], l] *= rho
    elif uniform:
        # r still holds sum_i a_i v_i of the current iterate (untouched by the
        # uniform kernel): v_i <- (rho v_i + beta a_i rho r / (1 - beta (n-1) c)) / (1 + beta c)
        c = -lam2
        coef = beta * rho / (1.0 - beta * lam1)
        scale = 1.0 / (1.0 + beta * c)
        for i in range(n):
            row = idx[i]
            a = val[i]
            for l in range(k):
                V[row, l] = scale * (rho * V[row, l] + coef * a * r[l])
    else:
        kappa, _ = _sherman_morrison(beta, idx, val, V, rho, r)
        for i in range(n):
            row = idx[i]
            a = val[i]
            g = 1.0 / (1.0 + beta * a * a)
            for l in range(k):
                V[row, l] = g * (rho * V[row, l] + kappa * a * r[l])
    step_b = eta_b * z * yhat
    for i in range(n):
        row = idx[i]
        w[row] = rho_b * w[row] + step_b * val[i]
    w0[0] += eta * z * yhat
    return loss, z


@njit(cache=True, nogil=True)
def dual_objective(z, idx, val, yhat, eta, eta_v, lam_b, lam_v, w0, w, V):
    """``q(z)`` from the closed form (for tests: compare with its definition)."""
    k = V.shape[1]
    r = np.empty(k)
    p = np.empty(k)
    q = np.empty(k)
    (
        linear,
        pairwise,
        linear_c,
        slope,
        rho_b,
        eta_b,
        rho,
        eta_v,
        uniform,
        lam1,
        e1,
        lam2,
        e2,
    ) = _setup(idx, val, eta, eta_v, lam_b, lam_v, w0, w, V, r)
    beta = eta_v * z * yhat
    k0, _, _ = _kernel(beta, uniform, lam1, e1, lam2, e2, idx, val, V, rho, r, p, q)
    norm_b = 0.0
    norm_v = 0.0
    for i in range(idx.shape[0]):
        row = idx[i]
        norm_b += w[row] * w[row]
        for l in range(k):
            norm_v += V[row, l] * V[row, l]
    q1 = -z * yhat * linear_c - 0.5 * z * z * slope
    q2 = (rho * rho * norm_v - k0) / (2.0 * eta_v) if eta_v > 0 else 0.0
    const = 0.5 * (lam_b * rho_b * norm_b + lam_v * rho * norm_v)
    return q1 + q2 - _neg_entropy(z) + const


@njit(cache=True, nogil=True)
def _held_weight(start, stop):
    """``int_start^stop tau^3 dtau``, without cancellation."""
    return 0.25 * (stop - start) * (stop + start) * (stop * stop + start * start)


@njit(cache=True, nogil=True)
def run_epoch(
    indptr,
    indices,
    data,
    yhat,
    sample_weight,
    eta,
    bias_scale,
    max_step,
    order,
    alpha,
    w0,
    w,
    V,
    r,
    p,
    q,
    average,
    clock,
    sum_w0,
    sum_w,
    sum_V,
    last,
):
    """One pass of proximal steps over ``order``; return the weighted loss sum.

    Sample ``i`` (CSR row of ``indptr``, ``indices``, ``data``; label
    ``yhat[i]`` in {-1, +1}) gets the latent-vector step ``eta_i =
    min(eta * sample_weight[i], max_step[i])`` (a weighted sample is a scaled
    step), the bias step ``bias_scale * eta_i`` and the L2 penalty ``alpha`` on
    its touched biases and latent vectors. The losses before each step are
    summed with the sample weights.

    With ``average``, the sums of :func:`averaged_parameters` are kept up to
    date lazily, in ``O(nnz k)`` per sample and without allocation: the clock
    ``clock[0]`` advances by the sample weight at each step, the iterate after
    a step is held over that step's clock interval ``(s, s + w]`` with weight
    density ``tau^3``, and a parameter is only accounted for when it is about
    to change (``last[j]``: the clock when feature ``j`` last changed;
    ``clock[1]``: the same for the global bias).
    """
    total = 0.0
    k = V.shape[1]
    for pos in range(order.shape[0]):
        i = order[pos]
        start = indptr[i]
        stop = indptr[i + 1]
        weight = sample_weight[i]
        step = min(eta * weight, max_step[i])
        if average:
            now = clock[0]
            held = _held_weight(clock[1], now)
            sum_w0[0] += held * w0[0]
            clock[1] = now
            for jj in range(start, stop):
                j = indices[jj]
                held = _held_weight(last[j], now)
                sum_w[j] += held * w[j]
                for l in range(k):
                    sum_V[j, l] += held * V[j, l]
                last[j] = now
            clock[0] = now + weight
        loss, _ = prox_step(
            indices[start:stop],
            data[start:stop],
            yhat[i],
            bias_scale * step,
            step,
            alpha,
            alpha,
            w0,
            w,
            V,
            r,
            p,
            q,
        )
        total += weight * loss
    return total


def averaged_parameters(clock, sum_w0, sum_w, sum_V, last, w0, w, V):
    r"""Weighted average of the iterates of :func:`run_epoch` (``average=True``).

    With the clock :math:`\tau` advancing by the sample weight at every step
    (total :math:`T`), the iterate :math:`x_s` after step :math:`s` is held
    over :math:`(\tau_{s-1}, \tau_s]` and

    .. math::

        \bar x = \frac{\int_0^T \tau^3 x(\tau)\, d\tau}{T^4 / 4}
                = \sum_s \frac{\tau_s^4 - \tau_{s-1}^4}{T^4} x_s ,

    a Polyak-Ruppert average whose weights grow polynomially in time, so
    that early iterates fade out without a burn-in parameter (half of the
    weight is on the last 16% of the run). Returns ``(w0, w, V)`` averaged
    (the current iterate when no time has passed).
    """
    T = float(clock[0])
    if T <= 0.0:
        return float(w0[0]), w.copy(), V.copy()
    norm = _held_weight(0.0, T)
    held0 = _held_weight(clock[1], T)
    held = 0.25 * (T - last) * (T + last) * (T * T + last * last)
    # sum / norm + (held / norm) * current: exact for parameters never moved
    avg_w0 = sum_w0[0] / norm + (held0 / norm) * w0[0]
    avg_w = sum_w / norm + (held / norm) * w
    avg_V = sum_V / norm + (held / norm)[:, None] * V
    return float(avg_w0), avg_w, avg_V
