r"""HALS block updates for sparse nonnegative Tucker with the Frobenius loss.

For :math:`\frac12\|T - G \times_0 A_0 \cdots \times_{N-1} A_{N-1}\|_F^2`
plus the penalties of :mod:`skfactor.tensor._ntd_mu`, every block is a
nonnegative least-squares problem whose objective restricted to one column
of a factor, or one entry of the core, is a separable quadratic. Its exact
minimizer is the HALS step of Frobenius NMF
(:func:`skfactor.decomposition._hals.hals_columns`, Cichocki and Phan):

- factor :math:`A_n`: the NMF :math:`T_{(n)} \approx A_n B_n`,
  :math:`B_n = G_{(n)} (\bigotimes_{k \ne n} A_k)^T`, with
  :math:`T_{(n)} B_n^T = (T \times_{k \ne n} A_k^T)_{(n)} G_{(n)}^T` and
  :math:`B_n B_n^T = (G \times_{k \ne n} A_k^T A_k)_{(n)} G_{(n)}^T`
  (mode products only, as for the multiplicative updates);
- core :math:`G`: :math:`\mathrm{vec}(T) \approx (\bigotimes_k A_k)
  \mathrm{vec}(G)`, a one-row NMF in :math:`\mathrm{vec}(G)^T` with
  :math:`\mathrm{vec}(T \times_k A_k^T)` and the Kronecker product of the
  Grams :math:`\bigotimes_k A_k^T A_k` (C order): one HALS sweep is cyclic
  coordinate descent over the core entries. The Kronecker matrix has
  :math:`|G|^2` entries, so cores larger than :data:`CORE_MAX_SIZE` take
  the multiplicative update instead.

Every sweep minimizes the objective exactly in each column (entry) in
turn, so the objective never increases. Because the products with the
data do not change during a block update, a block repeats its sweeps at the
cost of small products only: :data:`FACTOR_SWEEPS` sweeps per factor (as
tensorly's ``non_negative_tucker_hals``), and for the core up to
:data:`CORE_SWEEPS`, stopping once a sweep changes the core by less than
:math:`10^{-6}` of its norm (a near-exact core solve, as tensorly's inner
FISTA, where the Grams are well conditioned); that loop is compiled
(:func:`_core_sweeps`).

The public functions are pure: they return new arrays (the compiled sweeps
work in place on their copies).

References
----------
A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale
nonnegative matrix and tensor factorizations", IEICE Transactions on
Fundamentals, 2009.
"""

import numpy as np
from numba import njit

from ..decomposition._hals import hals_columns, inner_sweeps
from ..decomposition._mm_steps import Penalty
from ..utils._arrays import copy_into
from ..utils._penalties import penalty_degree
from ._tensor_algebra import contraction_order, mode_dot, multi_mode_dot, unfold

__all__ = [
    "CORE_MAX_SIZE",
    "gram_kronecker",
    "hals_update_core",
    "hals_update_factor",
    "project_others",
]

#: HALS sweeps per factor and outer iteration.
FACTOR_SWEEPS = 5
#: At most this many HALS sweeps over the core per outer iteration.
CORE_SWEEPS = 50
#: Cores with more entries than this take the multiplicative update (the
#: Kronecker product of the Grams would need ``size**2`` floats).
CORE_MAX_SIZE = 2048
_CORE_RTOL = 1e-6


def _penalty(problem, block):
    return Penalty(
        float(problem.weights[block]), penalty_degree(problem.penalties[block])
    )


def project_others(tensor, factors, mode, reuse=None):
    r"""The projection :math:`T \times_{k \ne n} A_k^\top` of the data.

    The products are those of :func:`~._tensor_algebra.multi_mode_dot`, in
    its order (:func:`~._tensor_algebra.contraction_order`). The first, the
    only one with the whole data, is taken from ``reuse`` when that is the
    product of the same mode with the same factor (the same array object;
    the solvers never modify a factor in place): the updates of modes 1 and
    2 of a three-way tensor both start with :math:`T \times_0 A_0^\top`,
    the new :math:`A_0`.

    Parameters
    ----------
    tensor : ndarray of shape (I_0, ..., I_{N-1})
    factors : list of N ndarray of shape (I_k, r_k)
    mode : int
        The mode :math:`n` left out.
    reuse : tuple (k, A_k, T x_k A_k^T) or None, default=None
        The ``first`` of an earlier call.

    Returns
    -------
    projected : ndarray
        With :math:`I_n` at ``mode`` and :math:`r_k` elsewhere.
    first : tuple (k, A_k, T x_k A_k^T)
        The first product, for the next call.
    """
    order = contraction_order([f.T for f in factors], skip=mode)
    k = order[0]
    if reuse is not None and reuse[0] == k and reuse[1] is factors[k]:
        first = reuse
    else:
        first = (k, factors[k], mode_dot(tensor, factors[k].T, k))
    projected = first[2]
    for k in order[1:]:
        projected = mode_dot(projected, factors[k].T, k)
    return projected, first


