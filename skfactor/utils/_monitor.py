"""Stopping rule, verbose output and convergence warning of iterative solvers.

Every iterative solver of the package (multiplicative updates, ALS/HALS,
proximal gradient, EM, block coordinate descent) stops on the same rule and
reports progress the same way, so it is written once, here.
"""

import math
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning


_TINY = np.finfo(float).tiny


class NonFiniteObjectiveError(ValueError, FloatingPointError):
    """The objective of an iterative solver became NaN or infinite.

    A ``ValueError`` (the usual cause is the scale of the input or a step or
    regularization parameter) that is also a ``FloatingPointError``.
    """


class ConvergenceMonitor:
    """Track an objective over iterations and decide when to stop.

    The solver is declared converged at the first iteration whose relative
    change of the objective is at most ``tol``:

    .. math::

        |f_{k-1} - f_k| \\le \\mathrm{tol} \\cdot \\max(|f_{k-1}|, \\epsilon),

    with :math:`\\epsilon` the smallest positive normal float.

    Parameters
    ----------
    tol : float
        Tolerance on the relative change of the objective. ``0`` runs
        ``max_iter`` iterations.
    max_iter : int
        Maximum number of iterations.
    verbose : int, default=0
        Print the objective at every iteration when positive.
    name : str, default=""
        Name of the solver, shown in the verbose output and warnings.
    objective_name : str, default="objective"
        What the tracked value is called in the verbose output.

    Attributes
    ----------
    history : list of float
        Objective at initialization followed by one value per iteration.
    n_iter : int
        Number of iterations recorded with :meth:`update`.
    converged : bool
        Whether the stopping rule was met.

    Examples
    --------
    >>> from skfactor.utils._monitor import ConvergenceMonitor
    >>> monitor = ConvergenceMonitor(tol=1e-3, max_iter=100)
    >>> monitor.start(10.0)
    >>> [monitor.update(f) for f in (5.0, 4.999)]
    [False, True]
    >>> monitor.n_iter, monitor.converged
    (2, True)
    """

    def __init__(self, tol, max_iter, verbose=0, name="", objective_name="objective"):
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.name = name
        self.objective_name = objective_name
        self.history = []
        self.converged = False
        self._t0 = None

    @property
    def n_iter(self):
        return max(len(self.history) - 1, 0)

    def start(self, objective):
        """Record the objective at initialization."""
        self.history = [float(objective)]
        self.converged = False
        self._t0 = time.perf_counter()
        if self.verbose:
            print(
                f"[{self.name}] initialization: {self.objective_name} {objective:.8e}"
            )

    def update(self, objective):
        """Record one iteration; return True when the solver should stop.

        Returns True when converged or when ``max_iter`` iterations are done.
        A non-finite objective raises :class:`NonFiniteObjectiveError` (a
        ``ValueError`` and ``FloatingPointError``) naming the iteration, so a
        diverging solver never returns NaN silently.
        """
        objective = float(objective)
        if not math.isfinite(objective):
            raise NonFiniteObjectiveError(
                f"{self.name}: the {self.objective_name} became {objective} at "
                f"iteration {self.n_iter + 1}; the solver diverged. Check the "
                "input scale and the step size or regularization parameters."
            )
        previous = self.history[-1]
        self.history.append(objective)
        change = abs(previous - objective) / max(abs(previous), _TINY)
        self.converged = change <= self.tol
        if self.verbose:
            elapsed = time.perf_counter() - self._t0
            print(
                f"[{self.name}] iteration {self.n_iter:4d}: {self.objective_name} "
                f"{objective:.8e}, relative change {change:.3e} ({elapsed:.2f} s)"
            )
        return self.converged or self.n_iter >= self.max_iter

    def warn_if_not_converged(self):
        """Issue a ``ConvergenceWarning`` if the stopping rule was not met."""
        if not self.converged and self.tol > 0:
            warnings.warn(
                f"{self.name} did not converge in max_iter={self.max_iter} "
                f"iterations (tol={self.tol:g}). Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
