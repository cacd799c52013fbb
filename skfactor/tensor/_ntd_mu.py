r"""Multiplicative updates for sparse nonnegative Tucker decomposition.

The problem (Cohen and Leplat's sNTD, with per-block penalties) is

.. math::

    \min_{G \ge 0,\, A_k \ge 0} D_\beta(T \mid G \times_0 A_0 \dots
        \times_{N-1} A_{N-1}) + \mu_G\, g_G(G) + \sum_k \mu_k\, g_k(A_k),

with :math:`D_1` the generalized Kullback-Leibler divergence,
:math:`D_2 = \frac12 \|T - M\|_F^2`, and each :math:`g` the entrywise
:math:`\ell_1` norm or the squared Frobenius norm (ridge).

In mode :math:`n` the model unfolds as :math:`M_{(n)} = A_n B_n` with
:math:`B_n = G_{(n)} (\bigotimes_{k \ne n} A_k)^T`, an NMF in :math:`A_n`
with :math:`B_n` fixed, and :math:`\mathrm{vec}(M) = (\bigotimes_k A_k)
\mathrm{vec}(G)` is one in :math:`G`. Each block therefore takes the
multiplicative update of penalized NMF
(:func:`skfactor.decomposition._mu.penalized_step`: eq. 26-27 of Cohen and
Leplat for :math:`\ell_1`, their eq. 36 for the ridge with its factor 2
applied as written), with the numerators and denominators computed by
mode products (:mod:`skfactor.tensor._tensor_algebra`), never forming
:math:`B_n` or a Kronecker product:

- Kullback-Leibler, :math:`R = T / M`: numerator
  :math:`(R \times_{k \ne n} A_k^T)_{(n)} G_{(n)}^T`, denominator
  :math:`B_n \mathbf{1} = G \times_{k \ne n} \mathbf{1}^T A_k`; for the
  core, :math:`R \times_k A_k^T` and :math:`\bigotimes_k A_k^T \mathbf{1}`;
- Frobenius: the blocks take exact HALS updates instead
  (:mod:`skfactor.tensor._ntd_hals`), except a core too large for them,
  whose multiplicative update has the numerator :math:`T \times_k A_k^T`
  and the denominator :math:`G \times_k A_k^T A_k`.

Every update minimizes the objective, or a majorizer of it, in its block,
so the objective never increases; balancing (:mod:`skfactor._balance`) keeps the
model and never increases the penalty. Entries are kept ``>= EPSILON``.

All functions are pure: they return new arrays.
"""

from collections import namedtuple

import numpy as np
from scipy.special import xlogy

from .._balance import (
    balance_blocks,
    frobenius_optimal_initial_scale,
    kl_optimal_initial_scale,
    sinkhorn_balance_tucker,
)
from ..utils._penalties import penalty_degree, penalty_values
from ..decomposition._mm_steps import penalized_step
from ..decomposition._objective import EPSILON
from ..decomposition._newton import NEWTON_MAX_ITER, solve_activations
from ..utils._monitor import ConvergenceMonitor
from ._ntd_hals import (
    CORE_MAX_SIZE,
    gram_kronecker,
    hals_update_core,
    hals_update_factor,
    project_others,
)
from ._tensor_algebra import mode_dot, multi_mode_dot, tucker_to_tensor, unfold

__all__ = [
    "NTDProblem",
    "balance",
    "divergence",
    "fit_ntd",
    "objective",
    "penalty",
    "rescale_init",
    "sample_factor",
    "update_core",
    "update_factor",
]

#: The problem: ``beta`` 1 (KL) or 2 (Frobenius), then the weights and the
#: penalties of the core and of the factors, core first (length N + 1).
NTDProblem = namedtuple("NTDProblem", ["beta", "weights", "penalties"])

# Multiplicative updates that bring the constant start of a sample-mode
# solve near the optimum before projected Newton (as NMF's transform does).
_WARM_START = 30
_TINY = np.finfo(np.float64).tiny
# Multiplicative updates per outer iteration of a core too large for HALS
# (Frobenius), where repeating one costs only products with the Grams.
_FROBENIUS_INNER = 10
# Sinkhorn sweeps per outer iteration (eq. 32-34 once, as Cohen and Leplat):
# warm-started from the previous balanced scales, the sweeps of successive
# iterations keep the blocks balanced.
_SINKHORN_SWEEPS = 1


