"""Synthetic sparse nonnegative low-rank data with Poisson noise."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_sparse_nmf"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "sparsity": [Interval(Real, 0, 1, closed="left")],
        "snr": [Interval(Real, None, None, closed="neither"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_sparse_nmf(
    n_samples=30,
    n_features=30,
    n_components=4,
    *,
    sparsity=0.3,
    snr=40.0,
    random_state=None,
):
    r"""Sparse nonnegative factors and Poisson counts drawn from their product.

    The set-up of the sparse NMF experiment of J. E. Cohen, *Implicit
    regularization in regularized (nonnegative) low-rank approximations*
    (2024):
    factors with half-normal entries :math:`|z|`, :math:`z \sim N(0, 1)`,
    of which a fraction ``sparsity`` is set to zero in every column (at
    least one entry of each column stays nonzero), and data

    .. math::

        X \sim \mathcal{P}(a\, W_0 H_0), \qquad
        a = 10^{\mathrm{snr}/10}\,
            \frac{\sum_{ij} (W_0 H_0)_{ij}}{\|W_0 H_0\|_F^2},

    so that the signal-to-noise ratio
    :math:`\|aW_0H_0\|_F^2 / \mathbb{E}\|X - aW_0H_0\|_F^2` (the Poisson
    variance equals the mean) is ``snr`` decibels. The returned true
    factors carry the scale: :math:`W = \sqrt{a} W_0`,
    :math:`H = \sqrt{a} H_0`, so that :math:`\mathbb{E} X = WH`.

    Parameters
    ----------
    n_samples, n_features : int, default=30
        Shape of ``X``.
    n_components : int, default=4
        Rank of the true model.
    sparsity : float in [0, 1), default=0.3
        Fraction of zeros in each column of ``W`` and each row of ``H``
        (rounded down to an integer count per column / row, capped so that
        one entry stays nonzero).
    snr : float or None, default=40.0
        Signal-to-noise ratio in decibels. ``None`` returns the noiseless
        ``X = W @ H`` (with ``a = 1``).
    random_state : int, RandomState instance or None, default=None
        Seed of the factors and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Nonnegative data (integer counts stored as float64 when ``snr`` is
        not None).
    W : ndarray of shape (n_samples, n_components)
        True activations.
    H : ndarray of shape (n_components, n_features)
        True components.

    Examples
    --------
    >>> from skfactor.datasets import make_sparse_nmf
    >>> X, W, H = make_sparse_nmf(random_state=0)
    >>> X.shape, W.shape, H.shape
    ((30, 30), (30, 4), (4, 30))
    >>> float((W == 0).mean()), float((H == 0).mean())
    (0.3, 0.3)
    """
    rng = check_random_state(random_state)

    def sparse_factor(n_rows):
        factor = rng.uniform(size=(n_rows, n_components))
        n_zeros = min(int(np.floor(sparsity * n_rows + 1e-9)), n_rows - 1)
        for q in range(n_components):
            factor[rng.permutation(n_rows)[:n_zeros], q] = 0.0
        return factor

    W = sparse_factor(n_samples)
    H = sparse_factor(n_features).T
    M = W @ H
    if snr is None:
        return M, W, H
    energy = np.sum(M**2)
    if energy == 0:  # pragma: no cover - every column keeps a positive entry
        return M, W, H
    a = 10.0 ** (snr / 10.0) * M.sum() / energy
    X = rng.poisson(a * M).astype(np.float64)
    return X, np.sqrt(a) * W, np.sqrt(a) * H
