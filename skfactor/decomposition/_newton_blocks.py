r"""The Kullback-Leibler pass of the exact W-step over blocks of dense rows.

On dense data the derivatives of a block of rows come from BLAS products
(:func:`_kl_blas_pass`): the model :math:`Y = WH`, the gradients
:math:`\sum_j h_j - (X / Y) H^\top` and the Hessians
:math:`\sum_j (x_j / y_j^2) h_j h_j^\top` (one product with :func:`_pairs`,
the products of the columns of :math:`H^\top` two by two); the steps are
those of :mod:`~skfactor.decomposition._newton_step`, and the models at
their first trial points (the active-set point or the full Newton step,
which most rows take) come from one more product, :math:`Y + \Delta H`,
instead of a dot product per entry and row (5.8 µs for a row of 300
entries at rank 10, most of a pass).
"""

from collections import namedtuple

import numpy as np
from numba import njit

from ..utils._log import weighted_log_sum
from ._newton_step import (
    _dot,
    _finish_step,
    _first_trial,
    _first_trial_passes,
    _penalty_change,
    _prepare_row,
    _row_buffers,
)

# Dense data get their Kullback-Leibler derivatives from BLAS products over
# blocks of rows of about _BLOCK_ENTRIES entries (:func:`_kl_blas_pass`)
# when rows have at least _BLOCK_MIN_COLUMNS entries or entries times rank
# reach _BLOCK_MIN_WORK (:func:`_block_pass_pays`). Measured (one BLAS
# thread, December 2026), time of the exact W-step with blocks over rows:
# 0.52-0.89 from 64 columns up (rank 2-30) and at 30-50 columns with rank
# 10-15; 0.94 and 1.07 at 30 and 50 columns with rank 5 (rows there).
_BLOCK_ENTRIES = 1 << 17
_BLOCK_MIN_COLUMNS = 64
_BLOCK_MIN_WORK = 500


@njit(cache=True, error_model="numpy")
def _ratio_curvature(X, Y):
    """``R = X / Y`` and ``D = X / Y**2`` where X is nonzero (0 elsewhere),
    for blocks of dense rows (selects rather than branches, so that the
    loop vectorizes: 0.6 ms a pass over 500 x 300 with branches)."""
    R = np.empty(X.shape)
    D = np.empty(X.shape)
    for b in range(X.shape[0]):
        for j in range(X.shape[1]):
            x, y = X[b, j], Y[b, j]
            ratio = x / y
            R[b, j] = ratio if x != 0.0 else 0.0
            D[b, j] = ratio / y if x != 0.0 else 0.0
    return R, D


#: Per row of a block: the ``scratch`` of its step (gradient, direction,
#: first trial, its difference from the row, binding set), the size of its
#: objective and the flags of its first trial (:func:`~._newton_step._first_trial`).
Steps = namedtuple(
    "Steps", ["grad", "direction", "trial", "delta", "binding", "size", "flags"]
)


def _steps(n_rows, r):
    return Steps(
        *(np.empty((n_rows, r)) for _ in range(4)),
        np.empty((n_rows, r), dtype=np.bool_),
        np.empty(n_rows),
        np.empty((n_rows, 2), dtype=np.bool_),
    )


@njit(cache=True)
def _scratch(steps, b):
    """The ``scratch`` of :func:`~._newton_step._row_step` for row ``b``: views into
    ``steps``."""
    return (
        steps.grad[b],
        steps.direction[b],
        steps.trial[b],
        steps.delta[b],
        steps.binding[b],
    )


@njit(cache=True, error_model="numpy")
def _block_trials(rows, kl_terms, grad_fit, hess_packed, weight, W, steps):
    """The first trial (:func:`~._newton_step._first_trial`) of the step of each
    Kullback-Leibler row ``rows`` of ``W``, into ``steps`` (a :class:`Steps`),
    from the gradients of the fit and the Hessians packed by :func:`_pairs`
    (a row per entry of ``rows``). ``kl_terms`` is ``(Ht, h_sum, x_sum)``,
    ``x_sum`` the row sums of X."""
    _, h_sum, x_sum = kl_terms
    r = W.shape[1]
    hess = np.empty((r, r))
    for b in range(rows.size):
        w = W[rows[b]]
        column = 0
        for k in range(r):
            for q in range(k, r):
                hess[k, q] = hess_packed[b, column]
                hess[q, k] = hess_packed[b, column]
                column += 1
        scratch = _scratch(steps, b)
        size = _dot(w, h_sum) + x_sum[rows[b]]
        size = _prepare_row(w, grad_fit[b], size, weight, scratch)
        steps.size[b] = size
        steps.flags[b, 0], steps.flags[b, 1] = _first_trial(
            w, hess, size, weight, scratch
        )