def divergence(tensor, model, beta):
    r""":math:`D_\beta(T \mid M)`, for ``beta`` 1 (KL) or 2 (half squared error).

    >>> import numpy as np
    >>> float(divergence(np.array([1.0, 3.0]), np.array([1.0, 1.0]), 2))
    2.0
    """
    if beta == 2:
        return 0.5 * float(np.sum((tensor - model) ** 2))
    model = np.maximum(model, _TINY)
    return float(np.sum(xlogy(tensor, tensor / model)) - tensor.sum() + model.sum())


def penalty(core, factors, problem):
    """Weighted penalty of the core and the factors.

    >>> import numpy as np
    >>> p = NTDProblem(1, [1.0, 0.5, 0.5], ["l1", "l2", "l2"])
    >>> float(penalty(np.ones((1, 1)), [np.full((2, 1), 2.0), np.ones((1, 1))], p))
    5.5
    """
    blocks = [core, *factors]
    return float(
        sum(
            w * penalty_values(np.reshape(b, (-1, 1)), p)[0]
            for b, w, p in zip(blocks, problem.weights, problem.penalties)
            if w  # (a weight 0 adds 0)
        )
    )


def objective(tensor, core, factors, problem, model=None):
    """Penalized objective; ``model`` is the Tucker model when at hand."""
    if model is None:
        model = tucker_to_tensor(core, factors)
    return divergence(tensor, model, problem.beta) + penalty(core, factors, problem)


def _step(block, numerator, denominator, weight, pen, beta):
    """Penalized multiplicative step of a block, floored at ``EPSILON``.

    The entrywise formula is NMF's
    (:func:`skfactor.decomposition._mm_steps.penalized_step`), called compiled
    on flat arrays.
    """
    new = penalized_step(block, numerator, denominator, weight, pen, beta)
    return np.maximum(new, EPSILON, out=new)


def update_factor(tensor, core, factors, mode, problem, model=None):
    """Update of ``factors[mode]``, the rest fixed: MU (KL) or HALS (Frobenius).

    ``model`` (the current Tucker model) is used for Kullback-Leibler when
    given. For Frobenius the block takes the exact column-wise minimization
    of :func:`skfactor.tensor._ntd_hals.hals_update_factor`.
    """
    if problem.beta == 2:
        return hals_update_factor(tensor, core, factors, mode, problem)
    factor = factors[mode]
    weight = problem.weights[mode + 1]
    pen = problem.penalties[mode + 1]
    if model is None:
        model = tucker_to_tensor(core, factors)
    ratio = tensor / np.maximum(model, _TINY)
    projected = multi_mode_dot(ratio, factors, skip=mode, transpose=True)
    numerator = unfold(projected, mode) @ unfold(core, mode).T
    sums = [f.sum(axis=0)[None, :] for f in factors]
    denominator = multi_mode_dot(core, sums, skip=mode).ravel()[None, :]
    return _step(factor, numerator, denominator, weight, pen, 1)


def update_core(
    tensor, core, factors, problem, model=None, projection=None, grams=None
):
    """Update of the core, the factors fixed.

    Kullback-Leibler: one multiplicative update. Frobenius: coordinate
    descent over the core entries
    (:func:`skfactor.tensor._ntd_hals.hals_update_core`), or, for cores
    larger than :data:`~skfactor.tensor._ntd_hals.CORE_MAX_SIZE`, the
    multiplicative update repeated ``_FROBENIUS_INNER`` times at the cost of
    small products (the accelerated MU of Gillis and Glineur, 2012).
    ``projection`` (Frobenius), :math:`T \times_k A_k^\top`, and
    ``grams``, the :math:`A_k^\top A_k`, are computed when not given.
    """
    weight, pen = problem.weights[0], problem.penalties[0]
    if problem.beta == 1:
        if model is None:
            model = tucker_to_tensor(core, factors)
        ratio = tensor / np.maximum(model, _TINY)
        numerator = multi_mode_dot(ratio, factors, transpose=True)
        denominator = np.ones(())
        for f in factors:
            denominator = np.multiply.outer(denominator, f.sum(axis=0))
        return _step(core, numerator, denominator, weight, pen, 1)
    if projection is None:
        projection = multi_mode_dot(tensor, factors, transpose=True)
    if grams is None:
        grams = [f.T @ f for f in factors]
    if core.size <= CORE_MAX_SIZE:
        kron = gram_kronecker(grams)
        return hals_update_core(tensor, core, factors, problem, projection, kron)
    numerator = projection
    for _ in range(_FROBENIUS_INNER):
        core = _step(core, numerator, multi_mode_dot(core, grams), weight, pen, 2)
    return core


