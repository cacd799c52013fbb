"""Stopping rule, verbose output and convergence warning of iterative solvers.

Every iterative solver of the package (multiplicative updates, ALS/HALS,
proximal gradient, EM, block coordinate descent) stops on the same rule and
reports progress the same way, so it is written once, here.
"""

import math
import os
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning

_TINY = np.finfo(float).tiny

# Frames inside these packages are skipped when a warning looks for the line
# of the user's code that caused it.
_INTERNAL_DIRS = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
    os.path.dirname(os.path.abspath(sklearn.__file__)) + os.sep,
)


def external_stacklevel():
    """Stack level of the first caller outside skfactor and scikit-learn.

    ``warnings.warn(..., stacklevel=external_stacklevel())`` attributes the
    warning to the user's line (the call to ``fit``, a pipeline or a grid
    search), however deep inside the package it was raised.

    Returns
    -------
    stacklevel : int
        Level to pass to :func:`warnings.warn` from the calling function.
    """
    frame = sys._getframe(1)  # the function that will call warnings.warn
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _INTERNAL_DIRS
    ):
        frame = frame.f_back
        level += 1
    return level


def warn_at_caller(message, category=UserWarning):
    """Issue a warning attributed to the first caller outside the package.

    Parameters
    ----------
    message : str
        The warning message.
    category : type of Warning, default=UserWarning
        The warning class.
    """
    warnings.warn(message, category, stacklevel=external_stacklevel())


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
        ``1`` prints the objective about every tenth of ``max_iter`` (and at
        the last iteration), ``2`` or more at every iteration, ``0`` never.
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
        done = self.converged or self.n_iter >= self.max_iter
        if self._should_print(done):
            elapsed = time.perf_counter() - self._t0
            print(
                f"[{self.name}] iteration {self.n_iter:4d}: {self.objective_name} "
                f"{objective:.8e}, relative change {change:.3e} ({elapsed:.2f} s)"
            )
        return done

    def _should_print(self, done):
        """Verbose cadence: every iteration from level 2, a tenth at level 1."""
        if not self.verbose:
            return False
        if self.verbose >= 2 or done:
            return True
        every = max(1, math.ceil(self.max_iter / 10))
        return self.n_iter % every == 0

    def warn_if_not_converged(self):
        """Issue a ``ConvergenceWarning`` if the stopping rule was not met.

        The warning points at the user's line, not inside the package.
        """
        if not self.converged and self.tol > 0:
            warn_at_caller(
                f"{self.name} did not converge in max_iter={self.max_iter} "
                f"iterations (tol={self.tol:g}). Increase max_iter or tol.",
                ConvergenceWarning,
            )
