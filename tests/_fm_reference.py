r"""Reference trainers and oracles the proximal method is compared with.

Not part of the package: the tests, the benchmarks (``benchmarks/`` put
``tests/`` on ``sys.path``) and the gallery examples share this one
implementation.

- :func:`seed_prox_epoch`: the exact proximal point method of Shtoff (2020)
  exactly as written there: per sample,
  golden-section search of the dual on :math:`[0, 1]` where every evaluation
  solves the :math:`n \times n` linear system :math:`S(z) V = V_t`
  explicitly (``numpy.linalg.solve``), at a fixed step. Plain Python, slow
  on purpose: it measures what the derivation costs when implemented
  literally. (Unlike the published code, the latent-vector update is
  written back to the embedding table.)
- :func:`gradient_epoch` / :func:`sgd_fit`: stochastic gradient, Adagrad
  or (lazy) Adam steps on the logistic loss with the same L2 penalty on the
  touched parameters, compiled with numba.
- :func:`dual_objective`: the dual function ``q(z)`` of one proximal step
  from the package's closed form (compared with its definition in the
  tests).
- :func:`map_fit`: the penalized maximum a posteriori FM by full-batch
  L-BFGS, :math:`\min \frac1n \sum_i \log(1 + e^{-\hat y_i \sigma_i}) +
  \frac{\lambda_b}{2}\|b\|^2 + \frac{\lambda_V}{2}\|V\|^2`: what any
  optimizer of an L2-penalized FM can at best reach (the quality ceiling of
  point estimates in the user guide).

References
----------
A. Shtoff (2020), Proximal point to the extreme - factorization machines,
blog post of the series "Efficient incremental proximal point methods".
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit

from skfactor.fm import _prox_step
from skfactor.fm._prox_step import expit, logistic_loss

__all__ = [
    "dual_objective",
    "gradient_epoch",
    "map_fit",
    "map_objective",
    "seed_prox_epoch",
    "sgd_fit",
]

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
    """One epoch of Shtoff's exact proximal point method as written (indicator rows).

    Parameters
    ----------
    X : CSR matrix of 0/1 indicators
    yhat : ndarray of {-1, +1}
    order : ndarray of int, the samples to visit
    eta : float, the fixed step (Shtoff uses ``1 / (2 d + 1)``)
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


SGD, ADAGRAD, ADAM = 0, 1, 2
METHODS = {"sgd": SGD, "adagrad": ADAGRAD, "adam": ADAM}

GradientSettings = namedtuple("GradientSettings", ["method", "lr", "lam_b", "lam_v"])
"""Optimizer (``SGD``, ``ADAGRAD`` or ``ADAM``), step size and L2 penalties."""

OptimizerState = namedtuple("OptimizerState", ["count", "first", "second"])
"""Step counter (shape (1,)) and first / second moment accumulators, each a
``Model``-shaped triple (Adagrad uses ``second`` only, SGD neither)."""

_EPS = 1e-8
_BETA1, _BETA2 = 0.9, 0.999


def make_state(model):
    """Zero :class:`OptimizerState` for ``model``."""
    zeros = tuple(np.zeros_like(a) for a in model)
    return OptimizerState(np.zeros(1), zeros, tuple(np.zeros_like(a) for a in model))


@njit(cache=True, nogil=True)
def _move(x, grad, settings, first, second, pos, count):
    """The optimizer's new value of one parameter with gradient ``grad``.

    ``first[pos]``, ``second[pos]``: its accumulators (``pos`` an index
    tuple); ``count``: the number of steps so far (Adam's bias correction).
    Adam is the lazy (sparse) variant: the moments of a parameter are only
    updated when a sample touches it, as in sparse-embedding Adam.
    """
    if settings.method == ADAGRAD:
        second[pos] += grad * grad
        return x - settings.lr * grad / (math.sqrt(second[pos]) + _EPS)
    if settings.method == ADAM:
        first[pos] = _BETA1 * first[pos] + (1.0 - _BETA1) * grad
        second[pos] = _BETA2 * second[pos] + (1.0 - _BETA2) * grad * grad
        m_hat = first[pos] / (1.0 - _BETA1**count)
        v_hat = second[pos] / (1.0 - _BETA2**count)
        return x - settings.lr * m_hat / (math.sqrt(v_hat) + _EPS)
    return x - settings.lr * grad


