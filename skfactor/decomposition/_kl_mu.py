r"""Compiled multiplicative updates for Kullback-Leibler NMF.

For :math:`X \approx WH` with the generalized Kullback-Leibler divergence,
the update of :math:`W` (Cohen and Leplat, eq. 26-27 for :math:`\ell_1`,
eq. 36 for ridge; :func:`~skfactor.decomposition._mm_steps.entry_step`)
needs, per entry, the numerator
:math:`s_{ik} = \tilde w_{ik} \sum_j \frac{x_{ij}}{(\tilde W H)_{ij}} h_{kj}`
and the denominator :math:`c_k = \sum_j h_{kj}`; that of :math:`H` is the
same on :math:`X^\top \approx H^\top W^\top`.

The updates run in compiled sweeps over the nonzeros of :math:`X` (numba;
dense data are swept over their nonzeros too, zeros of :math:`X` enter only
through :math:`c`). One sweep updates the rows of :math:`W` and, on the
way, accumulates the numerator of the next update of :math:`H`, since both
need the ratio :math:`X / (WH)` and the update of a row of :math:`W`
involves no other row; the ratio it computes for the current factors also
gives their objective,
:math:`\sum x \log(x / y) - \sum x + \sum_k (\sum_i w_{ik})(\sum_j h_{kj})
+ \text{penalties}`, so :class:`KLSweeps` gets the objective of each
iterate from the first sweep of the next iteration instead of a separate
pass over the data (its logarithms are taken afterwards, for a batch of
iterations at a time, by the vectorized :func:`~skfactor.utils._log.log`).

Kernels take their scalars packed: penalties as
:class:`~skfactor.decomposition._mm_steps.Penalties`, the nonzeros as
:class:`~skfactor.decomposition._objective.Nonzeros`, the iteration options
as :class:`Schedule`, the recorded iterates as :class:`Record`.
"""

from collections import namedtuple

import numpy as np
import scipy.sparse as sp
from numba import njit

from ..utils._arrays import copy_into
from ..utils._log import weighted_log_sum
from ._mm_steps import balance_in_place, entry_step, make_penalties
from ._objective import (
    _TINY,
    EPSILON,
    csr_arrays,
    dense_kl_objective,
    kl_objective_rest,
    n_nonzeros,
)

# Compiled KL iterations run in batches of at most _BATCH, recording the
# iterates and the ratios X / WH (at most _RECORDED floats in all), so that
# the monitor can stop inside a batch.
_BATCH = 10
_RECORDED = 1 << 16

#: The state of the iterations: current ``W``, its W-update ``W_next``,
#: ``Ht = H^T`` and the numerator of the next H-update.
Factors = namedtuple("Factors", ["W", "W_next", "Ht", "numerator_T"])
#: Options of :func:`_kl_iterations`.
Schedule = namedtuple("Schedule", ["fit_H", "balance_every", "n_inner", "advance"])
#: Per iteration of a batch: the objective but its log term, the ratios
#: giving the log term, and the iterate.
Record = namedtuple("Record", ["values", "ratios", "W_history", "Ht_history"])


# Compiled code below uses scalar loops only and passes no constant flags
# to compiled callees: array expressions and literal arguments (each a
# separate specialization) multiply the compilation time.


