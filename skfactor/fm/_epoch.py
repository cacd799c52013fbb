r"""One epoch of proximal steps, and the lazily kept average of the iterates.

**Steps.** Sample :math:`i` takes the latent step :math:`\eta_i = \min(\eta
w_i, \bar\eta_i)` (sample weight :math:`w_i`, cap :math:`\bar\eta_i`), the
bias step :math:`s\,\eta_i` and the penalty :math:`\alpha` of
:func:`~skfactor.fm._prox_step.prox_step`.

**Averaging.** A clock :math:`\tau` advances by :math:`w_i` at each step
(total :math:`T`); the iterate :math:`x_s` after step :math:`s` is held over
:math:`(\tau_{s-1}, \tau_s]` with weight density :math:`\tau^3`:

.. math::

    \bar x = \frac{\int_0^T \tau^3 x(\tau)\, d\tau}{T^4 / 4}
            = \sum_s \frac{\tau_s^4 - \tau_{s-1}^4}{T^4}\, x_s ,

a Polyak-Ruppert average whose weights grow polynomially in time, so early
iterates fade out without a burn-in parameter (half of the weight is on the
last 16% of the run).

**Lazy form.** A parameter only changes when a sample touches it (the
penalty is applied per touch) and is constant in between. With :math:`H(\tau)
= \tau^4/4`, a parameter that changed at clocks :math:`\tau_1, \tau_2,
\dots` from :math:`x^{(c-1)}` to :math:`x^{(c)}` has

.. math::

    \int_0^T \tau^3 x(\tau)\, d\tau = A + x H(T), \qquad
    A = -\sum_c H(\tau_c)\,\bigl(x^{(c)} - x^{(c-1)}\bigr),

so one offset :math:`A` per parameter, updated by the step that changes it
(:func:`~skfactor.fm._prox_step.update_latent` and
:func:`~skfactor.fm._prox_step.update_biases`, in the same pass as the
change), keeps the average exactly, as in averaged SGD on sparse data: a
step touches only the parameters of its row, without last-update counters,
and :func:`averaged_parameters` returns :math:`A / H(T) + x`.
"""

from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._prox_step import Model, Step, prox_step

__all__ = [
    "Averaging",
    "EpochSettings",
    "Rows",
    "averaged_parameters",
    "make_averaging",
    "run_epoch",
]

Rows = namedtuple("Rows", ["indptr", "indices", "data"])
Rows.__doc__ = """A CSR matrix's arrays (int64 indices, float64 values)."""

EpochSettings = namedtuple("EpochSettings", ["eta", "bias_scale", "alpha", "average"])
EpochSettings.__doc__ = (
    """Latent step, bias step scale, L2 penalty, averaging on/off."""
)

Averaging = namedtuple("Averaging", ["clock", "sum_w0", "sum_w", "sum_V"])
Averaging.__doc__ = """State of the lazy average (module docstring).

``clock``: the clock now (shape (1,)); ``sum_*``: the offsets ``A`` of the
global bias, the feature biases and the latent vectors.
"""


def make_averaging(n_features, n_components):
    """The :class:`Averaging` state at time zero."""
    return Averaging(
        np.zeros(1),
        np.zeros(1),
        np.zeros(n_features),
        np.zeros((n_features, n_components)),
    )


# Samples ahead whose nonzeros, and whose row pointer and scalars, are
# requested from memory (a step takes about as long as a cache miss, and the
# visiting order is random, so without the hints every step waits for one).
_ROWS_AHEAD = 8
_SCALARS_AHEAD = 16


@intrinsic
def prefetch(typingctx, array, index):
    """Ask the CPU to bring ``array[index]`` into the cache (no effect on results).

    A hint only: it never faults, also for an index out of bounds.
    """

    def codegen(context, builder, signature, args):
        view = context.make_array(array)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, array, view, [args[1]], wraparound=False
        )
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )
        # read access, keep in all cache levels, data cache
        builder.call(fn, [builder.bitcast(ptr, byte_ptr), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(cache=True, nogil=True, _nrt=False)
def prefetch_ahead(rows, yhat, sample_weight, max_step, order, pos):
    """Prefetch what the steps ``_ROWS_AHEAD`` and ``_SCALARS_AHEAD`` on read."""
    if pos + _SCALARS_AHEAD < order.shape[0]:
        i = order[pos + _SCALARS_AHEAD]
        prefetch(rows.indptr, i)
        prefetch(yhat, i)
        prefetch(sample_weight, i)
        prefetch(max_step, i)
    if pos + _ROWS_AHEAD < order.shape[0]:
        i = order[pos + _ROWS_AHEAD]
        first = rows.indptr[i]
        last = rows.indptr[i + 1] - 1
        prefetch(rows.indices, first)
        prefetch(rows.data, first)
        prefetch(rows.indices, last)
        prefetch(rows.data, last)


# No reference counting: the epoch allocates nothing, and the arrays it
# passes around (the row's slices, the tuples' members) belong to the caller,
# so the runtime's atomic counter updates would be pure per-sample overhead.
@njit(cache=True, nogil=True, _nrt=False)
def run_epoch(
    rows, yhat, sample_weight, max_step, order, settings, model, work, averaging
):
    """One pass of proximal steps over ``order``; return the weighted loss sum.

    ``rows``: the :class:`Rows` of the data; ``yhat``: labels in {-1, +1};
    ``max_step``: every sample's step cap; ``settings``: the
    :class:`EpochSettings`; ``model``, ``work``, ``averaging``: the
    :class:`~skfactor.fm._prox_step.Model` (updated in place), work vectors
    and the :class:`Averaging` state (updated when ``settings.average``).
    The losses before each step are summed with the sample weights.
    """
    offsets = Model(averaging.sum_w0, averaging.sum_w, averaging.sum_V)
    total = 0.0
    for pos in range(order.shape[0]):
        prefetch_ahead(rows, yhat, sample_weight, max_step, order, pos)
        i = order[pos]
        start = rows.indptr[i]
        stop = rows.indptr[i + 1]
        idx = rows.indices[start:stop]
        weight = sample_weight[i]
        eta = min(settings.eta * weight, max_step[i])
        step = Step(settings.bias_scale * eta, eta, settings.alpha)
        held = 0.0
        if settings.average:
            now = averaging.clock[0]
            held = 0.25 * (now * now) * (now * now)
            averaging.clock[0] = now + weight
        loss, _ = prox_step(
            idx, rows.data[start:stop], yhat[i], step, model, work, held, offsets
        )
        total += weight * loss
    return total


def averaged_parameters(averaging, model):
    """Weighted average of the iterates of :func:`run_epoch` (module docstring).

    Returns ``(w0, w, V)`` averaged, :math:`A / H(T) + x` (copies; the
    current iterate when no time has passed).
    """
    clock, sum_w0, sum_w, sum_V = averaging
    w0, w, V = model
    T = float(clock[0])
    if T <= 0.0:
        return float(w0[0]), w.copy(), V.copy()
    norm = 0.25 * T**4
    return float(sum_w0[0] / norm + w0[0]), sum_w / norm + w, sum_V / norm + V
