r"""Multilevel low-rank (MLR) matrices and their structured algebra.

A hierarchy of ``L`` nested partitions of the ``n`` features (coarsest level
first) and, for every group :math:`a` of level :math:`l`, a factor block
:math:`F_a \in \mathbb{R}^{n_a \times r_l}` define the symmetric MLR matrix

.. math::

    A = D + s \sum_{l=1}^{L} \sum_{a \in \text{level } l} F_a F_a^T,
    \qquad s \in \{+1, -1\},

where :math:`D` is a positive diagonal and each :math:`F_a F_a^T` is placed on
the rows and columns of group :math:`a`. A covariance :math:`F F^T + D` of a
multilevel factor model is the case :math:`s = +1`; its inverse is again an
MLR matrix on the same hierarchy with the same ranks and :math:`s = -1`.

Storage. Every feature belongs to exactly one group per level, so the blocks
are stored *compressed*: one ``(n, r)`` array, ``r = r_1 + ... + r_L``, whose
row ``i`` holds, for every level, the row of feature ``i`` in the block of its
group. Rows are kept in a canonical permuted order in which every group of
every level is a contiguous range (a stable lexicographic sort of the labels,
coarsest first). Nothing here ever forms an ``n x n`` array except
:meth:`MLRMatrix.to_dense`.

Inverse by recursive Sherman-Morrison-Woodbury. With
:math:`A^{(L+1)} = D` and :math:`A^{(l)} = A^{(l+1)} + s F_l F_l^T`
(:math:`F_l` the block-diagonal level-:math:`l` factor), each
:math:`A^{(l+1)}` is block diagonal over the groups of level :math:`l`, and
for a group :math:`a` of level :math:`l`

.. math::

    M_a = I + s F_a^T (A^{(l+1)}_a)^{-1} F_a = L_a L_a^T, \qquad
    H_a = (A^{(l+1)}_a)^{-1} F_a L_a^{-T}, \\
    (A^{(l)}_a)^{-1} = (A^{(l+1)}_a)^{-1} - s H_a H_a^T, \qquad
    \log\det A^{(l)}_a = \log\det A^{(l+1)}_a + \log\det M_a,

so that :math:`A^{-1} = D^{-1} - s \sum_a H_a H_a^T` and
:math:`\log\det A = \sum_i \log d_i + \sum_a \log\det M_a`. The small matrices
:math:`M_a` come from a bottom-up recursion on Gram matrices
(:func:`_smw_recursion`), in :math:`O(n r^2)` work in total; the factors
:math:`H` then cost :math:`O(n r^2)` too.
"""

import weakref
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from ._hierarchy import check_hierarchy, rank_offsets
from ._kernels import (
    _blas,
    group_gram,
    group_product,
    path_gram,
    path_columns,
    path_index,
    path_product,
    row_blocks,
)
from ._smw import inverse_rows, smw_leaves, smw_level

__all__ = ["MLRMatrix"]


def gaussian_log_density(quad, logdet, n_features):
    """Gaussian log-density from quadratic forms ``q`` and the log-determinant.

    :math:`-\\frac{1}{2}(n \\log 2\\pi + \\log\\det\\Sigma + q)`.
    """
    return -0.5 * (n_features * np.log(2.0 * np.pi) + logdet + quad)