# reassociation lets LLVM vectorize the sums over the components and the
# nonzeros (about 20% faster on 30 x 30, 10% on digits); results change at
# the rounding level only, and stay deterministic
@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _kl_sweep(nonzeros, W, Ht, weight, W_out, numerator_T, ratios):
    r"""One pass over the nonzeros of X for the KL fit of ``X ~ W Ht^T``.

    Unless ``W_out`` is empty, writes the multiplicative update of every row
    of W (penalty ``weight``, a :class:`Penalty`) into ``W_out`` (the rows
    are independent) and the ratios :math:`x / y` at the incoming W into
    ``ratios`` (1 where x is 0, so that :math:`\sum x \log(x / y)` is
    ``data @ log(ratios)``); unless ``numerator_T`` is empty, writes into it
    the numerator :math:`((X / WH)^\top W)` of the update of ``H = Ht^T``,
    for the updated W (or W itself without update).

    The logarithms are left to a separate loop
    (:func:`~skfactor.utils._log.weighted_log_sum`), which LLVM vectorizes.
    """
    indptr, indices, data = nonzeros
    m, r = W.shape
    update = W_out.shape[0] > 0
    accumulate = numerator_T.shape[0] > 0
    h_sum = np.zeros(r)
    for j in range(Ht.shape[0]):
        for k in range(r):
            h_sum[k] += Ht[j, k]
    numerator = np.empty(r)
    row = np.empty(r)
    if accumulate:
        for j in range(numerator_T.shape[0]):
            for k in range(r):
                numerator_T[j, k] = 0.0
    for i in range(m):
        start, stop = indptr[i], indptr[i + 1]
        for k in range(r):
            row[k] = W[i, k]
        if update:
            for k in range(r):
                numerator[k] = 0.0
            for p in range(start, stop):
                j = indices[p]
                y = 0.0
                for k in range(r):
                    y += row[k] * Ht[j, k]
                ratio = data[p] / max(y, _TINY)
                ratios[p] = ratio if data[p] != 0.0 else 1.0
                for k in range(r):
                    numerator[k] += ratio * Ht[j, k]
            for k in range(r):
                row[k] = max(
                    entry_step(row[k], numerator[k], h_sum[k], weight, 1.0), EPSILON
                )
                W_out[i, k] = row[k]
        if accumulate:
            for p in range(start, stop):
                j = indices[p]
                y = 0.0
                for k in range(r):
                    y += row[k] * Ht[j, k]
                ratio = data[p] / max(y, _TINY)
                for k in range(r):
                    numerator_T[j, k] += ratio * row[k]


@njit(cache=True, error_model="numpy")
def _kl_update_columns(W, Ht, numerator_T, weight):
    """Multiplicative update of ``H = Ht^T`` in place from its numerator."""
    r = W.shape[1]
    w_sum = np.zeros(r)
    for i in range(W.shape[0]):
        for k in range(r):
            w_sum[k] += W[i, k]
    for j in range(Ht.shape[0]):
        for k in range(r):
            step = entry_step(Ht[j, k], numerator_T[j, k], w_sum[k], weight, 1.0)
            Ht[j, k] = max(step, EPSILON)


@njit(cache=True)
def _kl_iterations(nonzeros, data_sum, factors, penalties, schedule, record):
    """``record.values.size`` iterations from the iterate ``(W, Ht^T)``, in place.

    On entry and exit, ``factors.W_next`` holds the ``n_inner`` W-updates of
    the current iterate and, with ``fit_H``, ``factors.numerator_T`` the
    numerator of the first H-update at ``W_next``. An iteration moves to
    the next iterate (W from ``W_next``, the H-updates, balancing), then
    sweeps for its objective and W-updates. Recorded for each iteration (a
    :class:`Record`): the objective but its log term, the ratios that give
    the log term (see :func:`_kl_sweep`), and the iterate. With
    ``schedule.advance`` false (the start), only the sweeps of the current
    iterate are done.
    """
    W, W_next, Ht, numerator_T = factors
    m, r = W.shape
    no_array = np.empty((0, r))
    W_inner = np.empty((m, r))
    scratch = np.empty(nonzeros.data.size)
    n_inner = schedule.n_inner
    for step in range(record.values.size):
        if schedule.advance and schedule.fit_H:
            copy_into(W_next, W)
            for inner in range(n_inner):
                if inner > 0:
                    _kl_sweep(
                        nonzeros, W, Ht, penalties.W, no_array, numerator_T, scratch
                    )
                _kl_update_columns(W, Ht, numerator_T, penalties.H)
            if schedule.balance_every:
                balance_in_place(W, Ht, penalties)
        elif schedule.advance:
            copy_into(W_next, W)
        source = W
        for inner in range(n_inner):
            if inner > 0:
                copy_into(W_next, W_inner)
                source = W_inner
            last = inner == n_inner - 1
            _kl_sweep(
                nonzeros,
                source,
                Ht,
                penalties.W,
                W_next,
                numerator_T if schedule.fit_H and last else no_array,
                record.ratios[step] if inner == 0 else scratch,
            )
        record.values[step] = kl_objective_rest(data_sum, W, Ht, penalties)
        copy_into(W, record.W_history[step])
        copy_into(Ht, record.Ht_history[step])


