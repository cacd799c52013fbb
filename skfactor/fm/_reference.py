r"""Reference trainers the proximal method is compared with (benchmark, examples, tests).

Not used by :class:`~skfactor.ProxFMClassifier`; they are here so that the
benchmark, the gallery examples and the tests share one implementation:

- :func:`seed_prox_epoch`: the seed's method exactly as written: per sample,
  golden-section search of the dual on :math:`[0, 1]` where every evaluation
  solves the :math:`n \times n` linear system :math:`S(z) V = V_t`
  explicitly (``numpy.linalg.solve``), at a fixed step. Plain Python, slow
  on purpose: it measures what the derivation costs when implemented
  literally. (Unlike the seed's published code, the latent-vector update is
  written back to the embedding table.)
- :func:`sgd_epoch`: stochastic gradient (``adagrad=False``) or Adagrad
  (``adagrad=True``) steps on the logistic loss with the same L2 penalty on
  the touched parameters, compiled with numba.
- :func:`map_fit`: the penalized maximum a posteriori FM by full-batch
  L-BFGS, :math:`\min \frac1n \sum_i \log(1 + e^{-\hat y_i \sigma_i}) +
  \frac{\lambda_b}{2}\|b\|^2 + \frac{\lambda_V}{2}\|V\|^2`: what any
  optimizer of an L2-penalized FM can at best reach (the quality ceiling of
  point estimates in the user guide).
"""

import math

import numpy as np
from numba import njit

from ._prox_step import logistic_loss

__all__ = ["map_fit", "map_objective", "seed_prox_epoch", "sgd_epoch", "sgd_fit"]

_INVPHI = (math.sqrt(5.0) - 1.0) / 2.0


