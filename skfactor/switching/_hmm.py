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

import math

import numpy as np
from numba import njit

from ..utils._arrays import copy_vector
from ..utils._monitor import NonFiniteObjectiveError

__all__ = ["forward_backward", "stationary_distribution"]


@njit(cache=True)
def _forward_backward(log_emissions, transition, initial):  # pragma: no cover
    # One pass forward (shift, exponentiate, filter), one backward (beta,
    # marginals, expected transitions); returns log_lik = nan when a scale
    # c_t is not positive and finite.
    m, K = log_emissions.shape
    emissions = np.empty((m, K))
    alpha = np.empty((m, K))
    gamma = np.empty((m, K))
    scale = np.empty(m)
    xi = np.zeros((K, K))
    beta = np.ones(K)
    weighted = np.empty(K)
    log_lik = 0.0
    for t in range(m):
        shift = log_emissions[t, 0]
        for k in range(1, K):
            shift = max(shift, log_emissions[t, k])
        total = 0.0
        for k in range(K):
            emissions[t, k] = math.exp(log_emissions[t, k] - shift)
            if t == 0:
                s = initial[k]
            else:
                s = 0.0
                for j in range(K):
                    s += alpha[t - 1, j] * transition[j, k]
            alpha[t, k] = s * emissions[t, k]
            total += alpha[t, k]
        if not (total > 0.0 and total < math.inf):
            return gamma, math.nan, xi
        scale[t] = total
        log_lik += math.log(total) + shift
        for k in range(K):
            alpha[t, k] /= total
    copy_vector(alpha[m - 1], gamma[m - 1])
    for t in range(m - 2, -1, -1):
        for k in range(K):
            weighted[k] = emissions[t + 1, k] * beta[k] / scale[t + 1]
        total = 0.0
        for j in range(K):
            s = 0.0
            for k in range(K):
                s += transition[j, k] * weighted[k]
                xi[j, k] += alpha[t, j] * transition[j, k] * weighted[k]
            beta[j] = s
            gamma[t, j] = alpha[t, j] * s
            total += gamma[t, j]
        for j in range(K):
            gamma[t, j] /= total
    return gamma, log_lik, xi


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
    gamma, log_likelihood, xi = _forward_backward(
        np.ascontiguousarray(log_emissions, dtype=np.float64),
        np.ascontiguousarray(transition, dtype=np.float64),
        np.ascontiguousarray(initial, dtype=np.float64),
    )
    if not np.isfinite(log_likelihood):
        raise NonFiniteObjectiveError(
            "forward_backward: the observations have probability zero or a "
            "non-finite likelihood under the model (an impossible transition, "
            "or emissions out of float64 range: rescale the data)."
        )
    if not transitions:
        return gamma, log_likelihood
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
