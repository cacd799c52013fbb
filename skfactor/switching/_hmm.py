r"""Scaled forward-backward recursions of a hidden Markov model.

With emission likelihoods :math:`b_t(k) = p(y_t \mid x_t, s_t = k)`, a
transition matrix :math:`P_{ij} = p(s_t = j \mid s_{t-1} = i)` and an
initial distribution :math:`\pi`, the posterior marginals and pairwise
marginals

.. math::

    \gamma_{tk} = p(s_t = k \mid y_{1:m}) =
        \frac{\alpha_t(k)\, \beta_t(k)}{\sum_j \alpha_t(j)\, \beta_t(j)},
    \qquad
    \xi_t(i, j) = p(s_{t-1} = i, s_t = j \mid y_{1:m}) =
        \frac{\alpha_{t-1}(i) P_{ij} b_t(j) \beta_t(j)}{c_t},

follow from the forward-backward recursions (Rabiner, 1989)

.. math::

    \alpha_t(k) = \frac{b_t(k)}{c_t} \sum_j \alpha_{t-1}(j) P_{jk}, \qquad
    \beta_t(j) = \frac{1}{c_{t+1}} \sum_k P_{jk}\, b_{t+1}(k)\, \beta_{t+1}(k),

normalized at each step by :math:`c_t` (scaled recursions), so that the
log-likelihood is :math:`\log p(y_{1:m}) = \sum_t \log c_t`; :math:`O(m
K^2)` time. These are the F-step of the Markov latent model
(:mod:`._em`).
"""

import numpy as np
from numba import njit

from ..utils._monitor import NonFiniteObjectiveError

__all__ = ["forward_backward", "stationary_distribution"]


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
    return alpha * beta, scale, alpha, beta


@njit(cache=True)
def _transition_sums(emissions, transition, alpha, beta, scale):  # pragma: no cover
    m, K = emissions.shape
    xi = np.zeros((K, K))
    for t in range(1, m):
        for j in range(K):
            b = emissions[t, j] * beta[t, j] / scale[t]
            for i in range(K):
                xi[i, j] += alpha[t - 1, i] * transition[i, j] * b
    return xi


def forward_backward(log_emissions, transition, initial, transitions=False):
    r"""Posterior marginals of a hidden Markov model and its log-likelihood.

    Parameters
    ----------
    log_emissions : ndarray of shape (n_samples, n_states)
        :math:`\log b_t(k)`, up to an additive constant per sample (each row
        is shifted by its maximum before exponentiating, and the shift is
        added back to the log-likelihood).
    transition : ndarray of shape (n_states, n_states)
        Row-stochastic transition matrix :math:`P`.
    initial : ndarray of shape (n_states,)
        Distribution :math:`\pi` of the first state.
    transitions : bool, default=False
        Also return the expected transition counts :math:`\sum_{t>1}
        \xi_t(i, j)`.

    Returns
    -------
    marginals : ndarray of shape (n_samples, n_states)
        :math:`\gamma_{tk}`, rows on the probability simplex.
    log_likelihood : float
        :math:`\log \sum_{s} \pi_{s_1} b_1(s_1) \prod_{t>1} P_{s_{t-1} s_t}
        b_t(s_t)`.
    expected_transitions : ndarray of shape (n_states, n_states)
        Only with ``transitions=True``: :math:`\sum_{t=2}^m p(s_{t-1} = i,
        s_t = j \mid y_{1:m})` at ``[i, j]``.

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
    emissions = np.ascontiguousarray(np.exp(log_emissions - shift))
    transition = np.ascontiguousarray(transition, dtype=np.float64)
    gamma, scale, alpha, beta = _forward_backward(
        emissions, transition, np.ascontiguousarray(initial, dtype=np.float64)
    )
    if not np.all(scale > 0):
        raise NonFiniteObjectiveError(
            "forward_backward: the observations have probability zero or a "
            "non-finite likelihood under the model (an impossible transition, "
            "or emissions out of float64 range: rescale the data)."
        )
    gamma /= gamma.sum(axis=1, keepdims=True)
    log_likelihood = float(np.log(scale).sum() + shift.sum())
    if not transitions:
        return gamma, log_likelihood
    xi = _transition_sums(emissions, transition, alpha, beta, scale)
    return gamma, log_likelihood, xi


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
