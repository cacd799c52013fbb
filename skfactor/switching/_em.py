r"""EM for the Markov latent model, as block coordinate descent on the free energy.

With ``latent="markov"`` the regimes :math:`s_t` form a Markov chain with
transition matrix :math:`P_{ij} = p(s_t = j \mid s_{t-1} = i)` and initial
distribution :math:`\pi`, and each regime emits :math:`y_t` given
:math:`x_t` through a likelihood :math:`p_k(y_t \mid x_t)` whose negative
logarithm is the per-sample loss :math:`\ell_{tk}` of the regime, up to a
scale :math:`\tau_k`:

- ``"squared"``: Gaussian noise of variance :math:`\sigma_k^2`,
  :math:`-\log p_k = \ell_{tk} / (2\sigma_k^2) + \tfrac{q}{2}
  \log(2\pi\sigma_k^2)` (``q`` outputs);
- ``"absolute"``: Laplace noise of scale :math:`b_k`, :math:`-\log p_k =
  \ell_{tk} / b_k + q \log(2 b_k)`;
- ``"logistic"``, ``"multinomial"``: the loss is the negative
  log-likelihood (a GLM-HMM, or input-output HMM).

The fit minimizes the penalized negative log-likelihood

.. math::

    J(\theta, \sigma, P, \pi) = -\log p(y_{1:m} \mid x_{1:m})
        + \alpha \sum_k P(\beta_k) - c \sum_{ij} \log P_{ij}

(:math:`c` the pseudo-count of a symmetric Dirichlet prior on the rows of
:math:`P`, ``transition_prior``). EM is block coordinate descent on the free
energy :math:`F(q, \theta) = \mathbb{E}_q[-\log p(y, s)] - H(q) + \ldots`,
whose minimum over the distribution :math:`q` of the state path is
:math:`J` (Neal and Hinton, 1998):

- F-step: :math:`q` is the exact posterior, by scaled forward-backward
  (:mod:`._hmm`), giving the marginals :math:`\gamma_{tk}` and the expected
  transitions :math:`\xi_{ij} = \sum_t p(s_{t-1} = i, s_t = j \mid y)`;
- P-step: each regime's weighted convex problem with weights
  :math:`\gamma_{tk} / \tau_k` (:mod:`._pstep`: closed form for the
  squared loss, Newton's method or L-BFGS, or the cvxpy problem built
  once), then the scale in closed form,
  :math:`\sigma_k^2 = \sum_t \gamma_{tk} \ell_{tk} / (q \sum_t \gamma_{tk})`
  (pooled over regimes when not switching), and
  :math:`P_{ij} \propto \xi_{ij} + c`, :math:`\pi = \gamma_1`.

Each block is minimized exactly, so :math:`J` never increases
(``tests/test_switching_em.py``).
"""

import math
from dataclasses import dataclass

import numpy as np

from ..utils._linalg import column_sums
from ..utils._monitor import ConvergenceMonitor
from ._bcd import (
    EMPTY_WEIGHT,
    BCDResult,
    empty_regime_warnings,
    one_hot,
    run_bcd,
    transition_counts,
)
from ._hmm import forward_backward
from ._pstep import penalty_term

# Losses that are negative log-likelihoods, up to a scale (Gaussian, Laplace)
# or exactly (Bernoulli, categorical).
EMISSION_LOSSES = ("squared", "absolute", "logistic", "multinomial")
# Iterations of hard-assignment BCD refining the initial regression regimes.
INIT_ITER = 10
# Floor of the transition and initial probabilities (keeps every path
# possible, so that forward-backward never divides by zero).
_PROB_FLOOR = 1e-12


