r"""Gating model: regime probabilities of unseen samples from their features.

:meth:`predict` of the switching estimators has no target, so the F-step
cannot run. The default gating is a multinomial logistic regression of the
training assignments on the features,

.. math::

    p(k \mid x) = \frac{\exp(x^T v_k + c_k)}{\sum_j \exp(x^T v_j + c_j)},
    \quad
    (v, c) = \operatorname*{argmin} \sum_{i=1}^m \Big(
        \log \sum_j e^{x_i^T v_j + c_j} - \sum_k z_{ik} (x_i^T v_k + c_k)
    \Big) + \alpha_g \|v\|_F^2,

i.e. the cross-entropy of the soft labels :math:`z_i` (fitting soft labels
directly is equivalent to stacking the data :math:`K` times with hard labels
:math:`k` and sample weights :math:`z_{ik}`). It reuses the multinomial
solver of the P-step. ``gating="prior"`` uses the regime proportions for
every sample instead.
"""

import numpy as np

from ._losses import class_probabilities
from ._pstep import fit_smooth_linear_model

GATING_ALPHA = 1.0


def fit_gating(X, Z, alpha=GATING_ALPHA):
    """Fit the gating model; returns ``coef`` (n_features, K), ``intercept`` (K,)."""
    m, n = X.shape
    K = Z.shape[1]
    if K == 1:
        return np.zeros((n, 1)), np.zeros(1)
    coef, intercept, _ = fit_smooth_linear_model(
        X, Z, np.ones(m), alpha, "multinomial", (n, K), True
    )
    return coef, intercept


def gating_proba(X, coef, intercept):
    """Regime probabilities of the gating model, shape (n_samples, K)."""
    return class_probabilities("multinomial", X @ coef + intercept)