def hals_update_factor(
    tensor, core, factors, mode, problem, projected=None, grams=None
):
    r""":data:`FACTOR_SWEEPS` HALS sweeps over the columns of ``factors[mode]``.

    ``projected``, :math:`T \times_{k \ne n} A_k^\top`
    (:func:`project_others`), and ``grams``, the :math:`A_k^\top A_k`, are
    computed when not given.
    """
    core_unfolded = unfold(core, mode)
    if projected is None:
        projected = project_others(tensor, factors, mode)[0]
    if grams is None:
        grams = [f.T @ f for f in factors]
    numerator = np.ascontiguousarray(unfold(projected, mode) @ core_unfolded.T)
    normal = unfold(multi_mode_dot(core, grams, skip=mode), mode) @ core_unfolded.T
    normal = np.ascontiguousarray(normal)
    factor = np.array(factors[mode], dtype=np.float64, order="C")
    weight = _penalty(problem, mode + 1)
    inner_sweeps(factor, numerator, normal, weight, FACTOR_SWEEPS, 0.0)
    return factor


def hals_update_core(tensor, core, factors, problem, projection=None, kron=None):
    r"""Coordinate descent over the core entries (at most :data:`CORE_SWEEPS`).

    ``projection``, :math:`T \times_k A_k^\top`, and ``kron``,
    :math:`\bigotimes_k A_k^\top A_k` (:func:`gram_kronecker`), are computed
    when not given.
    """
    if core.size > CORE_MAX_SIZE:
        raise ValueError(f"core of {core.size} entries: use the multiplicative update")
    if projection is None:
        projection = multi_mode_dot(tensor, factors, transpose=True)
    if kron is None:
        kron = gram_kronecker([f.T @ f for f in factors])
    numerator = np.ascontiguousarray(projection.reshape(1, -1))
    entries = np.array(core, dtype=np.float64).reshape(1, -1)
    _core_sweeps(
        entries, numerator, kron, _penalty(problem, 0), CORE_SWEEPS, _CORE_RTOL
    )
    return entries.reshape(core.shape)


def gram_kronecker(grams):
    r""":math:`\bigotimes_k A_k^\top A_k` (C order) from the Grams.

    The matrix of the core's quadratic form:
    :math:`\|G \times_0 A_0 \cdots\|_F^2 = \mathrm{vec}(G)^\top K
    \mathrm{vec}(G)`.
    """
    kron = np.ones((1, 1))
    for gram in grams:
        kron = _kron(kron, gram)
    return kron


@njit(cache=True)
def _kron(a, b):
    """Kronecker product of two matrices (``np.kron``, without its overhead)."""
    n, p = a.shape
    m, q = b.shape
    out = np.empty((n * m, p * q))
    for i in range(n):
        for s in range(m):
            for j in range(p):
                for t in range(q):
                    out[i * m + s, j * q + t] = a[i, j] * b[s, t]
    return out


@njit(cache=True)
def _core_sweeps(entries, numerator, kron, weight, max_sweeps, rtol):
    r"""HALS sweeps over the core entries until they settle, compiled.

    Each sweep is :func:`~skfactor.decomposition._hals.hals_columns` on the
    one-row problem; the loop stops after the first sweep that changes the
    entries by at most ``rtol`` times their norm (both Euclidean), or after
    ``max_sweeps``.

    Parameters
    ----------
    entries : ndarray of shape (1, |G|)
        :math:`\mathrm{vec}(G)^\top`, C-contiguous, updated in place.
    numerator : ndarray of shape (1, |G|)
        :math:`\mathrm{vec}(T \times_k A_k^\top)^\top`.
    kron : ndarray of shape (|G|, |G|)
        :math:`\bigotimes_k A_k^\top A_k`.
    weight : Penalty
        Penalty of the core.
    max_sweeps : int
    rtol : float

    Returns
    -------
    n_sweeps : int
        Number of sweeps run.
    """
    before = np.empty_like(entries)
    for sweep in range(1, max_sweeps + 1):
        copy_into(entries, before)
        hals_columns(entries, numerator, kron, weight)
        change = 0.0
        size = 0.0
        for j in range(entries.shape[1]):
            change += (entries[0, j] - before[0, j]) ** 2
            size += entries[0, j] ** 2
        if np.sqrt(change) <= rtol * np.sqrt(size):
            return sweep
    return max_sweeps