@dataclass
class Emission:
    """How the per-sample losses become log-likelihoods.

    ``loss`` is one of ``EMISSION_LOSSES``, ``n_outputs`` the number of
    target columns, ``switching`` whether each regime has its own scale and
    ``floor`` the smallest scale allowed (the likelihood is unbounded when
    a regime fits a few samples exactly).
    """

    loss: str
    n_outputs: int = 1
    switching: bool = True
    floor: float = 0.0

    @property
    def has_scale(self):
        return self.loss in ("squared", "absolute")

    def tau(self, scales):
        """Divisor :math:`\\tau_k` of the loss: :math:`2\\sigma_k^2`, :math:`b_k`, 1."""
        if self.loss == "squared":
            return 2.0 * scales
        if self.loss == "absolute":
            return scales
        return np.ones_like(scales)

    def log_likelihood(self, R, scales):
        """:math:`\\log p_k(y_t \\mid x_t)`, shape (n_samples, K)."""
        q = self.n_outputs
        if self.loss == "squared":
            return -R / (2.0 * scales) - 0.5 * q * np.log(2.0 * math.pi * scales)
        if self.loss == "absolute":
            return -R / scales - q * np.log(2.0 * scales)
        return -R

    def update_scales(self, R, gamma, previous):
        """Closed-form scales given the losses and the posterior marginals.

        Regimes with less than ``EMPTY_WEIGHT`` samples of weight keep their
        scale (when switching).
        """
        if not self.has_scale:
            return np.ones(R.shape[1])
        q = self.n_outputs
        if not self.switching:
            value = float(np.sum(gamma * R)) / (q * R.shape[0])
            return np.full(R.shape[1], max(value, self.floor))
        weight = column_sums(gamma)
        scales = previous.copy()
        full = weight >= EMPTY_WEIGHT
        scales[full] = column_sums(gamma * R)[full] / (q * weight[full])
        return np.maximum(scales, self.floor)


def update_transition(xi, prior, previous):
    """Transition matrix maximizing :math:`\\sum_{ij} (\\xi_{ij} + c) \\log P_{ij}`.

    A row with no expected transitions (and no prior) keeps its previous
    value.

    Examples
    --------
    >>> import numpy as np
    >>> update_transition(np.array([[3.0, 1.0], [0.0, 0.0]]), None, np.eye(2))
    array([[0.75, 0.25],
           [0.  , 1.  ]])
    """
    counts = xi + (0.0 if prior is None else prior)
    totals = counts.sum(axis=1, keepdims=True)
    P = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), previous)
    return P


def _floored(p):
    p = np.maximum(p, _PROB_FLOOR)
    return p / p.sum(axis=-1, keepdims=True)


def em_objective(log_likelihood, coefs, penalty, alpha, transition, prior):
    """:math:`J`: negative log-likelihood plus penalties and the log prior."""
    value = -log_likelihood + sum(penalty_term(penalty, alpha, c) for c in coefs)
    if prior is not None:
        value -= prior * float(np.sum(np.log(transition)))
    return value


@dataclass
class EMResult(BCDResult):
    """Outcome of one EM run: a BCD result plus the Markov chain and scales."""

    transition: np.ndarray = None
    startprob: np.ndarray = None
    scales: np.ndarray = None
    log_likelihood: float = -np.inf


def random_segments(n_samples, n_regimes, random_state, segments_per_regime=4):
    """Initial assignments of the Markov model: random contiguous segments.

    The series is cut at random points into ``segments_per_regime *
    n_regimes`` segments (fewer for a short series), each given to a random
    regime, every regime at least one. On sticky data each segment is
    mostly one regime, so the initial regimes already differ; a random
    partition of the samples gives near-identical regimes that EM separates
    slowly, and hard assignments (the ``"independent"`` model) let
    classifiers specialize on the labels, a poor local optimum of the
    likelihood.

    Examples
    --------
    >>> import numpy as np
    >>> Z = random_segments(10, 2, np.random.RandomState(0))
    >>> Z.shape, bool(np.all(Z.sum(axis=0) > 0))
    ((10, 2), True)
    """
    n_segments = min(segments_per_regime * n_regimes, n_samples)  # K <= n_samples
    cuts = np.sort(random_state.choice(np.arange(1, n_samples), n_segments - 1, False))
    lengths = np.diff(np.concatenate([[0], cuts, [n_samples]]))
    owners = random_state.randint(n_regimes, size=n_segments)
    first = random_state.permutation(n_segments)[:n_regimes]
    owners[first] = np.arange(first.size)
    return one_hot(np.repeat(owners, lengths), n_regimes)


def _initial_parameters(X, Y, regime_loss, pstep, Z0, emission, penalty, alpha):
    """Regimes fitted to the initial assignments ``Z0``.

    Regression regimes are refined by a few iterations of hard-assignment
    BCD (the ``"independent"`` model), which separates regression lines in
    a few cheap iterations; classifiers are fitted to ``Z0`` once, since
    hard assignments let them specialize on the labels, a poor start.
    """
    if emission.has_scale:
        start = run_bcd(
            X,
            Y,
            regime_loss,
            pstep,
            Z0,
            smoothing=0.0,
            penalty=penalty,
            alpha=alpha,
            max_iter=INIT_ITER,
            tol=1e-3,
        )
        return start.coefs, start.intercepts, start.Z
    K = Z0.shape[1]
    coefs = [np.zeros(regime_loss.coef_shape) for _ in range(K)]
    intercepts = [np.zeros(regime_loss.intercept_shape) for _ in range(K)]
    pstep.solve(Z0, coefs, intercepts, column_sums(Z0) > 0)
    return coefs, intercepts, Z0