@njit(cache=True, error_model="numpy")
def _block_finish(rows, nonzeros, kl_terms, models, grad_fit, weight, W, steps, active):
    """The rest of the steps of the rows ``rows`` of ``W``
    (:func:`~._newton_step._finish_step`), the change of the objective at their first
    trials from the models ``models = (Y, Y_trial)`` at the rows and at the
    trials (a row per entry of ``rows``, every column): only a row whose
    first trial fails evaluates others (row by row, :func:`~._newton_step._kl_change`).
    Rows that converge leave ``active``. Returns the total change of the
    objective."""
    indptr, indices, data = nonzeros
    Ht, h_sum, _ = kl_terms
    Y, Y_trial = models
    model, ratios, _, _ = _row_buffers(indptr, W.shape[1])
    no_hht = np.empty((0, 0))
    total_change = 0.0
    for b in range(rows.size):
        i = rows[b]
        w = W[i]
        start, stop = indptr[i], indptr[i + 1]
        for p in range(start, stop):
            j = indices[p]
            ratios[p - start] = Y_trial[b, j] / Y[b, j] if data[p] != 0.0 else 1.0
        scratch = _scratch(steps, b)
        trial, delta = scratch[2], scratch[3]
        change = _dot(delta, h_sum) + _penalty_change(w, trial, delta, weight)
        change -= weighted_log_sum(data[start:stop], ratios[: stop - start])
        flags = (steps.flags[b, 0], steps.flags[b, 1])
        if not _first_trial_passes(change, flags[0], scratch[0], delta, steps.size[b]):
            for p in range(start, stop):
                model[p - start] = Y[b, indices[p]]
        kl_row = (Ht, h_sum, data[start:stop], indices[start:stop], model, ratios)
        change, converged = _finish_step(
            w,
            grad_fit[b],
            steps.size[b],
            weight,
            (kl_row, no_hht),
            scratch,
            flags,
            change,
        )
        total_change += change
        if converged:
            active[i] = False
    return total_change


def _block_pass_pays(n_columns, rank):
    """Whether dense Kullback-Leibler rows get their derivatives by blocks
    (:func:`_kl_blas_pass`) rather than row by row (:func:`~._newton._newton_pass`).

    >>> _block_pass_pays(50, 5), _block_pass_pays(64, 5), _block_pass_pays(50, 10)
    (False, True, True)
    """
    return n_columns >= _BLOCK_MIN_COLUMNS or n_columns * rank >= _BLOCK_MIN_WORK


def _pairs(Ht):
    """Products of the columns of ``Ht`` two by two (``k <= l``, in order):
    the Hessians of the rows of W are ``(X / (WH)**2) @ _pairs(Ht)``."""
    upper = np.triu_indices(Ht.shape[1])
    return np.ascontiguousarray(Ht[:, upper[0]] * Ht[:, upper[1]])


def _kl_blas_pass(X, H, nonzeros, kl_terms, pairs, weight, W, active):
    r"""One projected Newton iteration for Kullback-Leibler on dense ``X``,
    the derivatives of blocks of active rows from BLAS products.

    The model :math:`Y = WH`, the gradients :math:`\sum_j h_j - (X / Y)
    H^\top` and the Hessians :math:`\sum_j (x_j / y_j^2) h_j h_j^\top`
    (one product with :func:`_pairs`) of about ``_BLOCK_ENTRIES / n``
    rows at a time; the steps those of :func:`~._newton_step._row_step` (as in
    :func:`~._newton._newton_pass`), the models at their first trials by one product
    more, so that only the rows whose first trial fails the line search
    form their models entry by entry. Returns the total change of the
    objective.
    """
    Ht, h_sum, _ = kl_terms
    rows = np.flatnonzero(active)
    block = max(1, _BLOCK_ENTRIES // X.shape[1])
    total = 0.0
    for first in range(0, rows.size, block):
        chunk = rows[first : first + block]
        Y = W[chunk] @ H
        R, D = _ratio_curvature(X[chunk], Y)
        grad_fit = np.ascontiguousarray(h_sum - R @ Ht)
        steps = _steps(chunk.size, W.shape[1])
        _block_trials(chunk, kl_terms, grad_fit, D @ pairs, weight, W, steps)
        # the models at the first trials, by one more product
        Y_trial = Y + steps.delta @ H
        total += _block_finish(
            chunk, nonzeros, kl_terms, (Y, Y_trial), grad_fit, weight, W, steps, active
        )
    return total
