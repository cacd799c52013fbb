r"""Block coordinate descent on the relaxed problem (2) of Zhu et al. (2025).

The full objective, in the regime parameters :math:`\theta_k = (\beta_k,
b_k)` and the latent factors :math:`z_i \in \Delta_K`, is

.. math::

    J(\theta, z) = \sum_{i=1}^m \sum_{k=1}^K z_{ik} \, \ell_i(\theta_k)
        + \alpha \sum_{k=1}^K P(\beta_k)
        + \lambda \sum_{t=1}^{m-1} D_{\mathrm{KL}}(z_t, z_{t+1}),

multi-convex: convex in :math:`\theta` for fixed :math:`z` (P-step,
:mod:`._pstep`) and in :math:`z` for fixed :math:`\theta` (F-step,
:mod:`._fstep`). Alternating exact minimizations never increases
:math:`J`; :func:`run_bcd` stops on the relative change of :math:`J`
(:class:`~skfactor.utils._monitor.ConvergenceMonitor`).

A regime left with (almost) no weight has no data to fit; it is re-seeded
with the samples that the other regimes fit worst, with a warning, at most
``n_regimes`` times per run.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from ..utils._linalg import column_sums
from ..utils._monitor import ConvergenceMonitor
from ._fstep import CvxpyFStep, fstep, kl_chain
from ._pstep import penalty_term

# A regime with less total weight than this (in samples) is empty.
EMPTY_WEIGHT = 0.5
# Mixing of hard assignments with the uniform distribution when smoothing:
# keeps the KL term finite.
_SOFTEN = 1e-3


def one_hot(labels, n_regimes):
    Z = np.zeros((labels.shape[0], n_regimes))
    Z[np.arange(labels.shape[0]), labels] = 1.0
    return Z


def initial_assignments(init, n_regimes, random_state, features=None):
    """Initial latent factors, shape (n_samples, n_regimes).

    Parameters
    ----------
    init : {"random", "kmeans"} or ndarray
        ``"random"``: a random balanced partition (every regime gets
        ``n_samples // n_regimes`` or one more samples). ``"kmeans"``: the
        k-means clusters of the standardized ``features``. An array of shape
        (n_samples, n_regimes) (rows are normalized) or of integer labels of
        shape (n_samples,).
    n_regimes : int
    random_state : RandomState
    features : ndarray of shape (n_samples, n_columns)
        What k-means clusters (the estimators pass ``[X, y]``).
    """
    m = features.shape[0]
    if isinstance(init, str) and init == "random":
        labels = random_state.permutation(np.arange(m) % n_regimes)
        return one_hot(labels, n_regimes)
    if isinstance(init, str) and init == "kmeans":
        scaled = StandardScaler().fit_transform(features)
        seed = random_state.randint(np.iinfo(np.int32).max)
        with warnings.catch_warnings():
            # Duplicate points may give fewer distinct clusters; empty
            # regimes are handled by the BCD.
            warnings.simplefilter("ignore")
            labels = (
                KMeans(n_clusters=n_regimes, n_init=1, random_state=seed)
                .fit(scaled)
                .labels_
            )
        return one_hot(labels, n_regimes)
    return check_init_array(init, m, n_regimes)


def check_init_array(init, n_samples, n_regimes):
    """Validate an ``init`` array and return it as normalized assignments."""
    arr = np.asarray(init)
    if arr.ndim == 1:
        if arr.shape[0] != n_samples or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"init as labels must be an integer array of shape ({n_samples},); "
                f"got dtype {arr.dtype} and shape {arr.shape}."
            )
        if arr.min() < 0 or arr.max() >= n_regimes:
            raise ValueError(f"init labels must lie in 0..{n_regimes - 1}.")
        return one_hot(arr, n_regimes)
    if arr.shape != (n_samples, n_regimes):
        raise ValueError(
            f"init must have shape (n_samples, n_regimes) = ({n_samples}, "
            f"{n_regimes}) or ({n_samples},); got {arr.shape}."
        )
    arr = np.asarray(arr, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("init must be finite and nonnegative.")
    sums = arr.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise ValueError("Every row of init must have a positive sum.")
    return arr / sums


def transition_counts(labels, n_regimes):
    """Number of times label ``j`` is followed by label ``k``, at ``[j, k]``."""
    counts = np.zeros((n_regimes, n_regimes))
    np.add.at(counts, (labels[:-1], labels[1:]), 1.0)
    return counts


def transition_counts_matrix(labels, n_regimes):
    """Empirical transition matrix of a label sequence.

    Row ``j`` is the distribution of the label following label ``j``; a
    regime never followed by another sample gets a uniform row.
    """
    counts = transition_counts(labels, n_regimes)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(
        counts, totals, out=np.full_like(counts, 1.0 / n_regimes), where=totals > 0
    )


def bcd_objective(R, Z, coefs, penalty, alpha, smoothing):
    """Full objective :math:`J` from the loss matrix and the parameters."""
    value = float(np.sum(R * Z))
    value += sum(penalty_term(penalty, alpha, c) for c in coefs)
    if smoothing > 0 and Z.shape[0] > 1:
        value += smoothing * kl_chain(Z)
    return value


def _soften(Z, smoothing):
    if smoothing > 0:
        return (1.0 - _SOFTEN) * Z + _SOFTEN / Z.shape[1]
    return Z


def reseed_empty(Z, R, smoothing):
    """Give each empty regime the samples fitted worst by the others.

    Returns the new assignments and the indices of the re-seeded regimes.
    Each empty regime receives the ``n_samples // (2 n_regimes)`` (at least
    one) samples with the largest loss under their current assignment.
    """
    m, K = Z.shape
    empty = np.flatnonzero(column_sums(Z) < EMPTY_WEIGHT)
    if empty.size == 0 or R is None:
        return Z, empty[:0]
    Z = Z.copy()
    fit = np.sum(Z * R, axis=1)
    worst = np.argsort(-fit, kind="stable")
    size = max(1, m // (2 * K))
    for rank, k in enumerate(empty):
        rows = worst[rank * size : (rank + 1) * size]
        if rows.size == 0:
            break
        Z[rows] = _soften(one_hot(np.full(rows.size, k), K), smoothing)
    return Z, empty


@dataclass
class BCDResult:
    """Outcome of one BCD run."""

    coefs: list
    intercepts: list
    Z: np.ndarray
    objective: list
    n_iter: int
    converged: bool
    warnings: list = field(default_factory=list)
    monitor: ConvergenceMonitor = None

    @property
    def final_objective(self):
        return self.objective[-1]


def empty_regime_warnings(name, Z, weight_name, hint=""):
    """``[(UserWarning, message)]`` naming the regimes left with almost no weight.

    A regime whose column of ``Z`` sums to less than ``EMPTY_WEIGHT`` at the end
    of a fit explains (almost) no sample; the message says so once per fit.
    """
    empty = np.flatnonzero(column_sums(Z) < EMPTY_WEIGHT)
    if not empty.size:
        return []
    return [
        (
            UserWarning,
            f"{name}: regime(s) {empty.tolist()} ended with less than "
            f"{EMPTY_WEIGHT} samples of {weight_name} weight; n_regimes may be "
            f"too large for this data{hint}.",
        )
    ]


def run_bcd(
    X,
    Y,
    regime_loss,
    pstep,
    Z0=None,
    *,
    smoothing,
    penalty,
    alpha,
    max_iter,
    tol,
    verbose=0,
    name="BCD",
    coefs0=None,
    intercepts0=None,
):
    """One run of block coordinate descent from ``Z0`` or from parameters.

    Parameters
    ----------
    X, Y : ndarray
        Training data, ``Y`` in the encoding of the loss.
    regime_loss : RegimeLoss
    pstep : object with ``solve(Z, coefs, intercepts, active)``
        From :func:`~._pstep.make_pstep`.
    Z0 : ndarray of shape (n_samples, n_regimes), default=None
        Initial assignments; if None, start from ``coefs0, intercepts0``
        with an F-step.
    smoothing, penalty, alpha : see the estimators.
    max_iter, tol, verbose, name : stopping rule and progress output.
    coefs0, intercepts0 : list of ndarray, default=None
        Initial parameters (warm start).

    Returns
    -------
    BCDResult
        Warnings of the run (empty regimes, P-step trouble) are recorded as
        ``(category, message)`` pairs in ``warnings`` for the caller to
        raise, so that runs in other processes or threads can report them.
    """
    cvxpy_fstep = []

    def fallback():
        if not cvxpy_fstep:
            cvxpy_fstep.append(CvxpyFStep(X.shape[0], K, smoothing))
        return cvxpy_fstep[0]

    # Warnings are collected, not raised: runs may execute in joblib
    # workers, where raised warnings are lost (and recording them with
    # warnings.catch_warnings is not thread-safe).
    messages = []
    if Z0 is None:
        K = len(coefs0)
        coefs = [np.array(c, dtype=float) for c in coefs0]
        intercepts = [np.array(b, dtype=float) for b in intercepts0]
        R = regime_loss.loss_matrix(X, Y, coefs, intercepts)
        Z = fstep(R, smoothing, fallback)
    else:
        K = Z0.shape[1]
        coefs = [np.zeros(regime_loss.coef_shape) for _ in range(K)]
        intercepts = [np.zeros(regime_loss.intercept_shape) for _ in range(K)]
        Z, R = _soften(Z0, smoothing), None
    monitor = ConvergenceMonitor(tol, max_iter, verbose, name=name)
    reseeds_left = K
    for iteration in range(max_iter + 1):
        if R is not None and reseeds_left > 0:
            Z, reseeded = reseed_empty(Z, R, smoothing)
            for k in reseeded:
                messages.append(
                    (
                        UserWarning,
                        f"{name}: regime {k} became empty at iteration "
                        f"{iteration}; re-seeded it with the samples fitted "
                        "worst by the other regimes.",
                    )
                )
            reseeds_left -= len(reseeded)
        weights = column_sums(Z)
        active = weights >= EMPTY_WEIGHT
        if iteration == 0 and Z0 is not None:
            # Nothing fitted yet: every regime with any weight is fitted.
            active = weights > 0
        pstep.solve(Z, coefs, intercepts, active)
        R = regime_loss.loss_matrix(X, Y, coefs, intercepts)
        f = bcd_objective(R, Z, coefs, penalty, alpha, smoothing)
        if iteration == 0:
            monitor.start(f)
        elif monitor.update(f):
            break
        Z = fstep(R, smoothing, fallback)
    if verbose:
        # "optimal_inaccurate" is cvxpy's status for a solution at reduced
        # tolerances (about 1e-5 for Clarabel): usable, but worth knowing.
        for k, solver in getattr(pstep, "inaccurate", ()):
            print(
                f"[{name}] the cvxpy solver {solver} solved regime {k} of the "
                "last P-step to reduced accuracy (status optimal_inaccurate)."
            )
    messages.extend(getattr(pstep, "messages", ()))
    messages.extend(
        empty_regime_warnings(name, Z, "total", " (or smoothing too strong)")
    )
    return BCDResult(
        coefs=coefs,
        intercepts=intercepts,
        Z=Z,
        objective=list(monitor.history),
        n_iter=monitor.n_iter,
        converged=monitor.converged,
        warnings=messages,
        monitor=monitor,
    )
