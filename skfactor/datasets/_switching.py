"""Synthetic data of switching (discrete latent factor) models, with the truth.

Every generator returns the data, the true regime of every sample and the
true regime parameters, so that :class:`~skfactor.SwitchingRegression` and
:class:`~skfactor.SwitchingClassifier` can be scored against what generated
the data (see :mod:`skfactor.metrics`).
"""

from numbers import Integral, Real

import numpy as np
from scipy.special import expit, softmax
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = [
    "make_forgetting_bandit",
    "make_switching_classification",
    "make_switching_regression",
]


def _transition(transition_matrix, n_regimes):
    """Transition matrix from None, a stickiness in (0, 1) or an array."""
    if transition_matrix is None:
        return None
    if np.ndim(transition_matrix) == 0:
        stay = float(transition_matrix)
        if not 0 <= stay <= 1:
            raise ValueError(
                f"A scalar transition_matrix must lie in [0, 1]; got {stay}."
            )
        if n_regimes == 1:
            return np.ones((1, 1))
        T = np.full((n_regimes, n_regimes), (1 - stay) / (n_regimes - 1))
        np.fill_diagonal(T, stay)
        return T
    T = np.asarray(transition_matrix, dtype=float)
    if T.shape != (n_regimes, n_regimes):
        raise ValueError(
            f"transition_matrix must have shape ({n_regimes}, {n_regimes}); "
            f"got {T.shape}."
        )
    if np.any(T < 0) or not np.allclose(T.sum(axis=1), 1):
        raise ValueError(
            "transition_matrix must be nonnegative with rows summing to 1."
        )
    return T


def _distribution(weights, n_regimes):
    if weights is None:
        return np.full(n_regimes, 1.0 / n_regimes)
    weights = np.asarray(weights, dtype=float)
    valid = weights.shape == (n_regimes,) and np.all(weights >= 0)
    if not (valid and np.isclose(weights.sum(), 1)):
        raise ValueError(
            f"weights must be {n_regimes} nonnegative numbers summing to 1; "
            f"got {weights}."
        )
    return weights


def sample_regimes(
    n_samples, n_regimes, transition_matrix=None, weights=None, random_state=None
):
    """Regime sequence: i.i.d. from ``weights`` or a Markov chain.

    Parameters
    ----------
    n_samples, n_regimes : int
    transition_matrix : None, float or array-like of shape (n_regimes, n_regimes)
        None for i.i.d. regimes; a float ``p`` for a sticky chain (stay with
        probability ``p``, switch uniformly otherwise); or a full matrix.
    weights : array-like of shape (n_regimes,), default=None
        Distribution of the regimes (i.i.d.) or of the first regime (Markov
        chain); uniform by default.
    random_state : int, RandomState instance or None

    Returns
    -------
    regimes : ndarray of shape (n_samples,) of int
    """
    rng = check_random_state(random_state)
    T = _transition(transition_matrix, n_regimes)
    p = _distribution(weights, n_regimes)
    if T is None:
        return rng.choice(n_regimes, size=n_samples, p=p)
    regimes = np.empty(n_samples, dtype=np.intp)
    state = rng.choice(n_regimes, p=p)
    cumulative = np.cumsum(T, axis=1)
    for t, u in enumerate(rng.uniform(size=n_samples)):
        regimes[t] = state
        state = int(np.searchsorted(cumulative[state], u, side="right"))
        state = min(state, n_regimes - 1)
    return regimes


_COMMON = {
    "n_samples": [Interval(Integral, 1, None, closed="left")],
    "n_features": [Interval(Integral, 1, None, closed="left")],
    "n_regimes": [Interval(Integral, 1, None, closed="left")],
    "transition_matrix": [None, Interval(Real, 0, 1, closed="both"), "array-like"],
    "weights": [None, "array-like"],
    "coef": [None, "array-like"],
    "intercept": [None, "array-like"],
    "random_state": ["random_state"],
}


def _coef_array(coef, shape, rng, scale):
    if coef is None:
        return scale * rng.standard_normal(shape)
    coef = np.asarray(coef, dtype=float)
    if coef.shape != shape:
        raise ValueError(f"coef must have shape {shape}; got {coef.shape}.")
    return coef


def _intercept_array(intercept, shape):
    if intercept is None:
        return np.zeros(shape)
    intercept = np.asarray(intercept, dtype=float)
    if intercept.shape != shape:
        raise ValueError(f"intercept must have shape {shape}; got {intercept.shape}.")
    return intercept


