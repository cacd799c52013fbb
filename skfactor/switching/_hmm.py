r"""Hidden Markov model read-out of fitted regimes (``decoding="hmm"``).

The seed's F-step couples the latent factors of consecutive samples by a KL
penalty; it is not the posterior of any probabilistic model. Given fitted
regimes, the per-sample losses :math:`\ell_{tk}` define emission
likelihoods :math:`p(y_t \mid x_t, k) \propto \exp(-\ell_{tk} / \tau)` when
the loss is a negative log-likelihood up to the scale :math:`\tau`
(:func:`emission_scale`), and with a transition matrix :math:`P` and an
initial distribution :math:`\pi` the exact posterior marginals

.. math::

    \gamma_{tk} = p(s_t = k \mid y_{1:m}) =
        \frac{\alpha_t(k)\, \beta_t(k)}{\sum_j \alpha_t(j)\, \beta_t(j)}

follow from the forward-backward recursions (Rabiner, 1989)

.. math::

    \alpha_t(k) \propto b_t(k) \sum_j \alpha_{t-1}(j) P_{jk}, \qquad
    \beta_t(j) \propto \sum_k P_{jk}\, b_{t+1}(k)\, \beta_{t+1}(k),

with :math:`b_t(k) = \exp(-\ell_{tk} / \tau)`, each step normalized
(scaled recursions), in :math:`O(m K^2)` time. The posterior marginals
maximize the expected number of correctly labelled samples given the
parameters, which is what statsmodels' ``MarkovRegression`` reports.
"""

import numpy as np
from numba import njit

from ._bcd import transition_counts

__all__ = [
    "emission_scale",
    "forward_backward",
    "hmm_transition_matrix",
    "stationary_distribution",
]

# Losses that are negative log-likelihoods up to a scale (Gaussian, Laplace)
# or exactly (Bernoulli, categorical).
HMM_LOSSES = ("squared", "absolute", "logistic", "multinomial")


@njit(cache=True)
def _forward_backward(emissions, transition, initial):  # pragma: no cover - numba
    m, K = emissions.shape
    alpha = np.empty((m, K))
    beta = np.empty((m, K))
    scale = np.empty(m)
    total = 0.0
    for k in range(K):
        alpha[0, k] = initial[k] * emissions[0, k]
        total += alpha[0, k]
    scale[0] = total
    for k in range(K):
        alpha[0, k] /= total
    for t in range(1, m):
        total = 0.0
        for k in range(K):
            s = 0.0
            for j in range(K):
                s += alpha[t - 1, j] * transition[j, k]
            alpha[t, k] = s * emissions[t, k]
            total += alpha[t, k]
        scale[t] = total
        for k in range(K):
            alpha[t, k] /= total
    for k in range(K):
        beta[m - 1, k] = 1.0
    for t in range(m - 2, -1, -1):
        for j in range(K):
            s = 0.0
            for k in range(K):
                s += transition[j, k] * emissions[t + 1, k] * beta[t + 1, k]
            beta[t, j] = s / scale[t + 1]
    return alpha * beta, scale


def forward_backward(log_emissions, transition, initial):
    r"""Posterior marginals of a hidden Markov model and its log-likelihood.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_states)
        :math:`\log b_t(k)`, up to an additive constant per sample (each row
        is shifted by its maximum before exponentiating, and the shift is
        added back to the log-likelihood).
    transition : ndarray of shape (n_states, n_states)
        Row-stochastic transition matrix :math:`P` with positive entries.
    initial : ndarray of shape (n_states,)
        Distribution :math:`\pi` of the first state, positive entries.

    Returns
    -------
    marginals : ndarray of shape (n_samples, n_states)
        :math:`\gamma_{tk}`, rows on the probability simplex.
    log_likelihood : float
        :math:`\log \sum_{s} \pi_{s_1} b_1(s_1) \prod_{t>1} P_{s_{t-1} s_t}
        b_t(s_t)`.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.switching._hmm import forward_backward
    >>> P = np.array([[0.9, 0.1], [0.1, 0.9]])
    >>> log_b = np.log([[0.9, 0.1], [0.5, 0.5], [0.9, 0.1]])
    >>> gamma, _ = forward_backward(log_b, P, np.array([0.5, 0.5]))
    >>> gamma.argmax(axis=1)
    array([0, 0, 0])
    """
    log_emissions = np.asarray(log_emissions, dtype=np.float64)
    shift = log_emissions.max(axis=1, keepdims=True)
    emissions = np.exp(log_emissions - shift)
    gamma, scale = _forward_backward(
        np.ascontiguousarray(emissions),
        np.ascontiguousarray(transition, dtype=np.float64),
        np.ascontiguousarray(initial, dtype=np.float64),
    )
    gamma /= gamma.sum(axis=1, keepdims=True)
    return gamma, float(np.log(scale).sum() + shift.sum())


