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

**Frobenius start of Kullback-Leibler coordinate descent**
(:func:`frobenius_start`). Near a good fit,
:math:`D_1(x \mid y) = x\log(x/y) - x + y \approx (x - y)^2 / (2y)`, so with
:math:`c` a typical entry of the model the Kullback-Leibler problem is close
to

.. math::

    \frac{1}{2c}\|X - WH\|_F^2 + \alpha_W g_W(W) + \alpha_H g_H(H),

that is, to the Frobenius problem with penalty weights :math:`c\,\alpha_W`
and :math:`c\,\alpha_H`; :math:`c` is the mean nonzero entry of
:math:`X`. An accelerated HALS iteration on it costs two products with
:math:`X`, a fraction of a Kullback-Leibler sweep (a ratio, a logarithm and
several Newton steps per entry), and from the usual starts it reaches the
neighbourhood of a Kullback-Leibler minimizer in tens of iterations, as
many as coordinate descent needs to get there. So coordinate descent
starts with at most :data:`FROBENIUS_START_MAX_ITER` of them, stopped by
the relative change :data:`FROBENIUS_START_TOL` of that objective, and
keeps their result only if its Kullback-Leibler objective is below the
starting one (otherwise it starts from the given factors). The history of
the fit starts after it: the objective stays non-increasing from there.

The start runs only where a HALS iteration is cheap: its sweeps cost about
:math:`(m + n)r^2` flops, its products with :math:`X` :math:`2Kr` (:math:`K`
the nonzeros of :math:`X`), a Kullback-Leibler sweep a few :math:`Kr`; so
it needs :math:`(m + n)r \le K` (:func:`frobenius_start_pays`; every dense
matrix up to rank :math:`mn/(m + n)`, sparse ones with at least :math:`r`
nonzeros per row and column on average). On 2000 x 500 counts at 1%
density (4 nonzeros per row and column), rank 500, the start took 200
iterations from 2.2 to 9.6 s.

Measured (``benchmarks/search_nmf_solver.py --start``, default settings,
draws the benchmark does not judge): on 40 dB draws from 60 x 50 to
1000 x 500 the fits took 0.43 of the time (mean; 0.90 at worst) and ended
0.12% higher on average (0.58% at worst; on draws 200-202, 0.39% and 1.6%:
the objective's slow tail, where the stopping rule ends both fits, starts
at a different point, and the plain fit's objective takes the start
``tol=1e-6``); on 10 dB draws 0.63 of the time, within 0.07%; on digits
and MovieLens lower on 20 of 24 fits (see the user guide).
"""

import numpy as np

from ..utils._monitor import ConvergenceMonitor
from ._hals import HALS
from ._kl_cd import kl_coordinate_descent
from ._mm_steps import Penalties, Penalty, make_penalties
from ._mu import run_monitored
from ._objective import EPSILON, n_nonzeros

#: Most HALS iterations of the Frobenius start of Kullback-Leibler
#: coordinate descent (see the module); 0 turns the start off.
FROBENIUS_START_MAX_ITER = 100
#: The Frobenius start stops once an iteration changes its objective by at
#: most this fraction.
FROBENIUS_START_TOL = 1e-3


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
    start_by_frobenius=True,
    max_iter=200,
    tol=1e-4,
    verbose=0,
    name="CD",
    objective_name="objective",
):
    """Coordinate descent on ``W`` and ``H`` (same arguments as ``fit_mu``;
    for Frobenius, ``n_inner="auto"`` runs accelerated HALS, see
    :mod:`~skfactor.decomposition._hals`; ``fit_H=False``, W alone, is for
    Kullback-Leibler only; ``start_by_frobenius``: Kullback-Leibler with
    ``fit_H`` starts with :func:`frobenius_start`).

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
        if fit_H and start_by_frobenius:
            frobenius_start(state, X, balance_every, verbose=verbose, name=name)
    W, H = run_monitored(state, monitor)
    return W, H, monitor


def matched_frobenius_penalties(X, penalties):
    """The penalties of the Frobenius problem matched to the
    Kullback-Leibler one on ``X``: weights times the mean nonzero entry of
    X (see the module)."""
    nonzeros = n_nonzeros(X)
    typical = float(X.sum()) / nonzeros if nonzeros else 1.0
    return Penalties(
        *(Penalty(p.alpha * typical, p.degree) for p in (penalties.W, penalties.H))
    )


def frobenius_start_pays(X, rank):
    """Whether ``(m + n) r <= K`` for the K nonzeros of X: the sweeps of a
    HALS iteration, about ``(m + n) r^2`` flops a pass, then cost at most
    half its products with X, ``2 K r`` (see the module)."""
    return (X.shape[0] + X.shape[1]) * rank <= n_nonzeros(X)


def frobenius_start(state, X, balance_every, *, verbose=0, name="CD"):
    """Move the Kullback-Leibler coordinate-descent ``state`` to the result
    of accelerated HALS on the matched Frobenius problem, if that lowers its
    objective (see the module). Returns whether it moved."""
    if FROBENIUS_START_MAX_ITER < 1 or not frobenius_start_pays(X, state.W.shape[1]):
        return False
    W, H = state.factors()
    before = state.start()
    hals = HALS(
        X,
        W,
        H,
        matched_frobenius_penalties(X, state.penalties),
        balance_every=balance_every,
        n_inner="auto",
    )
    monitor = ConvergenceMonitor(
        FROBENIUS_START_TOL,
        FROBENIUS_START_MAX_ITER,
        verbose=verbose,
        name=f"{name} (Frobenius start)",
        objective_name="matched Frobenius objective",
    )
    state.set_factors(*run_monitored(hals, monitor))
    # (the state keeps this objective for the first one of its own monitor)
    if state.start() < before:
        return True
    state.set_factors(W, H)
    return False
