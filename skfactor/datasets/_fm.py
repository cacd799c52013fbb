"""Synthetic binary classification data drawn from a factorization machine."""

import numbers

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ..fm._model import fm_decision

__all__ = ["make_fm_classification"]


@validate_params(
    {
        "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_fields": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_categories": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_numeric": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_components": [Interval(numbers.Integral, 0, None, closed="left")],
        "bias_scale": [Interval(numbers.Real, 0, None, closed="left")],
        "factor_scale": [Interval(numbers.Real, 0, None, closed="left")],
        "intercept": [numbers.Real],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_fm_classification(
    n_samples=1000,
    n_fields=4,
    n_categories=10,
    n_numeric=0,
    n_components=3,
    bias_scale=0.5,
    factor_scale=1.0,
    intercept=-0.5,
    random_state=None,
):
    r"""Binary labels drawn from a second-order factorization machine.

    Each sample picks one category, uniformly, in each of ``n_fields``
    categorical fields (one-hot columns, like user id, item id, age group...)
    and has ``n_numeric`` standard normal real-valued features. With the true
    parameters :math:`b_0`, :math:`b \in \mathbb{R}^m`, :math:`V \in
    \mathbb{R}^{m \times k}` the label is a Bernoulli draw of

    .. math::

        p(y = 1 \mid x) = \operatorname{expit}\Bigl(b_0 + x^\top b +
            \sum_{i < j} x_i x_j\, v_i^\top v_j\Bigr).

    Parameters
    ----------
    n_samples : int, default=1000
    n_fields : int, default=4
        Number of categorical fields (one nonzero each per row).
    n_categories : int, default=10
        Categories per field.
    n_numeric : int, default=0
        Real-valued features appended after the one-hot columns.
    n_components : int, default=3
        Rank ``k`` of the true latent vectors.
    bias_scale : float, default=0.5
        Standard deviation of the true feature biases.
    factor_scale : float, default=1.0
        Standard deviation of the true pairwise interactions
        :math:`v_i^\top v_j` (entries of :math:`V` have standard deviation
        ``sqrt(factor_scale / sqrt(k))``).
    intercept : float, default=-0.5
        True global bias :math:`b_0`.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : CSR matrix of shape (n_samples, n_fields * n_categories + n_numeric)
    y : ndarray of shape (n_samples,)
        0/1 labels.
    truth : :class:`~sklearn.utils.Bunch`
        ``intercept``, ``coef`` (m,), ``components`` (m, k), ``decision``
        (the true :math:`\sigma(x)` of every row) and ``proba`` (the true
        :math:`p(y = 1 \mid x)`).

    Examples
    --------
    >>> from skfactor.datasets import make_fm_classification
    >>> X, y, truth = make_fm_classification(n_samples=5, random_state=0)
    >>> X.shape, truth.components.shape
    ((5, 40), (40, 3))
    >>> X.getnnz(axis=1).tolist()
    [4, 4, 4, 4, 4]
    """
    rng = check_random_state(random_state)
    n_onehot = n_fields * n_categories
    n_features = n_onehot + n_numeric
    cats = rng.randint(n_categories, size=(n_samples, n_fields))
    cols = cats + n_categories * np.arange(n_fields)
    numeric = rng.standard_normal((n_samples, n_numeric))
    indices = np.hstack(
        [cols, np.broadcast_to(n_onehot + np.arange(n_numeric), (n_samples, n_numeric))]
    )
    values = np.hstack([np.ones((n_samples, n_fields)), numeric])
    X = sp.csr_matrix(
        (
            values.ravel(),
            indices.ravel(),
            np.arange(n_samples + 1) * (n_fields + n_numeric),
        ),
        shape=(n_samples, n_features),
    )
    coef = bias_scale * rng.standard_normal(n_features)
    std = np.sqrt(factor_scale / np.sqrt(max(n_components, 1)))
    components = std * rng.standard_normal((n_features, n_components))
    decision = fm_decision(X, intercept, coef, components)
    proba = expit(decision)
    y = (rng.uniform(size=n_samples) < proba).astype(np.int64)
    truth = Bunch(
        intercept=float(intercept),
        coef=coef,
        components=components,
        decision=decision,
        proba=proba,
    )
    return X, y, truth
