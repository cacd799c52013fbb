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

Its iterations are extrapolated (:mod:`~skfactor.decomposition._extrapolation`,
:data:`EXTRAPOLATE_START`) where the data have at least
:data:`EXTRAPOLATION_MIN_WORK` nonzeros times components, and on the sketch:
about 20-30% fewer iterations to the same tolerance.

**The start fits a sketch of X** where its products with X dominate
(:func:`sketch_pays`): HALS runs on :math:`QQ^\top X`, the projection of
:math:`X` on a randomized approximation of its range with
:math:`l = r +` :data:`SKETCH_OVERSAMPLES` columns
(:func:`~skfactor.utils._linalg.low_rank_projection`, Halko, Martinsson
and Tropp; :data:`SKETCH_POWER_ITERATIONS` power iterations), kept in the
factored form :math:`Q \cdot (Q^\top X)`
(:class:`~skfactor.decomposition._hals.LowRankHALS`), so that a product
visits :math:`(m + n)l` entries instead of :math:`K` (the compressed NMF of
Tepper and Sapiro, and the randomized HALS of Erichson et al., used here
for the start only: the Kullback-Leibler iterations after it fit
:math:`X`). The start only needs to reach the neighbourhood of a minimizer,
and the data it is meant for (counts from a rank-:math:`r` model) are close
to rank :math:`r`. It is used when HALS on :math:`X` would not run in
compiled batches (their iterations cost less than the sketch saves: no gain
at 200 x 120, rank 8, also with the sketch's iterations in compiled
batches (tried), where the sweeps over the factors cost as much as the
products) and the sketch's products visit at most a quarter of
the entries (:data:`SKETCH_GAIN`): dense matrices from about 300 x 200 up
at rank 10, not ``load_digits`` (1797 x 64) nor MovieLens-100k (sparse).
The sketch follows the estimator's ``random_state``.

**Frobenius coordinate descent is extrapolated** (:data:`EXTRAPOLATE_HALS`):
its accelerated HALS iterations after the single-sweep ones with
``n_inner="auto"`` (an integer runs plain HALS), and those of its start on
the sketch, which runs accelerated HALS whatever ``n_inner``. Measured
(``benchmarks/search_nmf_solver.py --extrapolate-hals`` and
``--stationary``, draws the benchmark does not judge): about a third fewer
iterations to scikit-learn's 200-iteration ``cd`` objective at 60 x 50 and
200 x 120 (38 and 43 on average instead of 59 and 66; as many of 20
fits as with plain iterations, 4 at 60 x 50, stop above it), and default-setting
fits ending lower on every one of 96 (synthetic, CSR and real data; up to
59% lower on breast cancer, where the plain iterations crawl).