@njit(cache=True, nogil=True)
def gradient_epoch(rows, yhat, order, settings, model, state, s):
    """One epoch of SGD, Adagrad or Adam on the penalized logistic loss of an FM.

    ``rows``: ``(indptr, indices, data)`` of a CSR matrix; ``model``: ``(w0,
    w, V)`` updated in place; ``state``: an :class:`OptimizerState`; ``s``: a
    work vector of length k. The L2 penalties apply to the touched feature
    biases and latent vectors. Returns the sum of the losses before each step.
    """
    indptr, indices, data = rows
    w0, w, V = model
    k = V.shape[1]
    total = 0.0
    for pos in range(order.shape[0]):
        i = order[pos]
        start = indptr[i]
        stop = indptr[i + 1]
        for col in range(k):
            s[col] = 0.0
        margin = w0[0]
        sq = 0.0
        for jj in range(start, stop):
            a = data[jj]
            row = indices[jj]
            margin += a * w[row]
            for col in range(k):
                x = a * V[row, col]
                s[col] += x
                sq += x * x
        for col in range(k):
            margin += 0.5 * s[col] * s[col]
        margin -= 0.5 * sq
        y = yhat[i]
        total += logistic_loss(y * margin)
        # d loss / d sigma = -y * expit(-y * margin)
        dl = -y * expit(-y * margin)
        state.count[0] += 1.0
        count = state.count[0]
        f0, fw, fV = state.first
        s0, sw, sV = state.second
        w0[0] = _move(w0[0], dl, settings, f0, s0, 0, count)
        for jj in range(start, stop):
            a = data[jj]
            row = indices[jj]
            grad = dl * a + settings.lam_b * w[row]
            w[row] = _move(w[row], grad, settings, fw, sw, row, count)
            for col in range(k):
                v = V[row, col]
                grad = dl * a * (s[col] - a * v) + settings.lam_v * v
                V[row, col] = _move(v, grad, settings, fV, sV, (row, col), count)
    return total


def _csr_arrays(X):
    X = X.tocsr()
    return (
        X.indptr.astype(np.int64),
        X.indices.astype(np.int64),
        X.data.astype(np.float64),
    )


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
    method=None,
    callback=None,
    init=None,
):
    """Train an FM by :func:`gradient_epoch`.

    Returns ``(loss_curve, (w0, w, V), seconds)``.

    ``method`` ("sgd", "adagrad", "adam") overrides ``adagrad``. ``seconds``
    is the training time without the numba compilation. ``callback(epoch,
    params)``, when given, is called after every epoch (outside the timing);
    it may return True to stop. ``init``: the initial latent vectors
    (default: drawn N(0, init_std^2) from ``random_state``).
    """
    import time

    if method is None:
        method = "adagrad" if adagrad else "sgd"
    rng = np.random.default_rng(random_state)
    rows = _csr_arrays(X)
    m = X.shape[1]
    model = (
        np.zeros(1),
        np.zeros(m),
        init_std * rng.standard_normal((m, n_components))
        if init is None
        else np.array(init, dtype=np.float64),
    )
    state = make_state(model)
    settings = GradientSettings(METHODS[method], float(lr), float(lam_b), float(lam_v))
    work = np.empty(n_components)
    yhat = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    empty = np.arange(0, dtype=np.int64)
    gradient_epoch(rows, yhat, empty, settings, model, state, work)  # compile
    curve = []
    seconds = 0.0
    for epoch in range(epochs):
        order = rng.permutation(X.shape[0]).astype(np.int64)
        start = time.perf_counter()
        with np.errstate(all="ignore"):
            total = gradient_epoch(rows, yhat, order, settings, model, state, work)
        seconds += time.perf_counter() - start
        curve.append(total / X.shape[0])
        if callback is not None and callback(epoch, (float(model[0][0]), *model[1:])):
            break
    return curve, (float(model[0][0]), model[1], model[2]), seconds


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