def balance(core, factors, problem, how):
    """Rescale the blocks: ``"sinkhorn"``, ``"scalar"`` or ``"none"``.

    The model is unchanged and the penalty never increases.
    """
    if how == "sinkhorn":
        return sinkhorn_balance_tucker(
            core,
            factors,
            problem.weights,
            problem.penalties,
            max_sweeps=_SINKHORN_SWEEPS,
        )
    if how == "scalar":
        blocks, _ = balance_blocks([core, *factors], problem.weights, problem.penalties)
        return blocks[0], blocks[1:]
    return core, list(factors)


def rescale_init(tensor, core, factors, problem):
    r"""Multiply every block by the best common scalar :math:`\eta`.

    Minimizes :math:`D_\beta(T \mid \eta^{N+1} M) + \sum_b \eta^{p_b}
    \mu_b g_b(B_b)` over :math:`\eta > 0`
    (:func:`~skfactor._balance.kl_optimal_initial_scale`,
    :func:`~skfactor._balance.frobenius_optimal_initial_scale`), the
    initialization of the balanced meta-algorithm.
    """
    model = tucker_to_tensor(core, factors)
    blocks = [core, *factors]
    degrees = [penalty_degree(p) for p in problem.penalties]
    totals = [
        w * penalty_values(np.reshape(b, (-1, 1)), p)[0]
        for b, w, p in zip(blocks, problem.weights, problem.penalties)
    ]
    if problem.beta == 1:
        eta = kl_optimal_initial_scale(
            float(tensor.sum()), float(model.sum()), totals, degrees
        )
    else:
        eta = frobenius_optimal_initial_scale(
            float(np.vdot(tensor, tensor)),
            float(np.vdot(tensor, model)),
            float(np.vdot(model, model)),
            totals,
            degrees,
        )
    if not np.isfinite(eta) or eta <= 0:
        return core, list(factors)
    return eta * core, [eta * f for f in factors]


def fit_ntd(
    tensor,
    core,
    factors,
    problem,
    *,
    balance_how="sinkhorn",
    max_iter=500,
    tol=1e-6,
    verbose=0,
    name="SparseNTD",
    objective_name="objective",
):
    """Alternating multiplicative updates with balancing.

    With ``balance_how`` other than ``"none"`` the start is first rescaled
    by :func:`rescale_init`; each outer iteration updates every factor in
    turn, then the core, then balances. The objective never increases.

    Returns
    -------
    core : ndarray
    factors : list of ndarray
    monitor : ConvergenceMonitor
    """
    factors = [np.maximum(np.asarray(f, dtype=float), EPSILON) for f in factors]
    core = np.maximum(np.asarray(core, dtype=float), EPSILON)
    if balance_how != "none":
        core, factors = rescale_init(tensor, core, factors, problem)
        core, factors = balance(core, factors, problem, balance_how)
    monitor = ConvergenceMonitor(
        tol, max_iter, verbose, name=name, objective_name=objective_name
    )
    kl = problem.beta == 1
    model = tucker_to_tensor(core, factors) if kl else None
    monitor.start(objective(tensor, core, factors, problem, model=model))
    data_sq_norm = float(np.vdot(tensor, tensor))
    reuse = None
    for _ in range(max_iter):
        if kl:
            core, factors, model = _kl_iteration(tensor, core, factors, problem, model)
            fit = divergence(tensor, model, 1)
        else:
            core, factors, fit, reuse = _frobenius_iteration(
                tensor, core, factors, problem, data_sq_norm, reuse
            )
        core, factors = balance(core, factors, problem, balance_how)
        if monitor.update(fit + penalty(core, factors, problem)):
            break
    return core, factors, monitor


def _kl_iteration(tensor, core, factors, problem, model):
    """Every factor, then the core, by one multiplicative update each.

    Returns the blocks and their Tucker model.
    """
    factors = list(factors)
    for mode in range(len(factors)):
        factors[mode] = update_factor(tensor, core, factors, mode, problem, model=model)
        model = tucker_to_tensor(core, factors)
    core = update_core(tensor, core, factors, problem, model=model)
    return core, factors, tucker_to_tensor(core, factors)


