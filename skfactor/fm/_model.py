r"""The factorization machine's forward pass, for whole design matrices.

.. math::

    \sigma(x) = b_0 + x^\top b + \sum_{i<j} x_i x_j\, v_i^\top v_j
              = b_0 + x^\top b + \tfrac12\bigl(\|V^\top x\|^2
                - (x \odot x)^\top (V \odot V)\,\mathbf 1\bigr)

(Rendle's identity), in :math:`O(\mathrm{nnz}(X)\, k)` with sparse or dense
``X``.
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["fm_decision"]


def fm_decision(X, intercept, coef, components):
    """``sigma(x)`` of every row of ``X`` (dense array or sparse matrix).

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.fm._model import fm_decision
    >>> V = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]])
    >>> fm_decision(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 2.0]]), 0.5, np.zeros(3), V)
    array([2.5, 6.5])
    """
    XV = X @ components
    squared = X.multiply(X) if sp.issparse(X) else X * X
    pairwise = 0.5 * (
        (XV * XV).sum(axis=1) - squared @ (components * components).sum(axis=1)
    )
    return intercept + X @ coef + np.asarray(pairwise).ravel()