def _golden_section_max(func, lo=0.0, hi=1.0, tol=1e-8):
    """Maximizer of a unimodal ``func`` on ``[lo, hi]`` (golden-section search)."""
    c = hi - _INVPHI * (hi - lo)
    d = lo + _INVPHI * (hi - lo)
    fc, fd = func(c), func(d)
    while hi - lo > tol:
        if fc > fd:
            hi, d, fd = d, c, fc
            c = hi - _INVPHI * (hi - lo)
            fc = func(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + _INVPHI * (hi - lo)
            fd = func(d)
    return 0.5 * (lo + hi)


def _neg_entropy(z):
    return sum(t * math.log(t) for t in (z, 1.0 - z) if t > 0.0)


def seed_prox_epoch(X, yhat, order, eta, w0, w, V):
    """One epoch of the seed's exact proximal point method (indicator rows).

    Parameters
    ----------
    X : CSR matrix of 0/1 indicators
    yhat : ndarray of {-1, +1}
    order : ndarray of int, the samples to visit
    eta : float, the fixed step (the seed uses ``1 / (2 d + 1)``)
    w0 : ndarray of shape (1,); w : (n_features,); V : (n_features, k),
        updated in place.

    Returns
    -------
    loss_sum : float
        Sum over the visited samples of the logistic loss before each step.
    """
    total = 0.0
    for i in order:
        nz = X.indices[X.indptr[i] : X.indptr[i + 1]]
        y = float(yhat[i])
        n = nz.size
        Vt = V[nz]
        bias_sum = w[nz].sum()
        s = Vt.sum(axis=0)
        total += logistic_loss(y * (w0[0] + bias_sum + 0.5 * (s @ s - (Vt * Vt).sum())))

        def solve(z):
            # S(z) V = V_t with S(z) = (1 + eta z y) I - eta z y e e^T
            S = (1.0 + eta * z * y) * np.eye(n) - eta * z * y * np.ones((n, n))
            return np.linalg.solve(S, Vt)

        def q(z):
            q1 = -0.5 * eta * (1 + n) * z * z - y * (bias_sum + w0[0]) * z
            Vs = solve(z)
            tot = Vs.sum(axis=0)
            pairwise = 0.5 * (tot @ tot - (Vs * Vs).sum())
            q2 = -z * y * pairwise + ((Vs - Vt) ** 2).sum() / (2.0 * eta)
            return q1 + q2 - _neg_entropy(z)

        z = _golden_section_max(q)
        V[nz] = solve(z)
        w[nz] += eta * z * y
        w0[0] += eta * z * y
    return total


@njit(cache=True, nogil=True)
def sgd_epoch(
    indptr,
    indices,
    data,
    yhat,
    order,
    lr,
    lam_b,
    lam_v,
    adagrad,
    w0,
    w,
    V,
    g0,
    gw,
    gV,
    s,
):
    """One epoch of SGD or Adagrad on the penalized logistic loss of an FM.

    ``g0``, ``gw``, ``gV`` are the Adagrad accumulators (same shapes as the
    parameters, ignored by plain SGD); ``s`` is a work vector of length k.
    Returns the sum of the losses before each step.
    """
    k = V.shape[1]
    total = 0.0
    eps = 1e-8
    for pos in range(order.shape[0]):
        i = order[pos]
        start = indptr[i]
        stop = indptr[i + 1]
        for l in range(k):
            s[l] = 0.0
        margin = w0[0]
        sq = 0.0
        for jj in range(start, stop):
            a = data[jj]
            row = indices[jj]
            margin += a * w[row]
            for l in range(k):
                x = a * V[row, l]
                s[l] += x
                sq += x * x
        for l in range(k):
            margin += 0.5 * s[l] * s[l]
        margin -= 0.5 * sq
        y = yhat[i]
        total += logistic_loss(y * margin)
        # d loss / d sigma = -y * expit(-y * margin)
        t = -y * margin
        if t >= 0:
            dl = -y / (1.0 + math.exp(-t))
        else:
            e = math.exp(t)
            dl = -y * e / (1.0 + e)
        grad = dl
        if adagrad:
            g0[0] += grad * grad
            w0[0] -= lr * grad / (math.sqrt(g0[0]) + eps)
        else:
            w0[0] -= lr * grad
        for jj in range(start, stop):
            a = data[jj]
            row = indices[jj]
            grad = dl * a + lam_b * w[row]
            if adagrad:
                gw[row] += grad * grad
                w[row] -= lr * grad / (math.sqrt(gw[row]) + eps)
            else:
                w[row] -= lr * grad
            for l in range(k):
                v = V[row, l]
                grad = dl * a * (s[l] - a * v) + lam_v * v
                if adagrad:
                    gV[row, l] += grad * grad
                    V[row, l] = v - lr * grad / (math.sqrt(gV[row, l]) + eps)
                else:
                    V[row, l] = v - lr * grad
    return total


def sgd_fit(
    X,
    y,
    n_components,
    epochs,
    lr,
    lam_b=0.0,
    lam_v=0.0,
    adagrad=True,
    init_std=0.1,
    random_state=0,
):
    """Train an FM by :func:`sgd_epoch`; return ``(loss_curve, (w0, w, V), seconds)``.

    ``seconds`` is the training time without the numba compilation.
    """
    import time

    rng = np.random.default_rng(random_state)
    X = X.tocsr()
    m = X.shape[1]
    w0, w = np.zeros(1), np.zeros(m)
    V = init_std * rng.standard_normal((m, n_components))
    acc = np.zeros(1), np.zeros(m), np.zeros((m, n_components))
    work = np.empty(n_components)
    yhat = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    indptr, indices = X.indptr.astype(np.int64), X.indices.astype(np.int64)
    data = X.data.astype(np.float64)
    empty = np.arange(0, dtype=np.int64)
    sgd_epoch(
        indptr,
        indices,
        data,
        yhat,
        empty,
        lr,
        lam_b,
        lam_v,
        adagrad,
        w0,
        w,
        V,
        *acc,
        work,
    )
    curve = []
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(X.shape[0]).astype(np.int64)
        total = sgd_epoch(
            indptr,
            indices,
            data,
            yhat,
            order,
            lr,
            lam_b,
            lam_v,
            adagrad,
            w0,
            w,
            V,
            *acc,
            work,
        )
        curve.append(total / X.shape[0])
    return curve, (float(w0[0]), w, V), time.perf_counter() - start


def map_objective(params, X, yhat, n_components, lam_b, lam_v, X2=None):
    """Penalized mean logistic loss of an FM and its gradient (for L-BFGS).

    ``params`` stacks ``(b0, b, V.ravel())``; ``X`` is CSR and ``X2`` its
    elementwise square (computed when not given). The global bias is not
    penalized.
    """
    m, k = X.shape[1], n_components
    b0, b, V = params[0], params[1 : m + 1], params[m + 1 :].reshape(m, k)
    if X2 is None:
        X2 = X.multiply(X).tocsr()
    XV = X @ V
    sigma = b0 + X @ b + 0.5 * ((XV * XV).sum(axis=1) - X2 @ (V * V).sum(axis=1))
    margin = yhat * sigma
    n = X.shape[0]
    value = np.logaddexp(0.0, -margin).mean() + 0.5 * (
        lam_b * b @ b + lam_v * (V * V).sum()
    )
    # d loss / d sigma = -yhat expit(-margin), averaged
    d = -yhat * np.exp(-np.logaddexp(0.0, margin)) / n
    grad_V = X.T @ (d[:, None] * XV) - (X2.T @ d)[:, None] * V + lam_v * V
    grad = np.concatenate([[d.sum()], X.T @ d + lam_b * b, grad_V.ravel()])
    return value, grad


def map_fit(
    X, y, n_components, lam_b, lam_v, init_std=0.1, max_iter=500, random_state=0
):
    """Penalized MAP FM by L-BFGS; return ``((w0, w, V), seconds, n_iter)``."""
    import time

    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(random_state)
    X = X.tocsr().astype(np.float64)
    m = X.shape[1]
    x0 = np.concatenate(
        [np.zeros(m + 1), init_std * rng.standard_normal(m * n_components)]
    )
    yhat = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    start = time.perf_counter()
    X2 = X.multiply(X).tocsr()
    # L-BFGS-B's many small BLAS calls slow down ~8x with threaded BLAS on a
    # busy machine; one thread is faster.
    with threadpool_limits(1, user_api="blas"):
        res = minimize(
            map_objective,
            x0,
            args=(X, yhat, n_components, lam_b, lam_v, X2),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter},
        )
    seconds = time.perf_counter() - start
    x = res.x
    return (
        (float(x[0]), x[1 : m + 1], x[m + 1 :].reshape(m, n_components)),
        seconds,
        res.nit,
    )