@validate_params(
    {
        **_COMMON,
        "n_targets": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "coef_scale": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def make_switching_regression(
    n_samples=500,
    n_features=10,
    n_regimes=3,
    *,
    n_targets=1,
    noise=1.5,
    transition_matrix=None,
    weights=None,
    coef=None,
    intercept=None,
    coef_scale=7.0,
    random_state=None,
):
    r"""Switching linear regression data with known regimes and coefficients.

    Features are standard normal, regime :math:`z_i` is drawn i.i.d. or from
    a Markov chain, and :math:`y_i = x_i^T \beta_{z_i} + b_{z_i} +
    \sigma \varepsilon_i` with standard normal :math:`\varepsilon_i`. The
    defaults are Zhu et al.'s mixture of three regressions (500 samples, 10
    features, noise 1.5). How well regimes can be told apart depends on the
    spread of the coefficients relative to the noise: even the true
    parameters assign a sample near the intersection of two regression
    hyperplanes to the wrong regime. With the default ``coef_scale=7`` the
    true parameters classify about 94% of the samples correctly, the
    accuracy reported by Zhu et al.'s notebook (0.936).

    Parameters
    ----------
    n_samples : int, default=500
    n_features : int, default=10
    n_regimes : int, default=3
    n_targets : int, default=1
        Number of outputs; ``y`` is 2-D when larger than one.
    noise : float, default=1.5
        Standard deviation :math:`\sigma` of the noise.
    transition_matrix : None, float or array-like, default=None
        None for i.i.d. regimes; a float ``p`` for a sticky Markov chain
        (stay with probability ``p``, otherwise switch uniformly to another
        regime); or a transition matrix of shape (n_regimes, n_regimes).
    weights : array-like of shape (n_regimes,), default=None
        Regime probabilities (i.i.d.) or initial distribution (Markov);
        uniform by default.
    coef : array-like of shape (n_regimes, n_features[, n_targets]), default=None
        True coefficients; normal with standard deviation ``coef_scale`` by
        default.
    intercept : array-like of shape (n_regimes[, n_targets]), default=None
        True intercepts; zero by default.
    coef_scale : float, default=7.0
        Standard deviation of the random coefficients (when ``coef`` is None).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
    regimes : ndarray of shape (n_samples,)
        True regime of every sample.
    coef : ndarray of shape (n_regimes, n_features[, n_targets])
        True coefficients.

    Examples
    --------
    >>> from skfactor.datasets import make_switching_regression
    >>> X, y, regimes, coef = make_switching_regression(random_state=0)
    >>> X.shape, y.shape, regimes.shape, coef.shape
    ((500, 10), (500,), (500,), (3, 10))
    """
    rng = check_random_state(random_state)
    tail = (n_targets,) if n_targets > 1 else ()
    coef = _coef_array(coef, (n_regimes, n_features, *tail), rng, coef_scale)
    intercept = _intercept_array(intercept, (n_regimes, *tail))
    regimes = sample_regimes(n_samples, n_regimes, transition_matrix, weights, rng)
    X = rng.standard_normal((n_samples, n_features))
    if n_targets > 1:
        y = np.einsum("ij,ijq->iq", X, coef[regimes]) + intercept[regimes]
    else:
        y = np.einsum("ij,ij->i", X, coef[regimes]) + intercept[regimes]
    y = y + noise * rng.standard_normal(y.shape)
    return X, y, regimes, coef


@validate_params(
    {
        **_COMMON,
        "n_classes": [Interval(Integral, 2, None, closed="left")],
        "feature_scale": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def make_switching_classification(
    n_samples=500,
    n_features=2,
    n_regimes=2,
    *,
    n_classes=2,
    transition_matrix=None,
    weights=None,
    coef=None,
    intercept=None,
    feature_scale=1.0,
    random_state=None,
):
    r"""Switching logistic (or softmax) classification data with the truth.

    Features are normal with standard deviation ``feature_scale``, regime
    :math:`z_i` is drawn i.i.d. or from a Markov chain, and the label follows
    the regime's logistic model :math:`P(y_i = 1) = \sigma(x_i^T
    \beta_{z_i} + b_{z_i})` (two classes) or softmax model
    :math:`P(y_i = c) \propto \exp(x_i^T B_{z_i, :, c} + b_{z_i, c})`. With a
    Markov chain this is an input-output hidden Markov model with logistic
    emissions, as in Zhu et al. (2025).

    Parameters
    ----------
    n_samples : int, default=500
    n_features : int, default=2
    n_regimes : int, default=2
    n_classes : int, default=2
    transition_matrix : None, float or array-like, default=None
        None for i.i.d. regimes; a float ``p`` for a sticky chain; or a
        transition matrix of shape (n_regimes, n_regimes).
    weights : array-like of shape (n_regimes,), default=None
        Regime probabilities (i.i.d.) or initial distribution (Markov).
    coef : array-like, default=None
        True coefficients, shape (n_regimes, n_features) for two classes and
        (n_regimes, n_features, n_classes) otherwise; normal with standard
        deviation 3 by default.
    intercept : array-like, default=None
        True intercepts, shape (n_regimes,) or (n_regimes, n_classes); zero
        by default.
    feature_scale : float, default=1.0
        Standard deviation of the features.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) of int
        Class labels ``0..n_classes-1``.
    regimes : ndarray of shape (n_samples,)
        True regime of every sample.
    coef : ndarray
        True coefficients.

    Examples
    --------
    >>> from skfactor.datasets import make_switching_classification
    >>> X, y, regimes, coef = make_switching_classification(
    ...     n_samples=100, n_regimes=3, transition_matrix=0.95, random_state=0)
    >>> X.shape, coef.shape, sorted(set(y.tolist()))
    ((100, 2), (3, 2), [0, 1])
    """
    rng = check_random_state(random_state)
    tail = (n_classes,) if n_classes > 2 else ()
    coef = _coef_array(coef, (n_regimes, n_features, *tail), rng, 3.0)
    intercept = _intercept_array(intercept, (n_regimes, *tail))
    regimes = sample_regimes(n_samples, n_regimes, transition_matrix, weights, rng)
    X = feature_scale * rng.standard_normal((n_samples, n_features))
    u = rng.uniform(size=n_samples)
    if n_classes == 2:
        p1 = expit(np.einsum("ij,ij->i", X, coef[regimes]) + intercept[regimes])
        y = (u < p1).astype(np.intp)
    else:
        U = np.einsum("ij,ijc->ic", X, coef[regimes]) + intercept[regimes]
        above = u[:, None] > np.cumsum(softmax(U, axis=1), axis=1)
        y = np.minimum(above.sum(axis=1), n_classes - 1)
    return X, y, regimes, coef


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "reward_probabilities": ["array-like"],
        "n_lags": [Interval(Integral, 1, None, closed="left")],
        "coef": [None, "array-like"],
        "switch_every": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_forgetting_bandit(
    n_samples=400,
    *,
    reward_probabilities=(0.1, 0.2, 0.7),
    n_lags=5,
    coef=None,
    switch_every=20,
    random_state=None,
):
    r"""Choices of a forgetting Q-learning agent switching between two strategies.

    Zhu et al.'s hierarchical forgetting Q-learning example: an agent plays a
    :math:`p`-armed bandit whose arm :math:`a` pays off with probability
    ``reward_probabilities[a]``. The reward signal :math:`u(t) \in \{0\} \cup
    \{e_1, \dots, e_p\}` is :math:`e_a` when the action :math:`a` taken at
    :math:`t - 1` was rewarded. At time :math:`t` the agent chooses

    .. math::

        y(t) \sim \mathrm{Cat}\big(\mathrm{softmax}(X(t) \theta(t))\big),
        \quad X(t) = [u(t), u(t-1), \dots, u(t - n + 1)] \in \mathbf{R}^{p
        \times n},

    with :math:`\theta(t)` the coefficients of its current regime, which
    flips every ``switch_every`` steps between a "win-stay" regime (by
    default nonnegative and non-increasing over the lags) and a "win-shift"
    regime (nonpositive and non-decreasing).

    Parameters
    ----------
    n_samples : int, default=400
        Number of time steps.
    reward_probabilities : array-like of shape (n_arms,), default=(0.1, 0.2, 0.7)
    n_lags : int, default=5
        Number :math:`n` of past reward signals in :math:`X(t)`.
    coef : array-like of shape (2, n_lags), default=None
        Coefficients of the two regimes; by default the exponential
        forgetting :math:`\theta_{1,j} = 3 \cdot 0.6^{j-1}` and
        :math:`\theta_2 = -\theta_1`.
    switch_every : int, default=20
        The regime flips every ``switch_every`` steps (starting in regime 0).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_arms * n_lags)
        :math:`X(t)` of every step, flattened row by row (arm-major): column
        ``a * n_lags + j`` is :math:`u_a(t - j)`.
    y : ndarray of shape (n_samples,) of int
        Chosen arm.
    regimes : ndarray of shape (n_samples,)
        True regime of every step.
    coef : ndarray of shape (2, n_lags)
        True coefficients.

    Examples
    --------
    >>> from skfactor.datasets import make_forgetting_bandit
    >>> X, y, regimes, coef = make_forgetting_bandit(n_samples=60, random_state=0)
    >>> X.shape, regimes[:25:5].tolist()
    ((60, 15), [0, 0, 0, 0, 1])
    """
    rng = check_random_state(random_state)
    reward = np.asarray(reward_probabilities, dtype=float).ravel()
    p = reward.size
    if p < 2 or np.any((reward < 0) | (reward > 1)):
        raise ValueError(
            "reward_probabilities must hold at least 2 probabilities in [0, 1]; "
            f"got {reward}."
        )
    if coef is None:
        base = 3.0 * 0.6 ** np.arange(n_lags)
        coef = np.stack([base, -base])
    coef = np.asarray(coef, dtype=float)
    if coef.shape != (2, n_lags):
        raise ValueError(f"coef must have shape (2, {n_lags}); got {coef.shape}.")
    regimes = (np.arange(n_samples) // switch_every) % 2
    signals = np.zeros((n_samples + n_lags, p))  # u(t - n_lags + 1 ..), padded
    X = np.empty((n_samples, p, n_lags))
    y = np.empty(n_samples, dtype=np.intp)
    for t in range(n_samples):
        # X(t)[:, j] = u(t - j); u(t) lives at signals[t + n_lags - 1].
        window = signals[t : t + n_lags][::-1]  # rows u(t), u(t-1), ...
        X[t] = window.T
        utilities = X[t] @ coef[regimes[t]]
        action = rng.choice(p, p=softmax(utilities))
        y[t] = action
        if rng.uniform() < reward[action]:
            signals[t + n_lags, action] = 1.0
    return X.reshape(n_samples, p * n_lags), y, regimes, coef
