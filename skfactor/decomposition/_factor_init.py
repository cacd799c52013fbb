"""Starting points (W, H) for X ~ W H that do not depend on the constraints.

Both initializations return components ``H`` whose rows have unit l1 norm
(the scale of each rank-one term is carried by ``W``), which keeps them
inside the usual normalization constraints (simplex, unit ball, [0, 1] box)
so that projecting the initialization onto the constraints loses little.
The caller projects them onto its constraint sets.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

__all__ = ["random_init", "svd_init"]


def _mean_abs(X):
    n, m = X.shape
    if n * m == 0:
        return 0.0
    total = np.abs(X.data).sum() if sp.issparse(X) else np.abs(X).sum()
    return float(total) / (n * m)


def _dtype(X, dtype):
    if dtype is not None:
        return dtype
    return X.dtype if X.dtype in (np.float32, np.float64) else np.float64


def _normalize_rows(W, H):
    """Scale each rank-one term so that the rows of H have unit l1 norm."""
    sums = np.abs(H).sum(axis=1)
    sums = np.where(sums > 0, sums, 1.0)
    return W * sums, H / sums[:, None]


def random_init(X, n_components, random_state, dtype=None):
    """Nonnegative random factors whose product has the mean magnitude of X.

    Entries are absolute values of standard normals; the rows of ``H`` are
    scaled to sum to one and ``W`` to ``mean|X| * n_features / n_components``
    on average, so that ``W @ H`` has the average magnitude of ``|X|``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    n_components : int
    random_state : numpy.random.RandomState
    dtype : dtype, default=None
        Of the factors; None keeps that of X (float32 or float64).

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.decomposition._factor_init import random_init
    >>> X = np.full((4, 3), 2.0)
    >>> W, H = random_init(X, 2, np.random.RandomState(0))
    >>> np.allclose(H.sum(axis=1), 1.0), W.shape
    (True, (4, 2))
    """
    n_samples, n_features = X.shape
    dtype = _dtype(X, dtype)
    H = np.abs(random_state.standard_normal((n_components, n_features)))
    H /= np.maximum(H.sum(axis=1, keepdims=True), np.finfo(float).tiny)
    W = np.abs(random_state.standard_normal((n_samples, n_components)))
    # E|N(0, 1)| = sqrt(2 / pi); the rows of H average 1 / n_features
    W *= _mean_abs(X) * n_features / (n_components * np.sqrt(2 / np.pi))
    return W.astype(dtype, copy=False), H.astype(dtype, copy=False)


def svd_init(X, n_components, random_state, dtype=None):
    """Truncated SVD split into two factors, signs chosen as in NNDSVD.

    For each singular triplet :math:`(\\sigma, u, v)` the sign :math:`s` is
    the one whose positive parts carry the most energy,
    :math:`\\max_s \\|(su)_+\\| \\, \\|(sv)_+\\|` (Boutsidis and Gallopoulos,
    2008), so that projecting onto the nonnegative orthant keeps the dominant
    part; the term is :math:`W_{:j} = \\sigma s u`, :math:`H_{j:} = s v`,
    rescaled so that the rows of ``H`` have unit l1 norm. Unconstrained,
    this is the best rank-``n_components`` approximation of ``X``. Components
    beyond ``min(n_samples, n_features)`` (which the SVD cannot provide) are
    drawn as in :func:`random_init` at one hundredth of its scale, so that
    they barely perturb the (then exact) SVD fit but are not stuck at zero.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    n_components : int
    random_state : numpy.random.RandomState
        Used by the randomized SVD and for surplus components.
    dtype : dtype, default=None
        Of the factors; None keeps that of X (float32 or float64).

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.decomposition._factor_init import svd_init
    >>> X = np.outer([1.0, 2.0, 3.0], [1.0, 1.0])
    >>> W, H = svd_init(X, 1, np.random.RandomState(0))
    >>> np.allclose(W @ H, X), H
    (True, array([[0.5, 0.5]]))
    """
    n_samples, n_features = X.shape
    dtype = _dtype(X, dtype)
    rank = min(n_components, n_samples, n_features)
    W = np.empty((n_samples, n_components))
    H = np.empty((n_components, n_features))
    if rank > 0:
        U, S, Vt = randomized_svd(
            X.astype(np.float64), rank, n_iter=7, random_state=random_state
        )
        for j in range(rank):
            u, v = U[:, j], Vt[j]
            plus = np.linalg.norm(np.maximum(u, 0)) * np.linalg.norm(np.maximum(v, 0))
            minus = np.linalg.norm(np.minimum(u, 0)) * np.linalg.norm(np.minimum(v, 0))
            sign = 1.0 if plus >= minus else -1.0
            W[:, j] = S[j] * sign * u
            H[j] = sign * v
    if n_components > rank:
        W[:, rank:], H[rank:] = random_init(X, n_components - rank, random_state)
        W[:, rank:] *= 1e-2
    W, H = _normalize_rows(W, H)
    return W.astype(dtype, copy=False), H.astype(dtype, copy=False)
