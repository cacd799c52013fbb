"""Array copies inside compiled kernels.

numba's slice assignment of one array into another (``A[:] = B``,
``A[t] = B`` on a 3-D ``A``, ``A[k, :] = B[k]``) compiles the machinery of
its shape-mismatch error message, strings included: the first such
assignment in a process took about 4 s to compile (December 2026, numba
0.6x), later ones about 0.5 s each, against 0.1 s for the loops below. The
kernels therefore copy with :func:`copy_into` and :func:`copy_vector`.
"""

from numba import njit

__all__ = ["copy_into", "copy_vector"]


@njit(cache=True)
def copy_into(source, target):  # pragma: no cover (compiled)
    """``target[:, :] = source`` for 2-D arrays of the same shape, by loops.

    Examples
    --------
    >>> import numpy as np
    >>> target = np.zeros((2, 2))
    >>> copy_into(np.eye(2), target)
    >>> target
    array([[1., 0.],
           [0., 1.]])
    """
    for i in range(source.shape[0]):
        for k in range(source.shape[1]):
            target[i, k] = source[i, k]


@njit(cache=True)
def copy_vector(source, target):  # pragma: no cover (compiled)
    """``target[:] = source`` for 1-D arrays of the same size, by a loop.

    Examples
    --------
    >>> import numpy as np
    >>> target = np.zeros(3)
    >>> copy_vector(np.arange(3.0), target)
    >>> target
    array([0., 1., 2.])
    """
    for i in range(source.shape[0]):
        target[i] = source[i]
