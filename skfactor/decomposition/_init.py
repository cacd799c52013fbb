"""Starting points (W, H) for the matrix factorizations X ~ W H.

- :func:`random_init` and :func:`nndsvda_init`: nonnegative factors at the
  scale of scikit-learn's NMF initializations, for the multiplicative updates
  of :class:`~skfactor.decomposition.BalancedSparseNMF`.
- :func:`random_unit_rows_init` and :func:`svd_init`: factors whose
  components ``H`` have rows of unit l1 norm (the scale of each rank-one term
  is carried by ``W``), which keeps them inside the usual normalization
  constraints (simplex, unit ball, [0, 1] box) of
  :class:`~skfactor.decomposition.ProximalMF`, so that projecting them onto
  the constraint sets loses little.

Both SVD-based starts choose the sign of each singular pair as NNDSVD does
(:func:`_dominant_sign`).
"""

import numpy as np
import scipy.sparse as sp

from ..utils._linalg import truncated_svd

__all__ = [
    "check_init_pair",
    "nndsvda_init",
    "random_init",
    "random_unit_rows_init",
    "svd_init",
]


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


def _dominant_sign(u, v):
    r"""NNDSVD's sign of a singular pair and its nonnegative part.

    Returns ``(s, x, y)`` with :math:`x = (su)_+`, :math:`y = (sv)_+` and
    :math:`s \in \{1, -1\}` maximizing :math:`\|x\|\,\|y\|` (ties
    go to :math:`s = 1`), Boutsidis and Gallopoulos (2008).

    Examples
    --------
    >>> import numpy as np
    >>> s, x, y = _dominant_sign(np.array([-2.0, 1.0]), np.array([-1.0, 0.0]))
    >>> s, x, y
    (-1.0, array([2., 0.]), array([1., 0.]))
    """
    plus = np.maximum(u, 0), np.maximum(v, 0)
    minus = np.maximum(-u, 0), np.maximum(-v, 0)
    if np.linalg.norm(plus[0]) * np.linalg.norm(plus[1]) >= np.linalg.norm(
        minus[0]
    ) * np.linalg.norm(minus[1]):
        return 1.0, *plus
    return -1.0, *minus


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
    avg = np.sqrt(_mean_abs(X) / n_components)
    W = avg * np.abs(rng.standard_normal((X.shape[0], n_components)))
    H = avg * np.abs(rng.standard_normal((n_components, X.shape[1])))
    return W, H


def nndsvda_init(X, n_components, rng, svd=None):
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
    svd : callable, default=None
        ``svd(X, k, rng)``, the leading ``k`` singular triplets ``(U, S,
        Vt)`` as :func:`~skfactor.utils._linalg.truncated_svd` gives them;
        ``None`` for ``truncated_svd`` itself.

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
    if svd is None:
        U, S, Vt = truncated_svd(X, k, random_state=rng)
    else:
        U, S, Vt = svd(X, k, rng)
    for j in range(k):
        u, v = U[:, j], Vt[j]
        if j == 0:
            x, y = np.abs(u), np.abs(v)
        else:
            x, y = _dominant_sign(u, v)[1:]
        nx, ny = np.linalg.norm(x), np.linalg.norm(y)
        weight = nx * ny
        x, y = x / max(nx, np.finfo(float).tiny), y / max(ny, np.finfo(float).tiny)
        scale = np.sqrt(S[j] * weight)
        W[:, j] = scale * x
        H[j] = scale * y
    avg = np.sqrt(_mean_abs(X) / n_components)
    W[:, :k][W[:, :k] == 0] = avg
    H[:k][H[:k] == 0] = avg
    return W, H


def _normalize_rows(W, H):
    """Scale each rank-one term so that the rows of H have unit l1 norm."""
    sums = np.abs(H).sum(axis=1)
    sums = np.where(sums > 0, sums, 1.0)
    return W * sums, H / sums[:, None]


def random_unit_rows_init(X, n_components, random_state, dtype=None):
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
    >>> from skfactor.decomposition._init import random_unit_rows_init
    >>> X = np.full((4, 3), 2.0)
    >>> W, H = random_unit_rows_init(X, 2, np.random.RandomState(0))
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
    drawn as in :func:`random_unit_rows_init` at one hundredth of its scale,
    so that they barely perturb the (then exact) SVD fit but are not stuck at zero.

    Parameters and return values are those of :func:`random_unit_rows_init`;
    ``random_state`` also seeds the randomized SVD.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.decomposition._init import svd_init
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
        U, S, Vt = truncated_svd(
            X.astype(np.float64), rank, random_state=random_state, n_iter=7
        )
        for j in range(rank):
            u, v = U[:, j], Vt[j]
            sign = _dominant_sign(u, v)[0]
            W[:, j] = S[j] * sign * u
            H[j] = sign * v
    if n_components > rank:
        surplus = n_components - rank
        W[:, rank:], H[rank:] = random_unit_rows_init(X, surplus, random_state)
        W[:, rank:] *= 1e-2
    W, H = _normalize_rows(W, H)
    return W.astype(dtype, copy=False), H.astype(dtype, copy=False)


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


#: ``n_components="auto"``: at most this fraction of min(n_samples, n_features)
AUTO_RANK_FRACTION = 0.2


def auto_rank(X, rng):
    r"""Number of components chosen from the spectrum of ``X``.

    With :math:`\sigma_1 \ge \sigma_2 \ge \dots` the singular values and
    :math:`e_k = \|X\|_F^2 - \sum_{i \le k} \sigma_i^2` the energy left
    unexplained by the best rank-:math:`k` approximation, the rank is the
    :math:`k` of the largest relative drop :math:`e_{k-1} / e_k` (where the
    spectrum falls from signal to noise), for
    :math:`1 \le k \le \max(1, \lfloor 0.2 \min(m, n) \rfloor)`: the cap
    keeps the fit low-rank (its cost grows with the rank, that of the exact
    W-step with the rank cubed). The leading singular values come from a
    randomized SVD (sparse input is never densified).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(size=(100, 3)) @ rng.uniform(size=(3, 50))
    >>> auto_rank(X + 0.01 * rng.uniform(size=X.shape), rng)
    3
    """
    cap = max(1, int(AUTO_RANK_FRACTION * min(X.shape)))
    data = X.data if sp.issparse(X) else np.asarray(X)
    energy = float(np.dot(data.ravel(), data.ravel()))
    if energy == 0.0 or cap == 1:
        return 1
    n_values = min(cap + 1, min(X.shape))
    _, S, _ = truncated_svd(X, n_values, random_state=rng, n_iter=7)
    left = np.maximum(energy - np.concatenate([[0.0], np.cumsum(S**2)]), 0.0)
    floor = 1e-12 * energy  # an exact fit leaves rounding errors only
    drops = left[:-1] / np.maximum(left[1:], floor)
    return int(np.argmax(drops[:cap])) + 1
