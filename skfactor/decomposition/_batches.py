"""Compiled batches of iterations on small dense data.

On small dense data the Python work around an iteration (calls, checks,
the monitor) costs more than its arithmetic: at 60 x 50, rank 5, about two
thirds of a HALS iteration, and a fifth of a Kullback-Leibler
coordinate-descent iteration (30 iterations, interleaved in one process:
about 89 µs an iteration one at a time, 73 in batches; at 200 x 120, rank
8, the same). There the Frobenius solvers (HALS,
:mod:`~skfactor.decomposition._hals`; multiplicative updates,
:mod:`~skfactor.decomposition._frobenius_mu`) and
Kullback-Leibler coordinate descent by dense rows
(:mod:`~skfactor.decomposition._kl_cd`) run several iterations per
compiled call, with the products with :math:`X` by :func:`dense_times`
(up to rank 10; numba's BLAS above), and record
every iterate so that the monitor can stop inside a batch, as the compiled
Kullback-Leibler updates do (:mod:`~skfactor.decomposition._kl_mu`). Above
:data:`BATCH_MAX_WORK` the products dominate, batches gain nothing, and an
iteration is one call again (the multiplicative updates then keep no copy
of :math:`X^\top`)."""

import numpy as np
import scipy.sparse as sp
from numba import njit

from ..utils._arrays import copy_into

#: Dense data with at most this many ``m * n * r`` run compiled batches of
#: at most :data:`BATCH` iterations. Measured, time per iteration of batches
#: over single iterations (one BLAS thread for numpy's and scipy's, which
#: numba calls; December 2026, AMD EPYC): multiplicative updates 0.67 at
#: 100 x 80 x 8, 0.85 at 200 x 120 x 8, 0.97 at 300 x 200 x 8, 1.01 at
#: 500 x 300 x 10, 1.02 at 1000 x 500 x 10; accelerated HALS 0.69, 0.83,
#: 0.88, 0.96 and 0.98. The batches multiply by a C-contiguous copy of
#: :math:`X^\top`: numba's product with the transposed view is about a
#: third slower, and with it the limit was 150 000.
BATCH_MAX_WORK = 500_000
BATCH = 10


def batch_size(X, rank):
    """Iterations per compiled call for data ``X`` at ``rank``: 1 (no batch)
    for sparse or large data."""
    if sp.issparse(X) or X.shape[0] * X.shape[1] * rank > BATCH_MAX_WORK:
        return 1
    return BATCH


class BatchRecord:
    """Objectives and factors ``(W, Ht)`` after each iteration of a batch."""

    def __init__(self, n, W, Ht):
        self.values = np.empty(n)
        self.W = np.empty((n, *W.shape))
        self.Ht = np.empty((n, *Ht.shape))

    def arrays(self):
        """``(values, W, Ht)``, as the compiled batches take them."""
        return self.values, self.W, self.Ht

    def factors(self, step):
        """Copies of the factors after iteration ``step`` of the batch."""
        return np.array(self.W[step]), np.array(self.Ht[step])


@njit(cache=True)
def store_iterate(record, t, value, W, Ht):  # pragma: no cover (compiled)
    """Write iteration ``t``'s objective and factors into ``record``, the
    ``(values, W, Ht)`` of :meth:`BatchRecord.arrays`, inside a compiled
    batch (by loops: see :mod:`~skfactor.utils._arrays`)."""
    values, W_history, Ht_history = record
    values[t] = value
    copy_into(W, W_history[t])
    copy_into(Ht, Ht_history[t])


#: :func:`dense_times` sums into a ``rank x m`` buffer; above this many
#: entries (32 KiB) it would leave the first-level cache, and BLAS is faster.
PRODUCT_MAX_OUTPUT = 4096
#: ... and above this rank BLAS is faster too (60 x 50 and 100 x 100: about
#: even at rank 10-12, BLAS a third faster at 16, twice at 40).
PRODUCT_MAX_RANK = 10


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def dense_times(A, AT, F):  # pragma: no cover (compiled)
    r"""``A @ F`` (C-contiguous) for small dense ``A`` given with its
    C-contiguous transpose ``AT``, and C-contiguous ``F``.

    Rows of ``AT`` are added, four at a time, into the rows of
    :math:`(AF)^\top`, each a vectorized pass over contiguous memory that
    stays in the first-level cache. On the small products of the batches
    that is faster than numba's BLAS call (one BLAS thread, interleaved,
    best of 60, December 2026, AMD EPYC): :math:`XH^\top` and
    :math:`X^\top W` at 60 x 50, rank 5, 1.6-1.8 against 2.4 µs; 200 x 120,
    rank 8, 12-19 against 17-22 µs; 300 x 200, rank 8, 41-48 against 44-59
    µs; at ranks 3-4, two to three times faster. At 500 x 300, rank 10,
    BLAS is faster (114 against 144 µs).
    Above :data:`PRODUCT_MAX_OUTPUT` entries of the result or
    :data:`PRODUCT_MAX_RANK` columns, BLAS.
    """
    m = A.shape[0]
    n, r = F.shape
    if m * r > PRODUCT_MAX_OUTPUT or r > PRODUCT_MAX_RANK:
        return np.dot(A, F)
    out = np.zeros((r, m))
    j = 0
    while j + 3 < n:
        for k in range(r):
            f0, f1, f2, f3 = F[j, k], F[j + 1, k], F[j + 2, k], F[j + 3, k]
            for i in range(m):
                out[k, i] += (
                    f0 * AT[j, i]
                    + f1 * AT[j + 1, i]
                    + f2 * AT[j + 2, i]
                    + f3 * AT[j + 3, i]
                )
        j += 4
    while j < n:
        for k in range(r):
            f = F[j, k]
            for i in range(m):
                out[k, i] += f * AT[j, i]
        j += 1
    return np.ascontiguousarray(out.T)