**Frobenius HALS starts on the sketch too** (:func:`sketch_start`), under
the same rule: the minimizer of the sketch's problem is close to that of
X's (:math:`WH` has rank :math:`r \le l`, and the range of :math:`Q` holds
that of the model when X is close to rank :math:`r`), and an iteration on
the sketch costs a fraction of one on X, so accelerated HALS runs on it
until its objective changes by at most :data:`SKETCH_START_TOL`, then on X
(the fit's history starts there).

Measured (``benchmarks/search_nmf_solver.py --sketch``, default settings,
the start on X against on the sketch, draws 100-102, which the benchmark
does not judge, at 500 x 300, 1000 x 500 and 2000 x 1000, 40 and 10 dB,
both weights: 72 fits): Frobenius fits took 0.57 of the time (mean; 0.85
at worst) at 40 dB and 0.67 (1.12) at 10 dB and ended lower on every fit
(by 0.017% and 0.005% on average); Kullback-Leibler fits took 0.65 (1.00)
and 0.56 (0.86), ending 0.096% higher on average at 40 dB (0.57% at worst,
2000 x 1000 with weight 1: the slow tail of the objective again, where the
fits stopped after 12-15 iterations instead of 17-27) and 0.036% lower at
10 dB. Factor match scores were the same or higher (one 10 dB fit: 0.944
on X, 0.984 on the sketch).

References
----------
N. Halko, P.-G. Martinsson and J. A. Tropp, "Finding structure with
randomness: probabilistic algorithms for constructing approximate matrix
decompositions", SIAM Review 53(2), 2011.

M. Tepper and G. Sapiro, "Compressed nonnegative matrix factorization is
fast and accurate", IEEE Transactions on Signal Processing 64(9), 2016.

N. B. Erichson, A. Mendible, S. Wihlborn and J. N. Kutz, "Randomized
nonnegative matrix factorization", Pattern Recognition Letters 104, 2018.
"""

import numpy as np
import scipy.sparse as sp

from ..utils._linalg import low_rank_projection
from ..utils._monitor import ConvergenceMonitor
from ._batches import batch_size
from ._extrapolation import ExtrapolatedHALS, ExtrapolatedLowRankHALS
from ._hals import HALS, LowRankHALS
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
#: Whether the iterations of the Frobenius start are extrapolated
#: (:mod:`~skfactor.decomposition._extrapolation`), on the sketch and on X
#: with at least EXTRAPOLATION_MIN_WORK nonzeros times components (below,
#: at 60 x 50, rank 5, an extrapolated iteration cost about 15% more than
#: a plain one, and the start was slower on 2 of 6 draws and weights; from
#: 100 x 80, rank 8, up it was 5-15% faster on every one of 9, December
#: 2026).
EXTRAPOLATE_START = True
EXTRAPOLATION_MIN_WORK = 50_000
#: Whether Frobenius coordinate descent extrapolates its iterations (with
#: ``n_inner="auto"``, accelerated HALS) and those of its start on the
#: sketch (see the module).
EXTRAPOLATE_HALS = True
#: The sketch of X the Frobenius start fits, where it pays (see the module):
#: ``n_components`` plus this many columns, this many power iterations, used
#: when its products cost at most 1 / SKETCH_GAIN of those with X.
SKETCH_OVERSAMPLES = 10
SKETCH_POWER_ITERATIONS = 2
SKETCH_GAIN = 4
#: Most iterations of a start on the sketch (iterations on it are cheap, and
#: accelerated HALS sweeps less often per iteration there); 0 turns the
#: sketch start of Frobenius HALS off.
SKETCH_MAX_ITER = 300
#: The sketch start of Frobenius HALS stops once an iteration changes its
#: objective by at most this fraction.
SKETCH_START_TOL = 1e-5


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
    random_state=0,
    max_iter=200,
    tol=1e-4,
    verbose=0,
    name="CD",
    objective_name="objective",
):
    """Coordinate descent on ``W`` and ``H`` (same arguments as ``fit_mu``;
    for Frobenius, ``n_inner="auto"`` runs accelerated HALS, see
    :mod:`~skfactor.decomposition._hals`; ``fit_H=False``, W alone, is for
    Kullback-Leibler only; ``start_by_frobenius``: with ``fit_H``,
    Kullback-Leibler starts with :func:`frobenius_start`, Frobenius with
    :func:`sketch_start`; ``random_state`` seeds their sketch of X).

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
        extrapolate = EXTRAPOLATE_HALS and n_inner == "auto"
        state = (ExtrapolatedHALS if extrapolate else HALS)(
            X, W, H, penalties, **options
        )
        start = sketch_start
    else:
        state = kl_coordinate_descent(X, W, H, penalties, fit_H=fit_H, **options)
        start = frobenius_start
    if fit_H and start_by_frobenius:
        start(
            state,
            X,
            balance_every,
            random_state=random_state,
            verbose=verbose,
            name=name,
        )
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


def sketch_pays(X, rank):
    """Whether coordinate descent starts on a sketch of X
    (:func:`~skfactor.utils._linalg.low_rank_projection`): X is dense
    (sparse data, e.g. masked counts, are far from low rank: at 2000 x 1000
    with 80% of the entries zeroed, the fits took 1.3-2.4 times as long),
    HALS on X would not run in compiled batches (whose iterations cost less
    than the sketch saves, measured at 200 x 120, rank 8), and the products
    with the sketch visit at most 1 / ``SKETCH_GAIN`` of the entries that
    those with X do."""
    m, n = X.shape
    if sp.issparse(X) or batch_size(X, rank) > 1:
        return False
    return SKETCH_GAIN * (m + n) * (rank + SKETCH_OVERSAMPLES) <= n_nonzeros(X)


def _hals_start(
    state,
    X,
    penalties,
    balance_every,
    *,
    sketched,
    random_state,
    monitor,
    extrapolate=False,
):
    """Move ``state`` to the result of accelerated HALS with ``penalties`` on
    X, or on its sketch, run until ``monitor`` stops, if that lowers the
    state's objective; its iterations extrapolated
    (:mod:`~._extrapolation`) if ``extrapolate``. Returns whether it moved."""
    W, H = state.factors()
    before = state.start()
    options = dict(balance_every=balance_every, n_inner="auto")
    if sketched:
        Q, B = low_rank_projection(
            X,
            W.shape[1] + SKETCH_OVERSAMPLES,
            n_iter=SKETCH_POWER_ITERATIONS,
            random_state=random_state,
        )
        low_rank = ExtrapolatedLowRankHALS if extrapolate else LowRankHALS
        hals = low_rank(Q, B, W, H, penalties, **options)
    else:
        hals = (ExtrapolatedHALS if extrapolate else HALS)(
            X, W, H, penalties, **options
        )
    state.set_factors(*run_monitored(hals, monitor))
    # (the state keeps this objective for the first one of its own monitor)
    if state.start() < before:
        return True
    state.set_factors(W, H)
    return False


def frobenius_start(state, X, balance_every, *, random_state=0, verbose=0, name="CD"):
    """Move the Kullback-Leibler coordinate-descent ``state`` to the result
    of accelerated HALS on the matched Frobenius problem (of the sketch of X
    where :func:`sketch_pays`), if that lowers its objective (see the
    module). Returns whether it moved."""
    rank = state.W.shape[1]
    if FROBENIUS_START_MAX_ITER < 1 or not frobenius_start_pays(X, rank):
        return False
    sketched = sketch_pays(X, rank)
    monitor = ConvergenceMonitor(
        FROBENIUS_START_TOL,
        SKETCH_MAX_ITER if sketched else FROBENIUS_START_MAX_ITER,
        verbose=verbose,
        name=f"{name} (Frobenius start)",
        objective_name="matched Frobenius objective",
    )
    return _hals_start(
        state,
        X,
        matched_frobenius_penalties(X, state.penalties),
        balance_every,
        sketched=sketched,
        random_state=random_state,
        monitor=monitor,
        extrapolate=EXTRAPOLATE_START
        and (sketched or n_nonzeros(X) * rank >= EXTRAPOLATION_MIN_WORK),
    )


def sketch_start(state, X, balance_every, *, random_state=0, verbose=0, name="CD"):
    """Move the HALS ``state`` of a Frobenius fit to the result of
    accelerated HALS on the sketch of X, if :func:`sketch_pays` and that
    lowers its objective (see the module). Returns whether it moved."""
    if SKETCH_MAX_ITER < 1 or not sketch_pays(X, state.W.shape[1]):
        return False
    monitor = ConvergenceMonitor(
        SKETCH_START_TOL,
        SKETCH_MAX_ITER,
        verbose=verbose,
        name=f"{name} (sketch start)",
        objective_name="objective of the sketch",
    )
    return _hals_start(
        state,
        X,
        state.penalties,
        balance_every,
        sketched=True,
        random_state=random_state,
        monitor=monitor,
        extrapolate=EXTRAPOLATE_HALS,
    )
