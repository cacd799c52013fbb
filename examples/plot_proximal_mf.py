"""
=======================================================
Unmixing a hyperspectral image with constrained factors
=======================================================

A hyperspectral image records, at every pixel, the light received in many
narrow wavelength bands. When a pixel covers several materials, its spectrum
is (to a good approximation) a mixture of the materials' spectra weighted by
the fraction of the pixel each covers: the image matrix :math:`X` (pixels x
bands) is a product :math:`W H` of abundances and spectra, both nonnegative.

:class:`~skfactor.ProximalMF` imposes that knowledge through proximal
operators, here the combination of the source (Peter Melchior's "Proximal
matrix factorization in pytorch"):

- ``prox_H="simplex"``: each spectrum is nonnegative and sums to one, which
  fixes the scale ambiguity between :math:`W` and :math:`H`;
- ``prox_W="max_entropy"``: the abundances are penalized by their negative
  entropy :math:`\\alpha \\sum W \\log W`, which keeps them positive and
  spread out (mixed pixels are the rule, not the exception).
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import entr

from skfactor import ProximalMF
from skfactor.datasets import make_hyperspectral
from skfactor.metrics import factor_match_score

n_rows, n_cols, n_bands = 40, 40, 64
X, abundances, spectra = make_hyperspectral(
    n_rows, n_cols, n_bands, n_endmembers=3, n_photons=1000, random_state=2
)
print(
    f"{X.shape[0]} pixels, {X.shape[1]} bands; relative noise "
    f"{np.linalg.norm(X - abundances @ spectra) / np.linalg.norm(X):.2f}"
)

# %%
# Fit the constrained factorization. The entropy weight is small: it only has
# to keep the abundances off exact zeros (see the last section for larger
# weights).
model = ProximalMF(
    3, prox_H="simplex", prox_W="max_entropy", alpha_W=1e-5, random_state=0
)
start = time.perf_counter()
W = model.fit_transform(X)
H = model.components_
print(f"{model.n_iter_} iterations in {time.perf_counter() - start:.2f} s")
score, matching = factor_match_score(
    [abundances, spectra.T], [W, H.T], return_matching=True
)
print(f"factor match score against the truth: {score:.3f}")

# %%
# The recovered spectra sum to one like the true ones, so they can be
# compared directly, and the abundance maps are recovered up to the noise.
# The remaining differences are mostly a trade between materials 1 and 2,
# whose spectra overlap.
wavelengths = np.arange(n_bands)
fig, axes = plt.subplots(3, 4, figsize=(11, 7.5))
for p, q in enumerate(matching):
    ax = axes[p, 0]
    ax.plot(wavelengths, spectra[p], "k", lw=2, label="true")
    ax.plot(wavelengths, H[q], "tab:red", lw=1.2, label="recovered")
    ax.set_ylabel(f"material {p + 1}")
    if p == 0:
        ax.set_title("spectrum")
        ax.legend(fontsize=8)
    for ax, image, title in (
        (axes[p, 1], abundances[:, p], "true abundance"),
        (axes[p, 2], W[:, q], "recovered abundance"),
        (axes[p, 3], W[:, q] - abundances[:, p], "difference"),
    ):
        difference = title == "difference"
        shown = ax.imshow(
            image.reshape(n_rows, n_cols),
            vmin=-0.3 if difference else 0,
            vmax=0.3 if difference else 1,
            cmap="RdBu_r" if difference else "magma",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        if p == 0:
            ax.set_title(title)
axes[-1, 0].set_xlabel("band")
fig.colorbar(shown, ax=axes[:, 3], shrink=0.6)
plt.show()

# %%
# How strong should the entropy term be?
# ---------------------------------------
# The entropy penalty is a prior: it favours mixed pixels. Sweeping its weight
# shows what it does. Without it, some abundances are exactly zero (the
# projection onto the nonnegative orthant clips them); a small weight makes
# every abundance positive and brings the average entropy of the pixels'
# mixtures to that of the truth, where the recovery is best; larger weights
# mix the materials more than they really are, and the recovery degrades.


def mean_entropy(A):
    """Average over pixels of the entropy of the mixture fractions."""
    return entr(A / A.sum(axis=1, keepdims=True)).sum(axis=1).mean()


weights = [0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3]
scores, entropies, zeros = [], [], []
for alpha in weights:
    model = ProximalMF(
        3,
        prox_H="simplex",
        prox_W="max_entropy",
        alpha_W=alpha,
        random_state=0,
        max_iter=500,
    )
    W_alpha = model.fit_transform(X)
    scores.append(
        factor_match_score([abundances, spectra.T], [W_alpha, model.components_.T])
    )
    entropies.append(mean_entropy(W_alpha))
    zeros.append(np.mean(W_alpha == 0))
    print(
        f"alpha_W={alpha:g}: score {scores[-1]:.4f}, entropy {entropies[-1]:.3f}, "
        f"zero abundances {zeros[-1]:.1%}"
    )

positions = np.arange(len(weights))
fig, (ax_score, ax_entropy) = plt.subplots(1, 2, figsize=(10, 3.5))
ax_score.plot(positions, scores, "o-")
ax_score.set_ylabel("factor match score")
ax_entropy.plot(positions, entropies, "o-", label="recovered")
ax_entropy.axhline(mean_entropy(abundances), color="k", ls="--", label="truth")
ax_entropy.set_ylabel("mean entropy of the abundances")
ax_entropy.legend()
for ax in (ax_score, ax_entropy):
    ax.set_xticks(positions, [f"{w:g}" for w in weights])
    ax.set_xlabel("alpha_W")
fig.tight_layout()
plt.show()
