"""Initial factors for nonnegative matrix factorizations X ~ W H."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

__all__ = ["nndsvda_init", "random_init"]


def _mean(X):
    return float(X.sum()) / (X.shape[0] * X.shape[1])


def random_init(X, n_components, rng):
    r"""Half-normal factors scaled so that ``W @ H`` has the mean of ``X``.

    Entries are :math:`\sqrt{\bar X / r}\,|z|` with :math:`z` standard
    normal (the scaling of scikit-learn's ``init="random"``).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (m, n)
    n_components : int
    rng : numpy.random.RandomState

    Returns
    -------
    W : ndarray of shape (m, n_components)
    H : ndarray of shape (n_components, n)

    Examples
    --------
    >>> import numpy as np
    >>> W, H = random_init(np.ones((4, 3)), 2, np.random.RandomState(0))
    >>> W.shape, H.shape, bool((W >= 0).all())
    ((4, 2), (2, 3), True)
    """
    avg = np.sqrt(_mean(X) / n_components)
    W = avg * np.abs(rng.standard_normal((X.shape[0], n_components)))
    H = avg * np.abs(rng.standard_normal((n_components, X.shape[1])))
    return W, H


def nndsvda_init(X, n_components, rng):
    r"""Nonnegative double SVD with its zeros filled by a positive value.

    NNDSVD (Boutsidis and Gallopoulos, 2008): the leading singular triplet
    gives the first component (absolute values of the Perron vectors); each
    further triplet :math:`(\sigma, u, v)` gives the larger, in the product
    of norms, of its positive part :math:`(u_+, v_+)` and negative part
    :math:`(u_-, v_-)`, scaled to carry :math:`\sigma` times that product.
    The "a" variant replaces the zeros by a positive value so that
    multiplicative updates can move them: here :math:`\sqrt{\bar X / r}`,
    the scale of the entries of :func:`random_init`, rather than
    :math:`\bar X` as in scikit-learn, so that the initialization of
    :math:`cX` is :math:`\sqrt{c}` times that of :math:`X` (with
    :math:`\bar X` the filled entries are far too large for count data and
    far too small for data much below 1). Components beyond ``min(m, n)``
    (no singular triplet left) are random, as in :func:`random_init`.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (m, n)
    n_components : int
    rng : numpy.random.RandomState
        Used by the randomized SVD and for surplus components.

    Returns
    -------
    W : ndarray of shape (m, n_components)
    H : ndarray of shape (n_components, n)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.outer([1.0, 2.0, 3.0], [1.0, 1.0])
    >>> W, H = nndsvda_init(X, 1, np.random.RandomState(0))
    >>> np.allclose(W @ H, X)
    True
    """
    m, n = X.shape
    k = min(n_components, m, n)
    W, H = random_init(X, n_components, rng)
    U, S, Vt = randomized_svd(X, k, random_state=rng)
    for j in range(k):
        u, v = U[:, j], Vt[j]
        if j == 0:
            x, y, weight = np.abs(u), np.abs(v), 1.0
        else:
            parts = []
            for x, y in ((np.maximum(u, 0), np.maximum(v, 0)),
                         (np.maximum(-u, 0), np.maximum(-v, 0))):
                nx, ny = np.linalg.norm(x), np.linalg.norm(y)
                parts.append((nx * ny, x / max(nx, np.finfo(float).tiny),
                              y / max(ny, np.finfo(float).tiny)))
            weight, x, y = max(parts, key=lambda part: part[0])
        scale = np.sqrt(S[j] * weight)
        W[:, j] = scale * x
        H[j] = scale * y
    avg = np.sqrt(_mean(X) / n_components)
    W[:, :k][W[:, :k] == 0] = avg
    H[:k][H[:k] == 0] = avg
    return W, H


def check_init_pair(init, shape, n_components, whom):
    """Validate a user-given ``(W, H)`` pair and return float64 copies.

    Raises
    ------
    ValueError
        Naming the offending array: wrong length, shape, NaN/inf or
        negative entries.
    """
    if len(init) != 2:
        raise ValueError(
            f"{whom}: init must be 'random', 'nndsvda' or a pair (W, H); got a "
            f"sequence of length {len(init)}."
        )
    m, n = shape
    arrays = []
    for name, array, expected in (
        ("W", init[0], (m, n_components)),
        ("H", init[1], (n_components, n)),
    ):
        if sp.issparse(array):
            array = array.toarray()
        try:
            array = np.asarray(array, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{whom}: init {name} must be a numeric array; {exc}"
            ) from None
        if array.shape != expected:
            raise ValueError(
                f"{whom}: init {name} has shape {array.shape}; expected {expected} "
                f"for X of shape {shape} and n_components={n_components}."
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{whom}: init {name} contains NaN or infinity.")
        if np.any(array < 0):
            raise ValueError(
                f"{whom}: init {name} has {int(np.sum(array < 0))} negative entries; "
                "initial factors must be nonnegative."
            )
        arrays.append(array.copy())
    return arrays