def dual_objective(z, idx, val, yhat, step, model):
    """``q(z)`` of one proximal step from the package's closed form.

    ``step``: a :class:`~skfactor.fm._prox_step.Step`; ``model``: ``(w0, w,
    V)`` before the step (not modified).
    """
    w0, w, V = model
    work = _prox_step.make_work(V.shape[1])
    linear, _, rr, sum_a2, sum_a2_v2, uniform, c = _prox_step.gather(
        idx, val, _prox_step.Model(*model), work.r
    )
    dual = _prox_step.dual_scalars(
        idx.shape[0], w0[0], step, linear, rr, sum_a2, sum_a2_v2, uniform, c
    )
    beta = dual.eta * z * yhat
    if dual.uniform:
        k0 = _prox_step.uniform_kernel(beta, dual)[0]
    else:
        k0 = _prox_step.general_kernel(beta, idx, val, V, dual.rho, work)[0]
    rho_b = 1.0 / (1.0 + step.eta_bias * step.alpha)
    norm_b = float(w[idx] @ w[idx])
    norm_v = float((V[idx] ** 2).sum())
    rho = dual.rho
    q1 = -z * yhat * dual.linear_c - 0.5 * z * z * dual.slope
    q2 = (rho * rho * norm_v - k0) / (2.0 * dual.eta) if dual.eta > 0 else 0.0
    const = 0.5 * step.alpha * (rho_b * norm_b + rho * norm_v)
    return q1 + q2 - _neg_entropy(z) + const


STABILITY_METHODS = ("ProxFMClassifier", "SGD", "Adagrad", "Adam")


def stability_run(method, X, y, step, epochs, seed, n_components=8, alpha=0.03):
    """Per-epoch training loss of one method at one step size (the stability test).

    All methods train the same FM (``n_components``, latent vectors drawn
    N(0, 0.1^2) from ``seed``, biases at zero) with the same L2 penalty
    ``alpha`` on the touched parameters and a constant step: the proximal
    method is :class:`~skfactor.ProxFMClassifier` with ``step_size=step``,
    ``schedule="constant"``, ``bias_step_scale=2`` (as measured in the user
    guide) and its other defaults; SGD, Adagrad and Adam are
    :func:`gradient_epoch` with learning rate ``step``. Returns the list of
    epoch losses (the mean loss of each sample just before its step), or
    None when ``step`` is above the proximal step's convexity bound (the
    estimator rejects it).
    """
    import warnings

    from skfactor import ProxFMClassifier

    if method == "ProxFMClassifier":
        clf = ProxFMClassifier(
            n_components=n_components,
            alpha=alpha,
            step_size=step,
            bias_step_scale=2.0,
            schedule="constant",
            max_iter=epochs,
            random_state=seed,
        )
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                clf.fit(X, y)
        except ValueError as exc:
            if "nonconvex" in str(exc):
                return None
            raise
        return list(clf.loss_curve_)
    # the estimator's initialization (same draws for the same seed)
    init = 0.1 * np.random.RandomState(seed).standard_normal((X.shape[1], n_components))
    curve, _, _ = sgd_fit(
        X,
        y,
        n_components,
        epochs,
        init=init,
        lr=step,
        lam_b=alpha,
        lam_v=alpha,
        method=method.lower(),
        random_state=seed,
    )
    return curve


def stability_summary(curve, threshold=math.log(2.0)):
    """``(best epoch loss, diverged)`` of one run.

    A run diverged when its last epoch loss is not finite or above
    ``threshold`` (default: log 2, the loss of the starting point, which
    predicts 1/2 for every sample).
    """
    curve = np.asarray(curve, dtype=float)
    finite = curve[np.isfinite(curve)]
    best = float(finite.min()) if finite.size else float("inf")
    last = curve[-1]
    return best, bool(not np.isfinite(last) or last > threshold)
