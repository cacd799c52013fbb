"""Test oracles: plain NumPy compositions of the package's pure functions.

:func:`balance_factors` is the whole balancing step written from its parts
(penalties per column, optimal scales, rescaling); the compiled solvers fuse
it into their loops, and the tests and ``benchmarks/bench_cpd.py`` use this
form to check them and to balance a peer's factors.
"""

import numpy as np

from skfactor._balance import optimal_scales
from skfactor.utils._penalties import penalty_degree, penalty_values


def balance_factors(factors, mu, penalties):
    """Rescale the columns of the factors to minimize the penalty.

    The product of the factors' columns (every rank-one component) is
    unchanged, hence so is any scale-invariant fit term, and the total
    penalty :math:`\\sum_i \\mu_i \\sum_q g_i(X_i[:, q])` never increases.

    Parameters
    ----------
    factors : sequence of ndarray of shape (m_i, r)
        Factor matrices sharing the components along their columns.
    mu : array-like of shape (n_factors,)
        Nonnegative regularization weights :math:`\\mu_i`.
    penalties : sequence of {"l1", "l2"} or float
        Penalty of each factor, see :func:`penalty_degree`.

    Returns
    -------
    balanced : list of ndarray
        Rescaled copies of the factors.
    scales : ndarray of shape (n_factors, r)
        The scales applied, see :func:`optimal_scales`.

    Examples
    --------
    >>> import numpy as np
    >>> W, H = np.array([[4.0], [0.0]]), np.array([[0.25], [0.0]])
    >>> (W2, H2), scales = balance_factors([W, H], [1.0, 1.0], ["l2", "l2"])
    >>> np.allclose(W2 @ H2.T, W @ H.T), float(np.sum(W2**2)), float(np.sum(H2**2))
    (True, 1.0, 1.0)
    """
    factors = [np.asarray(f, dtype=float) for f in factors]
    mu = np.asarray(mu, dtype=float)
    if len(factors) != mu.shape[0] or len(factors) != len(penalties):
        raise ValueError(
            f"Got {len(factors)} factors, {mu.shape[0]} weights mu and "
            f"{len(penalties)} penalties; they must match."
        )
    degrees = np.array([penalty_degree(p) for p in penalties])
    a = mu[:, None] * np.array(
        [penalty_values(f, p) for f, p in zip(factors, penalties)]
    )
    scales = optimal_scales(a, degrees)
    return [f * s[None, :] for f, s in zip(factors, scales)], scales