def _frobenius_iteration(tensor, core, factors, problem, data_sq_norm, reuse):
    r"""Every factor, then the core, by HALS; the fit term of the result.

    Each factor update needs the projection of the data on the other
    factors (:func:`~._ntd_hals.project_others`, whose first product with
    the data may serve the next update: ``reuse``); the last one, times the
    new last factor, is :math:`T \times_k A_k^\top`, the core's numerator
    and, with the new core, the fit. The Gram matrices are updated with the
    factors.

    Returns
    -------
    core, factors, fit, reuse
    """
    factors = list(factors)
    grams = [f.T @ f for f in factors]
    for mode in range(len(factors)):
        projected, reuse = project_others(tensor, factors, mode, reuse)
        factors[mode] = hals_update_factor(
            tensor, core, factors, mode, problem, projected, grams
        )
        grams[mode] = factors[mode].T @ factors[mode]
    last = len(factors) - 1
    projection = mode_dot(projected, factors[last].T, last)
    if core.size <= CORE_MAX_SIZE:
        # the Kronecker matrix of the core update also gives the model's norm
        kron = gram_kronecker(grams)
        core = hals_update_core(tensor, core, factors, problem, projection, kron)
        entries = core.reshape(-1)
        model_sq_norm = float(entries @ (kron @ entries))
    else:
        core = update_core(
            tensor, core, factors, problem, projection=projection, grams=grams
        )
        model_sq_norm = float(np.vdot(multi_mode_dot(core, grams), core))
    inner = float(np.vdot(projection, core))
    return core, factors, _frobenius_fit(data_sq_norm, inner, model_sq_norm), reuse


def _frobenius_fit(data_sq_norm, inner, model_sq_norm):
    r""":math:`\frac12\|T - M\|^2` from :math:`\|T\|^2`,
    :math:`\langle T, M\rangle` and :math:`\|M\|^2` (clipped at 0)."""
    return max(0.5 * (data_sq_norm - 2.0 * inner + model_sq_norm), 0)


def sample_factor(tensor, core, factors, problem, start=None):
    r"""Exact sample-mode factor :math:`A_0` with the core and other factors fixed.

    Solves :math:`\min_{A_0 \ge \epsilon} D_\beta(T_{(0)} \mid A_0 B_0) +
    \mu_0 g_0(A_0)`, :math:`B_0 = G_{(0)} (\bigotimes_{k \ge 1} A_k)^T`,
    row by row by projected Newton
    (:func:`skfactor.decomposition._newton.solve_activations`), from
    ``start`` or, when ``None``, from a constant start rescaled per row and
    refined by a few multiplicative updates. ``factors[0]`` is not used.

    Returns
    -------
    A0 : ndarray of shape (n_samples, r_0)
    """
    n_samples = tensor.shape[0]
    data = tensor.reshape(n_samples, -1)
    components = unfold(multi_mode_dot(core, factors, skip=0), 0)
    components = np.maximum(components, _TINY)
    weight, pen = problem.weights[1], problem.penalties[1]
    if start is None:
        start = _constant_start(data, components, problem.beta)
        for _ in range(_WARM_START):
            start = _sample_step(data, start, components, weight, pen, problem.beta)
    W, _ = solve_activations(
        data,
        components,
        start,
        beta=problem.beta,
        alpha=weight,
        penalty=pen,
        max_iter=NEWTON_MAX_ITER,
    )
    return W


def _constant_start(data, components, beta):
    """Rows of equal entries, each scaled to fit its sample best (no penalty)."""
    totals = components.sum(axis=0)
    rank = components.shape[0]
    if beta == 1:
        level = data.sum(axis=1) / max(float(totals.sum()), _TINY)
    else:
        level = (data @ totals) / max(float(totals @ totals), _TINY)
    return np.maximum(level, EPSILON)[:, None] * np.ones((1, rank))


def _sample_step(data, W, components, weight, pen, beta):
    """One multiplicative update of the sample-mode factor (rows independent)."""
    if beta == 1:
        ratio = data / np.maximum(W @ components, _TINY)
        numerator = ratio @ components.T
        denominator = components.sum(axis=1)[None, :]
    else:
        numerator = data @ components.T
        denominator = W @ (components @ components.T)
    return _step(W, numerator, denominator, weight, pen, beta)
