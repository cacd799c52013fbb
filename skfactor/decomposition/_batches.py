"""Compiled batches of Frobenius iterations on small dense data.

On small dense data the Python work around an iteration (calls, checks,
the monitor) costs more than its arithmetic: at 60 x 50, rank 5, about two
thirds of a HALS iteration. There the Frobenius solvers (HALS,
:mod:`~skfactor.decomposition._hals`; multiplicative updates,
:mod:`~skfactor.decomposition._frobenius_mu`) run several iterations per
compiled call, with the products with :math:`X` by numba's BLAS, and record
every iterate so that the monitor can stop inside a batch, as the compiled
Kullback-Leibler updates do (:mod:`~skfactor.decomposition._kl_mu`). Above
:data:`BATCH_MAX_WORK` numpy's BLAS is faster for those products and an
iteration is one call again.
"""

import numpy as np
import scipy.sparse as sp

#: Dense data with at most this many ``m * n * r`` run compiled batches of
#: at most :data:`BATCH` iterations. Measured, time per iteration of batches
#: over single iterations (one BLAS thread): HALS 0.62 at 60 x 50 x 5, 0.97
#: at 200 x 120 x 8, 1.03 at 300 x 200 x 8, 1.10 at 500 x 300 x 10;
#: multiplicative updates 0.68 at 60 x 50 x 5, 0.88 at 100 x 80 x 8, about
#: 1 at 150 x 100 x 8, 1.05 at 200 x 120 x 8.
BATCH_MAX_WORK = 150_000
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
