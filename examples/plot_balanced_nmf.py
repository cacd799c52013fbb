"""
=======================================================
Balancing the components of sparse Kullback-Leibler NMF
=======================================================

The fit of :math:`X \\approx WH` does not change when a component is rescaled,
:math:`(W_{:q}, H_{q:}) \\to (\\lambda W_{:q}, H_{q:} / \\lambda)`, but the
sparsity penalty :math:`\\mu_W \\|W\\|_1 + \\mu_H \\|H\\|_1` does. Its best scale
has a closed form, and applying it after every iteration of multiplicative
updates ("balancing"; J. E. Cohen, "Implicit regularization in regularized
(nonnegative) low-rank approximations", talk, 2024, joint work with
V. Leplat) makes the updates reach a given loss in far fewer iterations.

We reproduce the sparse NMF experiment of that talk: a 30 x 30 matrix of
Poisson counts at 40 dB drawn from rank-4 factors with 30% zeros, fitted at
rank 4 from the same uniform random start with and without balancing.
"""

import matplotlib.pyplot as plt
import numpy as np

from skfactor import BalancedSparseNMF
from skfactor.datasets import make_sparse_nmf
from skfactor.metrics import factor_match_score

X, W_true, H_true = make_sparse_nmf(30, 30, 4, sparsity=0.3, snr=40, random_state=0)
rng = np.random.RandomState(1000)
init = (rng.uniform(size=(30, 4)), rng.uniform(size=(4, 30)))

# %%
# Loss against iterations
# -----------------------
# Multiplicative updates (``solver="mu"``, the talk's algorithm; the default
# solver is coordinate descent, which balances the same way). Left: one
# update of each factor per iteration. Right: the talk's protocol, where an
# iteration is an outer loop of 20 updates of each factor followed by one
# balancing step. ``balance="init"`` only rescales the initial factors
# optimally.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
models = {}
for ax, n_inner in zip(axes, (1, 20)):
    for balance, style in (("every", "-"), ("init", "--"), ("none", ":")):
        model = BalancedSparseNMF(
            4,
            alpha_W=0.1,
            alpha_H=0.1,
            solver="mu",
            balance=balance,
            init=init,
            n_inner=n_inner,
            max_iter=100,
            tol=0,
        )
        W = model.fit_transform(X)
        models[balance, n_inner] = (model, W)
        ax.semilogy(model.objective_[:101], style, label=f"balance={balance!r}")
    target = models["none", n_inner][0].objective_[100]
    reached = int(np.argmax(models["every", n_inner][0].objective_ <= target))
    ax.axhline(target, color="gray", lw=0.5)
    ax.set_title(
        f"n_inner={n_inner}: balanced reaches the unbalanced\n"
        f"100-iteration loss at iteration {reached}"
    )
    ax.set_xlabel("iteration")
axes[0].set_ylabel("objective (KL + penalties)")
axes[0].legend()
fig.tight_layout()

# %%
# The balanced runs sit below the unbalanced one at every iteration: the
# unbalanced updates only slowly move the scale of each component to where
# the penalty is smallest, while balancing puts it there in closed form.
for balance in ("every", "init", "none"):
    model, W = models[balance, 20]
    fms = factor_match_score([W_true, H_true.T], [W, model.components_.T])
    print(
        f"balance={balance!r:8} final objective {model.objective_[-1]:10.1f}   "
        f"factor match score {fms:.4f}"
    )

# %%
# Learned versus true factors
# ---------------------------
# Components are identified up to order and scale: match them with the
# factor match score and normalize each column to unit maximum.
model, W = models["every", 20]
H = model.components_
_, matching = factor_match_score([W_true, H_true.T], [W, H.T], return_matching=True)


def unit(F):
    return F / F.max(axis=0, keepdims=True)


fig, axes = plt.subplots(1, 4, figsize=(10, 5))
panels = [
    (unit(W_true), "true W"),
    (unit(W[:, matching]), "learned W"),
    (unit(H_true.T), "true H (transposed)"),
    (unit(H[matching].T), "learned H (transposed)"),
]
for ax, (F, title) in zip(axes, panels):
    ax.imshow(F, aspect="auto", cmap="Greys", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_xticks(range(4))
    ax.set_xlabel("component")
fig.tight_layout()
plt.show()

# %%
# The zeros of the true factors (white) are recovered: the l1 penalty with
# balancing drives them to the floor of the updates (1e-16).
print(
    f"zeros in true W: {np.mean(W_true == 0):.2f}, "
    f"in learned W: {np.mean(W <= 1e-10 * W.max()):.2f}"
)