def emission_scale(loss, loss_matrix, weights, n_outputs=1):
    r"""Scale :math:`\tau` making :math:`\ell / \tau` a negative log-likelihood.

    - ``"squared"``: Gaussian noise, :math:`\ell = \|u\|^2 = 2\sigma^2
      \times` NLL up to a constant, so :math:`\tau = 2\hat\sigma^2` with
      :math:`\hat\sigma^2 = \sum_{tk} w_{tk} \ell_{tk} / (m q)` (``q``
      outputs), the maximum-likelihood variance given the weights;
    - ``"absolute"``: Laplace noise, :math:`\tau = \hat b = \sum_{tk} w_{tk}
      \ell_{tk} / (m q)`;
    - ``"logistic"``, ``"multinomial"``: the loss is the NLL, :math:`\tau =
      1`.

    Parameters
    ----------
    loss : str
        One of ``HMM_LOSSES``.
    loss_matrix : ndarray of shape (n_samples, n_regimes)
    weights : ndarray of shape (n_samples, n_regimes)
        Regime weights of the samples (rows on the simplex).
    n_outputs : int, default=1

    Returns
    -------
    float
        Positive, and at least ``eps * max(loss_matrix)`` so that the
        scaled losses stay finite for a (near-)perfect fit.

    Examples
    --------
    >>> import numpy as np
    >>> emission_scale("squared", np.array([[1.0, 9.0]]), np.array([[1.0, 0.0]]))
    2.0
    """
    if loss in ("logistic", "multinomial"):
        return 1.0
    mean = float(np.sum(weights * loss_matrix)) / (loss_matrix.shape[0] * n_outputs)
    tau = 2.0 * mean if loss == "squared" else mean
    # a (near-)perfect fit: floored so that loss / tau stays finite
    floor = np.finfo(float).eps * float(np.max(loss_matrix, initial=0.0))
    return max(tau, floor, np.finfo(float).tiny)


def hmm_transition_matrix(labels, n_regimes, prior_count=1.0):
    """Transition matrix of a label sequence with ``prior_count`` added per cell.

    The added count (a symmetric Dirichlet prior) keeps every transition
    possible, so that the hidden Markov model can still explain a switch the
    training labels never showed.

    Examples
    --------
    >>> import numpy as np
    >>> hmm_transition_matrix(np.array([0, 0, 0, 1]), 2, prior_count=1.0)
    array([[0.6, 0.4],
           [0.5, 0.5]])
    """
    counts = transition_counts(labels, n_regimes) + prior_count
    return counts / counts.sum(axis=1, keepdims=True)


def stationary_distribution(transition):
    r"""Distribution :math:`\pi = \pi P` of a chain with positive transitions.

    The first state of the hidden Markov model is drawn from it, as in
    statsmodels' ``MarkovRegression``. It is the left eigenvector of
    eigenvalue 1, computed as the solution of :math:`(P^\top - I)\pi = 0`,
    :math:`\mathbf 1^\top \pi = 1` by least squares.

    Examples
    --------
    >>> import numpy as np
    >>> stationary_distribution(np.array([[0.9, 0.1], [0.2, 0.8]])).round(6)
    array([0.666667, 0.333333])
    """
    K = transition.shape[0]
    system = np.vstack([transition.T - np.eye(K), np.ones((1, K))])
    rhs = np.zeros(K + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    pi = np.maximum(pi, np.finfo(float).tiny)
    return pi / pi.sum()
