"""One BLAS thread for code whose linear algebra is small.

:func:`threadpoolctl.threadpool_limits` finds the loaded BLAS libraries
anew at every call (it reads the process's memory map, several
milliseconds), a cost that shows on fits of a tenth of a second. The
libraries are found once per process here, as scikit-learn does, and every
limit reuses them.
"""

from functools import lru_cache

from threadpoolctl import ThreadpoolController

__all__ = ["single_blas_thread"]


@lru_cache(maxsize=1)
def _controller():
    return ThreadpoolController()


def single_blas_thread():
    """Context manager limiting the BLAS libraries of this process to one thread.

    Examples
    --------
    >>> import numpy as np
    >>> with single_blas_thread():
    ...     float(np.ones(3) @ np.ones(3))
    3.0
    """
    return _controller().limit(limits=1, user_api="blas")
