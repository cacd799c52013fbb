"""Verbose output of the decomposition solvers: a line every ~10% of iterations.

:class:`ProgressMonitor` is the package's
:class:`~skfactor.utils._monitor.ConvergenceMonitor` (same stopping rule,
history and warnings) whose ``verbose=1`` output is the initialization, one
line every ``max(1, max_iter // 10)`` iterations and the last iteration,
instead of every iteration (2000 lines for ``max_iter=2000``); ``verbose >= 2``
prints every iteration.
"""

import time

from ..utils._monitor import ConvergenceMonitor

#: Lines of verbose output per run, about (plus the first and the last).
LINES = 10


class ProgressMonitor(ConvergenceMonitor):
    """:class:`~skfactor.utils._monitor.ConvergenceMonitor` printing sparsely.

    Examples
    --------
    >>> monitor = ProgressMonitor(tol=0, max_iter=30, verbose=1, name="demo")
    >>> monitor.start(1.0)  # doctest: +ELLIPSIS
    [demo] initialization: objective 1.00000000e+00
    >>> lines = [monitor.update(1.0 / k) for k in range(2, 32)]  # doctest: +ELLIPSIS
    [demo] iteration    3: ...
    [demo] iteration    6: ...
    [demo] iteration    9: ...
    [demo] iteration   12: ...
    [demo] iteration   15: ...
    [demo] iteration   18: ...
    [demo] iteration   21: ...
    [demo] iteration   24: ...
    [demo] iteration   27: ...
    [demo] iteration   30: ...
    """

    def update(self, objective):
        verbose = self.verbose
        self.verbose = 0
        try:
            stop = super().update(objective)
        finally:
            self.verbose = verbose
        every = max(1, self.max_iter // LINES)
        if verbose and (verbose > 1 or stop or self.n_iter % every == 0):
            previous, current = self.history[-2], self.history[-1]
            change = abs(previous - current) / max(abs(previous), 1e-308)
            elapsed = time.perf_counter() - self._t0
            print(
                f"[{self.name}] iteration {self.n_iter:4d}: {self.objective_name} "
                f"{current:.8e}, relative change {change:.3e} ({elapsed:.2f} s)"
            )
        return stop
