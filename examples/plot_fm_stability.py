"""
======================================================================
Stability of exact proximal steps over step sizes
======================================================================

The stability experiment of Shtoff (2020), on labels drawn from a known
rank-3 factorization machine (:func:`skfactor.datasets.make_fm_classification`):
the same model (same initialization for the same seed, same L2 penalty on
the touched parameters) is trained for a few epochs at a constant step size
taken from a geometric grid over four decades, by

* :class:`~skfactor.ProxFMClassifier` (exact proximal steps,
  ``schedule="constant"``, its other defaults);
* plain SGD, Adagrad and Adam on the same loss (reference loops of the
  test suite);
* ``ProxFMClassifier(n_components=0)``: the same proximal steps without
  latent vectors, a logistic regression on the one-hot features, convex at
  every step size (the model the seed's reference effectively trained).

For each step size we plot the best epoch training loss (the mean loss of
each sample just before its step), averaged over three seeded attempts. The
proximal step is only defined below its convexity bound
(``step_size * (L - alpha) < 1`` with ``L`` = fields - 1), so its line stops
there; without latent vectors there is no bound.
``benchmarks/bench_fm_stability.py`` runs the same on MovieLens-100k with
ten attempts.
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skfactor.datasets import make_fm_classification

try:  # the repository root, when run from a checkout
    _here = Path(__file__).resolve().parents[1]
except NameError:  # sphinx-gallery runs the file without __file__
    _here = Path.cwd().parent
sys.path.insert(0, str(_here / "tests"))  # the reference trainers of the tests
from _fm_reference import (  # noqa: E402
    STABILITY_METHODS,
    stability_run,
    stability_summary,
)

X, y, truth = make_fm_classification(
    n_samples=3000, n_fields=6, n_categories=20, n_components=3, random_state=0
)
steps = np.logspace(-4, 0, 9)
attempts, epochs = 3, 5

# each line: the trainer and the number of latent components
methods = {method: (method, 3) for method in STABILITY_METHODS}
methods["ProxFMClassifier, k = 0"] = ("ProxFMClassifier", 0)
results = {}
for name, (method, n_components) in methods.items():
    mean, spread, diverged = [], [], []
    for step in steps:
        runs = [
            stability_run(method, X, y, step, epochs, seed, n_components=n_components)
            for seed in range(attempts)
        ]
        if runs[0] is None:  # above the proximal step's convexity bound
            mean.append(np.nan), spread.append(np.nan), diverged.append(np.nan)
            continue
        summary = [stability_summary(curve) for curve in runs]
        best = np.array([b for b, _ in summary])
        mean.append(best.mean())
        spread.append(best.std())
        diverged.append(np.mean([d for _, d in summary]))
    results[name] = np.array(mean), np.array(spread), np.array(diverged)

# %%
# Best epoch training loss against the step size. Diverged runs (last epoch
# loss above log 2, where training started, or not finite) are marked with a
# cross; the loss axis is clipped. Without latent vectors the model cannot
# represent the pairwise interactions that drew the labels, so its best loss
# stays near 0.61; every proximal step is defined, but from a step of 0.3 on
# the constant-step iterates overshoot and end above log 2.
fig, ax = plt.subplots(figsize=(7, 4.5))
for method, (mean, spread, diverged) in results.items():
    shown = np.clip(mean, None, 1.0)
    (line,) = ax.semilogx(steps, shown, marker="o", label=method)
    ax.fill_between(
        steps, shown - spread, np.clip(mean + spread, None, 1.0), alpha=0.15
    )
    bad = diverged > 0
    ax.semilogx(
        steps[bad], shown[bad], "x", color=line.get_color(), markersize=12, mew=2
    )
ax.axhline(np.log(2), color="k", linestyle=":", label="starting point (log 2)")
ax.set_xlabel("step size")
ax.set_ylabel(f"best training log-loss in {epochs} epochs")
ax.set_ylim(0.0, 1.0)
ax.legend()
ax.set_title("Factorization machine on synthetic FM data")
fig.tight_layout()

for method, (mean, _, diverged) in results.items():
    row = "  ".join(
        "   -  " if np.isnan(m) else f"{m:5.3g}{'*' if d > 0 else ' '}"
        for m, d in zip(mean, diverged)
    )
    print(f"{method:23s} {row}")
print("step sizes:", "  ".join(f"{s:.0e}" for s in steps), "(* diverged runs)")
plt.show()