def run_em(
    X,
    Y,
    regime_loss,
    pstep,
    Z0=None,
    *,
    emission,
    transition_prior,
    penalty,
    alpha,
    max_iter,
    tol,
    verbose=0,
    name="EM",
    coefs0=None,
    intercepts0=None,
    chain0=None,
):
    """One EM run from initial assignments ``Z0`` or from parameters.

    Parameters
    ----------
    X, Y : ndarray
        Training data in time order, ``Y`` in the encoding of the loss.
    regime_loss : RegimeLoss
    pstep : object with ``solve(W, coefs, intercepts, active)``
    Z0 : ndarray of shape (n_samples, n_regimes), default=None
        Initial assignments (e.g. :func:`random_segments`); regression
        regimes are refined by hard-assignment BCD first.
    emission : Emission
    transition_prior : float or None
        Pseudo-count :math:`c > 0` added to every expected transition count.
    penalty, alpha : see the estimators.
    max_iter, tol, verbose, name : stopping rule and progress output; with
        ``verbose``, the log-likelihood is printed about ten times per run.
    coefs0, intercepts0, chain0 : default=None
        Warm start: parameters and ``(transition, startprob, scales)``.

    Returns
    -------
    EMResult
        ``objective`` is the history of :math:`J` (nonincreasing).
    """
    messages = []
    if Z0 is None:
        coefs = [np.array(c, dtype=float) for c in coefs0]
        intercepts = [np.array(b, dtype=float) for b in intercepts0]
        transition, startprob, scales = (np.array(a, dtype=float) for a in chain0)
        K = len(coefs)
    else:
        coefs, intercepts, Z = _initial_parameters(
            X, Y, regime_loss, pstep, Z0, emission, penalty, alpha
        )
        K = Z.shape[1]
        labels = np.argmax(Z, axis=1)
        transition = _floored(transition_counts(labels, K) + 1.0)
        startprob = np.full(K, 1.0 / K)
        R = regime_loss.loss_matrix(X, Y, coefs, intercepts)
        scales = emission.update_scales(R, Z, np.ones(K))
        if emission.has_scale and not np.all(scales > emission.floor):
            # A regime fitted its samples exactly: start it at the pooled scale.
            pooled = float(np.sum(Z * R)) / (emission.n_outputs * R.shape[0])
            scales = np.maximum(scales, max(pooled, emission.floor))
    monitor = ConvergenceMonitor(tol, max_iter, 0, name=name)
    every = max(1, max_iter // 10)
    R = regime_loss.loss_matrix(X, Y, coefs, intercepts)
    for iteration in range(max_iter + 1):
        log_b = emission.log_likelihood(R, scales)
        gamma, llf, xi = forward_backward(log_b, transition, startprob, True)
        f = em_objective(llf, coefs, penalty, alpha, transition, transition_prior)
        if iteration == 0:
            monitor.start(f)
            stop = False
        else:
            stop = monitor.update(f)
        if verbose and (stop or iteration % every == 0):
            print(f"[{name}] iteration {iteration:4d}: log-likelihood {llf:.8e}")
        if stop:
            break
        # P-step: regimes, then scales, then the chain.
        weights = gamma / emission.tau(scales)
        active = column_sums(gamma) >= EMPTY_WEIGHT
        pstep.solve(weights, coefs, intercepts, active)
        R = regime_loss.loss_matrix(X, Y, coefs, intercepts)
        scales = emission.update_scales(R, gamma, scales)
        transition = _floored(update_transition(xi, transition_prior, transition))
        startprob = _floored(gamma[0])
    messages.extend(getattr(pstep, "messages", ()))
    messages.extend(empty_regime_warnings(name, gamma, "posterior"))
    return EMResult(
        coefs=coefs,
        intercepts=intercepts,
        Z=gamma,
        objective=list(monitor.history),
        n_iter=monitor.n_iter,
        converged=monitor.converged,
        warnings=messages,
        monitor=monitor,
        transition=transition,
        startprob=startprob,
        scales=scales,
        log_likelihood=llf,
    )
