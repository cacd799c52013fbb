"""
===============================================
Automatic step sizes versus hand-set step sizes
===============================================

The proximal gradient method for constrained matrix factorization takes a
gradient step on each factor before applying that factor's proximal
operator. The source of :class:`~skfactor.ProximalMF` (a blog post by Peter
Melchior) sets the two step sizes by hand and leaves their choice as an open
problem: the right values depend on the data, on the current iterates and
differ by orders of magnitude between the two factors.

:class:`~skfactor.ProximalMF` sets them automatically. The safe choice,
``step_size="lipschitz"``, is the inverse block Lipschitz constants
:math:`1/\\|HH^\\top\\|_2` and :math:`1/\\|W^\\top W\\|_2`, re-estimated at
every iteration by a warm-started power iteration. The default,
``step_size="auto"``, starts each block from twice its last step and halves
it until an exact sufficient-decrease test passes, so the steps can exceed
the Lipschitz bound along the directions the iteration actually takes. Here
we compare both with a grid of fixed step pairs :math:`(t_W, t_H)`, all with
the same accelerated iteration, on Melchior's problem: nonnegative spectra
normalized to sum to one (``prox_H="simplex"``) and maximum-entropy
abundances (``prox_W="max_entropy"``).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from sklearn.exceptions import ConvergenceWarning

from skfactor import ProximalMF
from skfactor.datasets import make_hyperspectral

X, abundances, spectra = make_hyperspectral(24, 24, 48, 3, random_state=0)
params = dict(
    n_components=3, prox_H="simplex", prox_W="max_entropy", alpha_W=1e-4, random_state=0
)
budget = 250

# %%
# A reference minimum, and the target: within 0.1% of it.
reference = ProximalMF(**params, max_iter=3000, tol=1e-10).fit(X).objective_[-1]
target = reference * (1 + 1e-3)


def iterations_to_target(objective):
    reached = np.flatnonzero(np.asarray(objective) <= target)
    return reached[0] if reached.size else np.inf


auto = ProximalMF(**params, max_iter=budget, tol=0).fit(X)
lipschitz = ProximalMF(**params, step_size="lipschitz", max_iter=budget, tol=0).fit(X)
for name, model in (("auto", auto), ("lipschitz", lipschitz)):
    print(
        f"step_size={name!r} reaches the target in "
        f"{iterations_to_target(model.objective_)} iterations "
        f"({model.n_restarts_} restarts)"
    )

# %%
# The same iteration with fixed steps on a logarithmic grid spanning three
# decades for each factor. A pair that makes the iteration diverge raises an
# error, which we record as "not reached".
steps_W = np.logspace(-1, 2, 6)
steps_H = np.logspace(-4, -1, 6)
iterations = np.full((steps_W.size, steps_H.size), np.inf)
diverged = np.zeros(iterations.shape, dtype=bool)
curves = {}
for i, t_W in enumerate(steps_W):
    for j, t_H in enumerate(steps_H):
        model = ProximalMF(**params, step_size=(t_W, t_H), max_iter=budget, tol=0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
        except ValueError:  # diverged
            diverged[i, j] = True
            continue
        iterations[i, j] = iterations_to_target(model.objective_)
        curves[t_W, t_H] = model.objective_

i, j = np.unravel_index(np.argmin(iterations), iterations.shape)
print(
    f"best hand-set pair: t_W = {steps_W[i]:.3g}, t_H = {steps_H[j]:.3g}, "
    f"{iterations[i, j]:.0f} iterations"
)

# %%
# Left: the objective gap along the iterations, for every hand-set pair (grey;
# the best one in black), for the inverse Lipschitz steps (orange) and for the
# default automatic steps (red). Right: iterations
# needed to reach the target for each pair of the grid ("-": not reached
# within the budget, "div": diverged) and the automatic steps along the run
# (red path, from the circle to the cross), found without a search.
fig, (ax, ax_grid) = plt.subplots(1, 2, figsize=(11, 4.2))
for (t_W, t_H), objective in curves.items():
    ax.semilogy(objective - reference, color="0.75", lw=0.8)
ax.semilogy(
    curves[steps_W[i], steps_H[j]] - reference,
    color="k",
    lw=1.5,
    label=f"best fixed pair ({steps_W[i]:.3g}, {steps_H[j]:.3g})",
)
ax.semilogy(
    lipschitz.objective_ - reference,
    color="tab:orange",
    lw=1.5,
    ls="--",
    label='"lipschitz" (1/L)',
)
ax.semilogy(auto.objective_ - reference, color="tab:red", lw=2, label='"auto"')
ax.axhline(target - reference, color="tab:red", ls=":", lw=1, label="target")
ax.set_xlabel("iteration")
ax.set_ylabel("objective - minimum")
ax.set_ylim((target - reference) / 100, 10 * (auto.objective_[0] - reference))
ax.legend(loc="upper right")
ax.set_title("Objective along the iterations")

shown = np.where(np.isfinite(iterations), iterations, np.nan)
mesh = ax_grid.pcolormesh(
    steps_H, steps_W, shown, shading="nearest", norm=LogNorm(), cmap="viridis"
)
for (a, b), value in np.ndenumerate(iterations):
    label = "div" if diverged[a, b] else "-" if np.isinf(value) else f"{value:.0f}"
    ax_grid.text(
        steps_H[b],
        steps_W[a],
        label,
        ha="center",
        va="center",
        fontsize=8,
        color="w" if np.isfinite(value) else "0.4",
    )
path = auto.step_sizes_
ax_grid.plot(path[:, 1], path[:, 0], color="tab:red", lw=2)
ax_grid.plot(*path[0, ::-1], "o", color="tab:red")
ax_grid.plot(*path[-1, ::-1], "x", color="tab:red", mew=2)
ax_grid.set_xscale("log")
ax_grid.set_yscale("log")
ax_grid.set_xlabel("step for H ($t_H$)")
ax_grid.set_ylabel("step for W ($t_W$)")
ax_grid.set_title(
    f"Iterations to target (automatic: {iterations_to_target(auto.objective_)})"
)
fig.colorbar(mesh, ax=ax_grid, label="iterations")
fig.tight_layout()
plt.show()

# %%
# The steps that work span a narrow band in each direction, three orders of
# magnitude apart between the two factors, and the band moves with the data
# scale and with the iterates. The inverse Lipschitz constant is the safe
# step for the direction of largest curvature only; the adaptive steps grow
# past it wherever the curvature along the actual step allows, and shrink
# again when it does not, so they need no search and no more iterations than
# the best pair of the grid (``benchmarks/bench_proxmf.py`` checks this
# against finer grids centred on the right scale, which a user would first
# have to find).
