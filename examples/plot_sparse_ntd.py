"""
=====================================================
Finding a song's arrangement with sparse Tucker (NTD)
=====================================================

The audio redundancy experiment of Cohen and Leplat ("Implicit
regularization in regularized (nonnegative) low-rank approximations",
2024), on a synthetic magnitude spectrogram: a song whose sections follow
the arrangement A B A C A B, four bars each, is cut into bars and stacked
as a bar x frequency x time-within-bar tensor of Poisson counts. Each
section plays a few notes (harmonic spectra) on a few rhythms (percussive
envelopes); which note plays on which rhythm in which section is a sparse
core.

:class:`~skfactor.SparseNTD` fits the nonnegative Tucker model with the
Kullback-Leibler loss,

.. math::

    \\min_{G, Q, W, H \\ge 0} KL(T, G \\times_0 Q \\times_1 W \\times_2 H)
        + \\mu (\\|G\\|_1 + \\|Q\\|_F^2 + \\|W\\|_F^2 + \\|H\\|_F^2),

whose bar factor :math:`Q` (the sample mode) should give the arrangement:
bars of the same section get the same row. We fit with the Sinkhorn
balancing of the core against each factor and without balancing.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from skfactor import SparseNTD
from skfactor.metrics import factor_match_score
from skfactor.tensor._synthetic import make_song_spectrogram

T, truth = make_song_spectrogram("ABACAB", bars_per_section=4, random_state=0)
ranks = (len(truth["sections"]), truth["W"].shape[1], truth["H"].shape[1])
print("tensor (bars, frequencies, frames):", T.shape, "ranks:", ranks)

# %%
# Fit with and without balancing, from the same start (one run,
# ``n_init=1``, instead of the default four), for the same fixed budget of
# 300 iterations (``tol=0``).
fits = {}
for balance in ("sinkhorn", "none"):
    model = SparseNTD(
        n_components=ranks,
        alpha=0.5,
        balance=balance,
        n_init=1,
        max_iter=300,
        tol=0,
        random_state=0,
    )
    Q = model.fit_transform(T)
    fms = factor_match_score([truth["Q"]], [Q])
    core = model.core_
    density = np.mean(core > 1e-2 * core.max())
    fits[balance] = (model, Q)
    print(
        f"balance={balance!r}: objective {model.objective_[-1]:.1f} after "
        f"{model.n_iter_} iterations, arrangement FMS {fms:.4f}, "
        f"core density {density:.2f} (truth {np.mean(truth['core'] > 0):.2f})"
    )

# %%
# The bar factor: each column lights up on the bars of one section, so
# reading the largest entry of every row gives the arrangement back.
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
axes[0].imshow(truth["Q"], aspect="auto", cmap="Greys", interpolation="nearest")
axes[0].set_title("true arrangement")
axes[0].set_ylabel("bar")
for ax, (balance, (model, Q)) in zip(axes[1:], fits.items()):
    ax.imshow(Q / Q.max(axis=0), aspect="auto", cmap="Greys", interpolation="nearest")
    ax.set_title(f"Q, balance={balance!r}")
for ax in axes:
    ax.set_xlabel("component")
fig.tight_layout()

letters = np.array(truth["sections"])
for balance, (model, Q) in fits.items():
    # name every component by the section of the bars where it is largest
    names = letters[
        [
            np.bincount(
                truth["labels"][np.argmax(Q, 1) == q], minlength=len(letters)
            ).argmax()
            for q in range(Q.shape[1])
        ]
    ]
    read = "".join(names[np.argmax(Q, axis=1)][::4])
    print(f"arrangement read from Q (balance={balance!r}): {read}")

# %%
# The objective along the iterations: balancing keeps the model and lowers
# the penalty at every iteration.
fig, ax = plt.subplots(figsize=(5, 3.2))
for balance, (model, _) in fits.items():
    ax.semilogy(
        model.objective_ - min(m.objective_[-1] for m, _ in fits.values()) + 1e-3,
        label=balance,
    )
ax.set_xlabel("iteration")
ax.set_ylabel("objective - best final + 1e-3")
ax.legend(title="balance")
fig.tight_layout()
plt.show()
