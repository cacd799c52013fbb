"""
======================================================================
Exact proximal steps for factorization machines: stable and learning
======================================================================

A factorization machine is trained on labels drawn from a known rank-3
factorization machine (:func:`skfactor.datasets.make_fm_classification`),
one sample at a time, by:

* the seed's method as derived: exact proximal steps at the fixed step
  :math:`\\eta = 1/(2d+1)` (``d`` nonzeros a row) without penalty;
* :class:`~skfactor.ProxFMClassifier` with its defaults (an L2 penalty folded
  into the proximal step, decreasing steps, larger for the biases than for
  the latent vectors, and predictions from the averaged iterates);
* plain SGD and Adagrad on the same model and penalty (reference
  implementations);
* the linear model alone (``n_components=0``), to see what the pairwise term
  adds.

The seed's fixed step keeps every proximal subproblem convex, but the
iteration is not stable: the latent vectors grow and the training loss climbs
back up after a few epochs.
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from skfactor import ProxFMClassifier
from skfactor.datasets import make_fm_classification
from skfactor.fm._model import fm_decision

try:  # the repository root, when run from a checkout
    _here = Path(__file__).resolve().parents[1]
except NameError:  # sphinx-gallery runs the file without __file__
    _here = Path.cwd().parent
sys.path.insert(0, str(_here / "tests"))  # the reference trainers of the tests
from _fm_reference import sgd_fit  # noqa: E402

n_fields = 6
X, y, truth = make_fm_classification(
    n_samples=20000, n_fields=n_fields, n_categories=20, n_components=3, random_state=0
)
X_train, y_train, X_test, y_test = X[:15000], y[:15000], X[15000:], y[15000:]
epochs = 20

models = {
    "seed: eta = 1/(2d+1), no penalty": ProxFMClassifier(
        n_components=3,
        step_size=1 / (2 * n_fields + 1),
        alpha=0.0,
        schedule="constant",
        bias_step_scale=1.0,
        average=False,
        init_std=0.01,
        max_iter=epochs,
        random_state=0,
    ),
    "ProxFMClassifier defaults": ProxFMClassifier(
        n_components=3, max_iter=epochs, random_state=0
    ),
    "linear part only (n_components=0)": ProxFMClassifier(
        n_components=0, max_iter=epochs, random_state=0
    ),
}
curves, test_auc = {}, {}
for name, model in models.items():
    model.fit(X_train, y_train)
    curves[name] = model.loss_curve_
    test_auc[name] = roc_auc_score(y_test, model.decision_function(X_test))

for name, adagrad, lr in [("SGD", False, 0.05), ("Adagrad", True, 0.1)]:
    curve, params, _ = sgd_fit(
        X_train, y_train, 3, epochs, lr=lr, lam_b=0.03, lam_v=0.03, adagrad=adagrad
    )
    curves[name] = curve
    test_auc[name] = roc_auc_score(y_test, fm_decision(X_test, *params))

# %%
# Training loss per epoch (the mean loss of each sample just before its
# step, by the last iterate). The seed's setting diverges; the penalized,
# decreasing-step default converges and ends below the linear model, i.e. it
# learns the pairwise term.
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, curve in curves.items():
    ax.plot(np.arange(1, len(curve) + 1), curve, marker=".", label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("training log-loss (progressive)")
ax.set_ylim(0.25, 1.0)
ax.legend()
ax.set_title("Factorization machine on synthetic FM data")
fig.tight_layout()

# %%
# Held-out AUC against the AUC of the true model.
oracle = roc_auc_score(y_test, truth.decision[15000:])
fig, ax = plt.subplots(figsize=(7, 3.5))
names = list(test_auc)
ax.barh(names, [test_auc[n] for n in names], color="tab:blue")
ax.axvline(oracle, color="k", linestyle="--", label=f"true model ({oracle:.3f})")
ax.set_xlim(0.5, 1.0)
ax.set_xlabel("test AUC")
ax.legend(loc="lower right")
fig.tight_layout()
for name in names:
    print(f"{name:40s} test AUC {test_auc[name]:.4f}")
plt.show()
