r"""Coordinate-descent solvers of penalized NMF: the driver.

:func:`fit_cd` alternates sweeps over :math:`W` and :math:`H` and balances
the components after each outer iteration, as :func:`~._mu.fit_mu` does for
multiplicative updates: Kullback-Leibler by cyclic coordinate descent with
one-dimensional Newton steps (:mod:`~skfactor.decomposition._kl_cd`, Hsieh
and Dhillon, 2011), Frobenius by HALS (:mod:`~skfactor.decomposition._hals`).
Every sweep decreases the objective

.. math::

    D_\beta(X \mid WH) + \alpha_W g_W(W) + \alpha_H g_H(H)

and balancing never increases it, so the objective is non-increasing.
"""

import numpy as np

from ..utils._monitor import ConvergenceMonitor
from ._hals import HALS
from ._kl_cd import kl_coordinate_descent
from ._mm_steps import make_penalties
from ._mu import run_monitored
from ._objective import EPSILON


def fit_cd(
    X,
    W,
    H,
    *,
    beta,
    alpha_W,
    alpha_H,
    penalty_W,
    penalty_H,
    balance_every=True,
    fit_H=True,
    n_inner=1,
    max_iter=200,
    tol=1e-4,
    verbose=0,
    name="CD",
    objective_name="objective",
):
    """Coordinate descent on ``W`` and ``H`` (same arguments as ``fit_mu``;
    for Frobenius, ``n_inner="auto"`` runs accelerated HALS, see
    :mod:`~skfactor.decomposition._hals`; ``fit_H=False``, W alone, is for
    Kullback-Leibler only).

    Returns
    -------
    W, H : ndarray
        Final factors.
    monitor : ConvergenceMonitor
        ``monitor.history`` holds the objective at initialization and after
        each iteration.
    """
    monitor = ConvergenceMonitor(
        tol, max_iter, verbose=verbose, name=name, objective_name=objective_name
    )
    W, H = np.maximum(W, EPSILON), np.maximum(H, EPSILON)  # feasible start
    penalties = make_penalties(alpha_W, alpha_H, penalty_W, penalty_H)
    options = dict(balance_every=balance_every, n_inner=n_inner)
    if beta == 2:
        if not fit_H:
            raise ValueError("fit_H=False: HALS updates both factors")
        state = HALS(X, W, H, penalties, **options)
    else:
        state = kl_coordinate_descent(X, W, H, penalties, fit_H=fit_H, **options)
    W, H = run_monitored(state, monitor)
    return W, H, monitor