@njit(cache=True)
def _add_log_terms(values, ratios, weights):
    """``values += log(ratios) @ weights``, each row by the same vectorized
    sum (so an objective does not depend on where its iteration falls in a
    batch)."""
    for step in range(values.size):
        values[step] += weighted_log_sum(weights, ratios[step])


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _ratio_in_place(X, model):
    """``model = X / max(model, tiny)``, entrywise (flat arrays)."""
    for p in range(model.size):
        model[p] = X[p] / max(model[p], _TINY)


def kl_update_W(X, W, H, alpha, penalty):
    """One multiplicative update of ``W`` for Kullback-Leibler, ``H`` fixed."""
    W = np.ascontiguousarray(W, dtype=np.float64)
    W_new = np.empty_like(W)
    nonzeros = csr_arrays(X)
    weight = make_penalties(alpha, 0.0, penalty, "l1").W
    _kl_sweep(
        nonzeros,
        W,
        np.ascontiguousarray(H.T, dtype=np.float64),
        weight,
        W_new,
        np.empty((0, 0)),
        np.empty(nonzeros.data.size),
    )
    return W_new


class KLSweeps:
    """Kullback-Leibler iterations by compiled sweeps over the nonzeros of X.

    Holds ``Ht = H.T`` (C-contiguous, a row per column of X), the current W
    and its W-update ``W_next``. Iterations run in compiled batches, each
    iterate recorded so that the monitor can stop inside a batch; small
    problems get batches of up to ``_BATCH`` iterations (the call and
    bookkeeping of an iteration cost as much as its arithmetic on a 30 x 30
    matrix), large ones single iterations (recording them would cost
    memory and copies).
    """

    def __init__(self, X, W, H, penalties, *, fit_H, balance_every, n_inner):
        self.nonzeros = csr_arrays(X)
        self.data_sum = float(self.nonzeros.data.sum())
        W = np.array(W, dtype=np.float64, order="C")
        Ht = np.array(H.T, dtype=np.float64, order="C")
        numerator_T = np.zeros(Ht.shape if fit_H else (0, 0))
        self.arrays = Factors(W, np.empty_like(W), Ht, numerator_T)
        self.penalties = penalties
        self.options = (bool(fit_H), bool(balance_every), int(n_inner))
        size = W.size + Ht.size + self.nonzeros.data.size
        self.batch = int(min(_BATCH, max(1, _RECORDED // size)))

    def _run(self, n_steps, advance):
        W, Ht = self.arrays.W, self.arrays.Ht
        record = Record(
            np.empty(n_steps),
            np.empty((n_steps, self.nonzeros.data.size)),
            np.empty((n_steps,) + W.shape),
            np.empty((n_steps,) + Ht.shape),
        )
        _kl_iterations(
            self.nonzeros,
            self.data_sum,
            self.arrays,
            self.penalties,
            Schedule(*self.options, bool(advance)),
            record,
        )
        self.record = record
        # sum x log(x / y), compiled and vectorized
        _add_log_terms(record.values, record.ratios, self.nonzeros.data)
        return record.values

    def start(self):
        return self._run(1, False)[0]

    def iterate(self, n_steps):
        return self._run(min(n_steps, self.batch), True)

    def keep(self, step):
        """Make the ``step``-th iterate of the last batch the current one."""
        self.arrays = self.arrays._replace(
            W=self.record.W_history[step], Ht=self.record.Ht_history[step]
        )

    def factors(self):
        return self.arrays.W, np.ascontiguousarray(self.arrays.Ht.T)


#: Cost model of an iteration, per component (one BLAS thread; December
#: 2026, AMD EPYC, from 20 x 20 to 500 x 300 at densities 1, 0.5 and 0.2):
#: the compiled sweeps cost about 2.3 ns per nonzero of X, the BLAS
#: iterations of :class:`KLDenseUpdates` about 0.85 ns per entry, zeros
#: included, plus about 17 µs per iteration more (calls and temporaries).
#: Dense 60 x 50, rank 5: 57 µs for the sweeps, 49 for BLAS; 200 x 120,
#: rank 8: 430 and 194 (the limit was 100 000 entries times components,
#: density ignored); at density 0.2, 95 and 187.
SWEEP_NS = 2.3
BLAS_NS = 0.85
BLAS_EXTRA_NS = 17_000


def blas_pays(X, rank):
    """Whether the BLAS iterations (:class:`KLDenseUpdates`) are expected to
    be faster than the compiled sweeps (:class:`KLSweeps`) on X (never for
    sparse X, which the BLAS products would densify).

    >>> import numpy as np
    >>> blas_pays(np.ones((60, 50)), 5), blas_pays(np.ones((30, 30)), 3)
    (True, False)
    """
    if sp.issparse(X):
        return False
    m, n = X.shape
    sweeps = SWEEP_NS * n_nonzeros(X) * rank
    return bool(sweeps >= BLAS_NS * m * n * rank + BLAS_EXTRA_NS)


class KLDenseUpdates:
    r"""Kullback-Leibler multiplicative updates by BLAS products (dense X).

    The updates of :class:`KLSweeps` written with matrix products, as
    scikit-learn does: the numerators :math:`(X / WH) H^\top` and
    :math:`W^\top (X / WH)`, :math:`WH` formed twice per iteration. The ratio
    at the new iterate gives its objective and the numerator of the next
    W-update, so an iteration forms :math:`WH` twice and takes the
    logarithms of :math:`X / WH` once.
    """

    def __init__(self, X, W, H, penalties, *, fit_H, balance_every, n_inner):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.data_sum = float(self.X.sum())
        self.W = np.array(W, dtype=np.float64, order="C")
        self.Ht = np.array(H.T, dtype=np.float64, order="C")
        self.penalties = penalties
        self.fit_H, self.balance_every, self.n_inner = fit_H, balance_every, n_inner
        # WH and X / WH, separate buffers: the compiled loop that writes the
        # ratio and takes its logarithms vectorizes only if they do not alias
        self.model = np.empty(self.X.shape)
        self.ratio = np.empty(self.X.shape)

    def _ratio(self, W, Ht):
        np.matmul(W, Ht.T, out=self.ratio)
        _ratio_in_place(self.X.reshape(-1), self.ratio.reshape(-1))
        return self.ratio

    def _ratio_objective(self):
        """The ratio at the current iterate, and its objective."""
        return dense_kl_objective(
            self.X,
            self.W,
            self.Ht,
            self.data_sum,
            self.penalties,
            self.model,
            self.ratio,
        )

    def start(self):
        return self._ratio_objective()

    def iterate(self, n_steps):
        """One iteration (whatever ``n_steps``); its objective."""
        W, Ht, p = self.W, self.Ht, self.penalties
        for inner in range(self.n_inner):
            ratio = self.ratio if inner == 0 else self._ratio(W, Ht)
            W = _step_columns(W, ratio @ Ht, Ht, p.W)
        if self.fit_H:
            for _ in range(self.n_inner):
                Ht = _step_columns(Ht, self._ratio(W, Ht).T @ W, W, p.H)
            if self.balance_every:
                balance_in_place(W, Ht, p)
        self.W, self.Ht = W, Ht
        return [self._ratio_objective()]

    def keep(self, step):
        pass

    def factors(self):
        return self.W, np.ascontiguousarray(self.Ht.T)


@njit(cache=True, error_model="numpy")
def _step_columns(F, numerator, other, weight):
    """KL :func:`entry_step` of ``F``, its denominators the column sums of
    the other factor ``other`` (C-contiguous, a row per column of X or per
    row), floored."""
    r = F.shape[1]
    denominator = np.zeros(r)
    for j in range(other.shape[0]):
        for k in range(r):
            denominator[k] += other[j, k]
    out = np.empty(F.shape)
    for i in range(F.shape[0]):
        for k in range(r):
            step = entry_step(F[i, k], numerator[i, k], denominator[k], weight, 1.0)
            out[i, k] = max(step, EPSILON)
    return out