class MLRMatrix:
    r"""Symmetric multilevel low-rank matrix :math:`D + s F F^T`.

    The blocks of every level are given in compressed form: ``factors[l]`` is
    an ``(n_features, r_l)`` array whose rows that belong to a group ``a`` of
    level ``l`` form the block :math:`F_a`; the matrix is

    .. math::

        A = \operatorname{diag}(d) + s \sum_{l} \sum_{a \in \text{level } l}
        F_a F_a^T,

    each :math:`F_a F_a^T` sitting on the rows and columns of group
    :math:`a`. Products, solves, the inverse (again an MLR matrix, with
    :math:`s` flipped), the log-determinant and sampling cost
    :math:`O(n r)` or :math:`O(n r^2)` operations and memory,
    :math:`r = \sum_l r_l`; no ``n x n`` array is formed except by
    :meth:`to_dense`.

    Parameters
    ----------
    hierarchy : sequence of array-like of shape (n_features,)
        Group label of every feature at every level, coarsest first. The
        partitions must be nested.
    factors : sequence of array-like of shape (n_features, r_l)
        One compressed factor array per level.
    diagonal : array-like of shape (n_features,)
        Positive diagonal :math:`d`.
    sign : {1, -1}, default=1
        Sign :math:`s` of the low-rank part. A covariance has ``sign=1``; the
        inverse of one has ``sign=-1``.

    Attributes
    ----------
    shape : tuple of int
        ``(n_features, n_features)``.
    ranks : tuple of int
        Rank of the blocks of every level.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.multilevel import MLRMatrix
    >>> hierarchy = [[0, 0, 0, 0], [0, 0, 1, 1]]
    >>> factors = [np.ones((4, 1)), np.arange(4.0).reshape(4, 1)]
    >>> A = MLRMatrix(hierarchy, factors, np.ones(4))
    >>> A.to_dense()
    array([[ 2.,  1.,  1.,  1.],
           [ 1.,  3.,  1.,  1.],
           [ 1.,  1.,  6.,  7.],
           [ 1.,  1.,  7., 11.]])
    >>> x = np.array([1.0, 0.0, 0.0, 0.0])
    >>> np.allclose(A @ A.solve(x), x)
    True
    >>> bool(np.isclose(A.logdet(), np.linalg.slogdet(A.to_dense())[1]))
    True
    """

    def __init__(self, hierarchy, factors, diagonal, sign=1):
        h = check_hierarchy(hierarchy)
        n = h.n_features
        if isinstance(factors, np.ndarray) and factors.ndim == 2:
            raise TypeError(
                "factors must be a sequence with one (n_features, rank) array per "
                "level, not a single 2-d array."
            )
        if len(factors) != h.n_levels:
            raise ValueError(
                f"factors has {len(factors)} arrays but the hierarchy has "
                f"{h.n_levels} levels."
            )
        blocks = []
        for level, block in enumerate(factors):
            block = np.asarray(block, dtype=np.float64)
            if block.ndim == 1:
                block = block[:, None]
            if block.ndim != 2 or block.shape[0] != n:
                raise ValueError(
                    f"factors[{level}] must have shape ({n}, rank), got {block.shape}."
                )
            if not np.all(np.isfinite(block)):
                raise ValueError(f"factors[{level}] has NaN or inf entries.")
            blocks.append(block)
        diagonal = np.asarray(diagonal, dtype=np.float64)
        if diagonal.shape != (n,):
            raise ValueError(f"diagonal must have shape ({n},), got {diagonal.shape}.")
        if not np.all(np.isfinite(diagonal)) or np.any(diagonal <= 0):
            raise ValueError("diagonal must be finite and positive.")
        if sign not in (1, -1):
            raise ValueError(f"sign must be 1 or -1, got {sign!r}.")
        ranks = tuple(block.shape[1] for block in blocks)
        F = np.hstack(blocks) if blocks else np.zeros((n, 0))
        self._init(h, F[h.perm], diagonal[h.perm], ranks, int(sign))

    @classmethod
    def _from_permuted(cls, h, F, d, ranks, sign):
        """Build from arrays already in the canonical order (no validation)."""
        self = cls.__new__(cls)
        self._init(h, F, d, tuple(ranks), sign)
        return self

    def _init(self, h, F, d, ranks, sign):
        self._h = h
        self._F = np.ascontiguousarray(F, dtype=np.float64)
        self._d = np.ascontiguousarray(d, dtype=np.float64)
        self.ranks = ranks
        self.sign = sign
        self._offsets = rank_offsets(ranks)
        self._smw = None
        self._inverse = None
        # The matrix this one is the inverse of, weakly: a strong reference
        # both ways would be a cycle, freed only by the garbage collector
        # (EM makes one such pair per iteration, tens of MB each).
        self._inverse_of = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_inverse_of"] = None  # weak references do not pickle
        return state

    def _known_inverse(self):
        """The cached inverse, or the live matrix this one inverts, or None."""
        if self._inverse is not None:
            return self._inverse
        return self._inverse_of() if self._inverse_of is not None else None

    # ------------------------------------------------------------------ views
    @property
    def shape(self):
        return (self._h.n_features, self._h.n_features)

    @property
    def hierarchy(self):
        """Canonical group index of every feature, one array per level."""
        return [labels.copy() for labels in self._h.labels]

    @property
    def factors(self):
        """Compressed factor of every level, shape ``(n_features, r_l)``."""
        F = self._F[self._h.iperm]
        off = self._offsets
        return [F[:, off[lev] : off[lev + 1]] for lev in range(len(self.ranks))]

    @property
    def diagonal(self):
        """The diagonal :math:`d` of the diagonal part (not of the matrix)."""
        return self._d[self._h.iperm]

    def diag(self):
        """Diagonal of the whole matrix, :math:`d_i + s \\|F_i\\|^2`."""
        return (self._d + self.sign * np.einsum("ij,ij->i", self._F, self._F))[
            self._h.iperm
        ]

    def __repr__(self):
        return (
            f"MLRMatrix(n_features={self.shape[0]}, ranks={self.ranks}, "
            f"n_groups={self._h.n_groups}, sign={self.sign:+d})"
        )

    # ---------------------------------------------------------- products
    def _level(self, level):
        """Compressed factor of ``level`` (canonical order, a column view)."""
        return self._F[:, self._offsets[level] : self._offsets[level + 1]]

    def _paths(self):
        """Stacked rows of the path factors, see :func:`._kernels.path_index`."""
        return path_index(self._h, self.ranks)

    def _scaled(self):
        """:math:`D^{-1} F` (a new array)."""
        return self._F / self._d[:, None]

    def _blocks(self):
        """Row blocks of the passes over the data (:func:`._kernels.row_blocks`)."""
        return row_blocks(self._h, self.ranks)

    def _stacked(self, X, first_level=0):
        """Per-group Gram matrices ``F_a^T X_a`` of the levels from ``first_level``.

        Returns the stacked ``(S, m)`` array (:func:`._kernels.path_index`).
        """
        _, base = self._paths()
        start = self._offsets[first_level]
        T = np.zeros((base[-1], X.shape[1]))
        fine = path_columns(self._h, self.ranks, start)
        path_gram(self._F[:, start:], X, self._h.bounds[-1], fine, T)
        return T

    def _unstack(self, T):
        """The stacked ``(S, m)`` array as one ``(p_l, r_l, m)`` array per level."""
        _, base = self._paths()
        return [
            T[base[level] : base[level + 1]].reshape(
                self._h.n_groups[level], rank, T.shape[1]
            )
            for level, rank in enumerate(self.ranks)
        ]

    def _apply_permuted(self, X, first_level=0):
        """``d X + s sum_{l >= first_level} F_l F_l^T X`` in canonical order.

        Two passes over the rows, all levels at once: the per-group Gram
        matrices ``T_a = F_a^T X_a``, then ``F_a T_a`` added to the rows of
        every group (:mod:`._kernels`).
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = X * self._d[:, None]
        start = self._offsets[first_level]
        if start == self._F.shape[1]:
            return out
        T = self._stacked(X, first_level)
        leaf = self._h.bounds[-1]
        fine = path_columns(self._h, self.ranks, start)
        path_product(self._F[:, start:], T, leaf, fine, out, self.sign)
        return out

    def _check_vectors(self, x, name):
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be real numbers, got dtype {x.dtype}.")
        x = x.astype(np.float64, copy=False)
        if x.ndim not in (1, 2) or x.shape[0] != self.shape[0]:
            raise ValueError(
                f"{name} must have shape ({self.shape[0]},) or "
                f"({self.shape[0]}, k), got {x.shape}."
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} has NaN or inf entries.")
        return x

    def matvec(self, x):
        """Product :math:`A x` for a vector or the columns of a matrix.

        Parameters
        ----------
        x : array-like of shape (n_features,) or (n_features, k)

        Returns
        -------
        y : ndarray of the shape of ``x``
        """
        x = self._check_vectors(x, "x")
        vector = x.ndim == 1
        X = x[:, None] if vector else x
        h = self._h
        out = np.empty_like(X)
        out[h.perm] = self._apply_permuted(np.ascontiguousarray(X[h.perm]))
        return out[:, 0] if vector else out

    def __matmul__(self, x):
        return self.matvec(x)

    def to_dense(self):
        """The dense ``(n_features, n_features)`` matrix (for small sizes and tests)."""
        h = self._h
        n = h.n_features
        off = self._offsets
        dense = np.diag(self._d)
        for level in range(len(self.ranks)):
            F = self._F[:, off[level] : off[level + 1]]
            bounds = h.bounds[level]
            for k in range(h.n_groups[level]):
                block = F[bounds[k] : bounds[k + 1]]
                dense[bounds[k] : bounds[k + 1], bounds[k] : bounds[k + 1]] += (
                    self.sign * (block @ block.T)
                )
        out = np.empty((n, n))
        out[np.ix_(h.perm, h.perm)] = dense
        return out

    # ------------------------------------------------- recursive SMW
    def _smw_recursion(self):
        """Bottom-up Sherman-Morrison-Woodbury recursion on Gram matrices.

        For every group ``a`` of level ``l`` with ``R = r_1 + ... + r_l`` and
        ``E_a`` the rows of group ``a`` of the factors of levels ``1..l``
        (its ancestors' blocks restricted to it, and its own), computes the
        own columns of ``E_a^T (A^{(l)}_a)^{-1} E_a`` (``R x R``),
        ``psi[l][a]`` of shape ``(R, r_l)``, the log-determinant of the whole
        matrix and, stacked like the factors (:func:`._kernels.path_index`),
        the rows ``solve`` of the inverse :math:`L_a^{-1}` of the Cholesky
        factor of ``M_a = I + s F_a^T (A^{(l+1)}_a)^{-1} F_a`` and of
        :math:`L_a^{-1} F_a^T (A^{(l+1)}_a)^{-1} E_a` (see
        :func:`._smw.smw_level`), from which :meth:`inv` builds the inverse.
        Only the finest level touches the ``n`` rows (``O(n r^2)``); the rest
        is ``O(r^3)`` per group, one compiled loop per level. Cached.

        Returns ``(psi, solve, logdet)``. Raises ``ValueError`` if the matrix
        is not positive definite.
        """
        if self._smw is not None:
            return self._smw
        h = self._h
        off = self._offsets
        _, base = self._paths()
        n_levels = len(self.ranks)
        psi = [None] * n_levels
        solve = np.empty((base[-1], off[-1]))
        sign = float(self.sign)
        logdet = float(np.sum(np.log(self._d)))
        leaf = h.bounds[-1]
        # The finest level's Gram matrices: by BLAS per group for large
        # groups, else made one at a time by smw_leaves.
        P = group_gram(self._F, self._scaled(), leaf) if _blas(leaf) else None
        for level in range(n_levels - 1, -1, -1):
            R = off[level]
            if level > 0:
                children = h.child_bounds[level - 1]
            else:
                children = np.array([0, h.n_groups[0]], dtype=np.intp)
            parents = np.empty((children.size - 1, R, R))
            psi[level] = np.empty(
                (h.n_groups[level], off[level + 1], self.ranks[level])
            )
            rows = solve[base[level] : base[level + 1]]
            if P is None:
                logdet += smw_leaves(
                    self._F,
                    self._d,
                    leaf,
                    R,
                    sign,
                    children,
                    parents,
                    psi[level],
                    rows,
                )
            else:
                logdet += smw_level(P, R, sign, children, parents, psi[level], rows)
            if np.isnan(logdet):
                raise ValueError(
                    "The MLR matrix is not positive definite (a Schur complement "
                    f"of level {level} is not positive definite)."
                )
            if not np.isfinite(logdet):
                raise ValueError("The MLR matrix is not positive definite.")
            P = parents
        self._smw = (psi, solve, logdet)
        return self._smw

    def logdet(self):
        """Log-determinant :math:`\\log\\det A` (the matrix must be positive definite).

        Returns
        -------
        logdet : float
        """
        known = self._known_inverse()
        if self._smw is None and known is not None and known._smw is not None:
            return -known._smw[2]
        return self._smw_recursion()[2]

    def inv(self):
        """The inverse, an MLR matrix :math:`D^{-1} - s H H^T` on the same hierarchy.

        Computed by the recursive Sherman-Morrison-Woodbury identity, from
        the finest level to the coarsest; cached.

        Returns
        -------
        inverse : MLRMatrix
            Same hierarchy and ranks, diagonal :math:`1/d`, sign :math:`-s`.

        Raises
        ------
        ValueError
            If the matrix is not positive definite.
        """
        known = self._known_inverse()
        if known is not None:
            return known
        _, solve, _ = self._smw_recursion()
        h = self._h
        path, _ = self._paths()
        offsets = np.asarray(self._offsets, dtype=np.intp)
        sign, leaf, rank = float(self.sign), h.bounds[-1], self._F.shape[1]
        if _blas(leaf) and rank:
            # Large finest groups: row i of H is the same linear map of
            # F_i / d_i for all the rows of a leaf; its matrix is that of the
            # rows of the identity, then one BLAS product per leaf.
            n_leaves = h.n_groups[-1]
            maps = np.empty((n_leaves * rank, rank))
            identity = np.tile(np.eye(rank), (n_leaves, 1))
            bounds = np.arange(0, (n_leaves + 1) * rank, rank)
            ones = np.ones(n_leaves * rank)
            inverse_rows(identity, ones, solve, path, bounds, offsets, sign, maps)
            H = np.zeros_like(self._F)
            group_product(self._scaled(), maps.reshape(n_leaves, rank, rank), leaf, H)
        else:
            H = np.empty_like(self._F)
            inverse_rows(self._F, self._d, solve, path, leaf, offsets, sign, H)
        inverse = MLRMatrix._from_permuted(h, H, 1.0 / self._d, self.ranks, -self.sign)
        inverse._inverse_of = weakref.ref(self)
        self._inverse = inverse
        return inverse

    def solve(self, b):
        """Solve :math:`A x = b` with the structured inverse.

        Parameters
        ----------
        b : array-like of shape (n_features,) or (n_features, k)

        Returns
        -------
        x : ndarray of the shape of ``b``
        """
        return self.inv().matvec(b)

    def logpdf(self, X, mean=None):
        """Log-density of :math:`\\mathcal{N}(\\mu, A)` at the rows of ``X``.

        Uses the structured inverse and log-determinant (``sign=1`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        mean : array-like of shape (n_features,), default=None
            :math:`\\mu`; zero when None.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        if self.sign != 1:
            raise ValueError("logpdf needs a covariance D + F F^T (sign=1).")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.shape[0]:
            raise ValueError(
                f"X must have shape (n_samples, {self.shape[0]}), got {X.shape}."
            )
        h = self._h
        Yt = np.array(X.T[h.perm], order="C")
        if mean is not None:
            Yt -= np.asarray(mean, dtype=np.float64)[h.perm][:, None]
        quad = np.einsum("ij,ij->j", Yt, self.inv()._apply_permuted(Yt))
        return gaussian_log_density(quad, self.logdet(), self.shape[0])

    def sample(self, n_samples=1, random_state=None):
        """Draw samples of :math:`\\mathcal{N}(0, A)`, as :math:`F z + D^{1/2} e`.

        Only for ``sign=1`` (a covariance :math:`D + F F^T`); costs
        :math:`O(n r)` per sample.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        if self.sign != 1:
            raise ValueError(
                "Sampling needs a covariance D + F F^T (sign=1); this MLR matrix "
                "has sign=-1."
            )
        if (
            isinstance(n_samples, bool)
            or not isinstance(n_samples, Integral)
            or n_samples < 1
        ):
            raise ValueError(
                f"n_samples must be a positive integer, got {n_samples!r}."
            )
        return self._sample(n_samples, check_random_state(random_state))[0]

    def _sample(self, n_samples, rng):
        """Samples and the latent factors ``z`` that made them (no validation).

        Returns ``(X, latent)``, ``latent[l]`` of shape
        ``(n_groups_l, r_l, n_samples)``: the factors of every group of level
        ``l``, canonical group order of the hierarchy.
        """
        h = self._h
        latent = [
            rng.standard_normal((h.n_groups[lev], self.ranks[lev], n_samples))
            for lev in range(len(self.ranks))
        ]
        noise = rng.standard_normal((h.n_features, n_samples))
        block = noise * np.sqrt(self._d)[:, None]
        for level in range(len(self.ranks)):
            group_product(self._level(level), latent[level], h.bounds[level], block)
        samples = np.empty((n_samples, h.n_features))
        samples[:, h.perm] = block.T
        return samples, latent
