"""
=============================================
Multilevel factor model: learning a hierarchy
=============================================

A multilevel factor model attaches factors to the groups of a hierarchical
partition of the features: a few factors shared by all features, more
factors shared within each group, more within each subgroup, and so on. Its
covariance is a multilevel low-rank (MLR) matrix, block structured after the
features are reordered by the hierarchy.

Here the data come from such a model with three levels (1, 2 and 4 groups,
ranks 3, 2 and 1) and the features shuffled.
:class:`~skfactor.MultilevelFactorModel` learns the hierarchy
(``hierarchy="auto"``) and the factors, and is compared with scikit-learn's
:class:`~sklearn.decomposition.FactorAnalysis` with as many factors per
feature (3 + 2 + 1 = 6).
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import FactorAnalysis
from sklearn.metrics import adjusted_rand_score

from skfactor import MultilevelFactorModel
from skfactor.datasets import make_multilevel_factor

ranks = (3, 2, 1)
X_all, truth = make_multilevel_factor(
    n_samples=1400, n_features=120, ranks=ranks, snr=4.0, random_state=0
)
X, X_test = X_all[:400], X_all[400:]

auto = MultilevelFactorModel(ranks, hierarchy="auto", random_state=0).fit(X)
known = MultilevelFactorModel(ranks, hierarchy=truth.hierarchy, random_state=0).fit(X)
flat = FactorAnalysis(n_components=sum(ranks), random_state=0).fit(X)

# %%
# The learned hierarchy
# ---------------------
# Features sorted by the true hierarchy: each row of a strip shows the groups
# of one level, true on the left, learned on the right (learned groups take
# the color of the true group they overlap most). The adjusted Rand index
# compares the partitions, whatever the labels.


def match_labels(true, learned):
    """Relabel the learned groups after the true groups they overlap most."""
    overlap = np.zeros((learned.max() + 1, true.max() + 1))
    np.add.at(overlap, (learned, true), 1)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = np.arange(overlap.shape[0]) + overlap.shape[1]
    mapping[rows] = cols
    return mapping[learned]


true_levels = np.array(truth.hierarchy)
learned_levels = np.array(
    [match_labels(t, lab) for t, lab in zip(truth.hierarchy, auto.hierarchy_)]
)
order = np.lexsort(true_levels[::-1])
fig, axes = plt.subplots(1, 2, figsize=(9, 2.6), sharey=True)
for ax, levels, title in [
    (axes[0], true_levels, "true hierarchy"),
    (axes[1], learned_levels, "learned hierarchy"),
]:
    ax.imshow(
        levels[:, order],
        aspect="auto",
        cmap="tab10",
        vmin=0,
        vmax=9,
        interpolation="nearest",
    )
    ax.set_title(title)
    ax.set_xlabel("features (sorted by the true hierarchy)")
    ax.set_yticks(range(len(ranks)), [f"level {level}" for level in range(len(ranks))])
fig.tight_layout()

for level, (true, learned) in enumerate(zip(truth.hierarchy, auto.hierarchy_)):
    ari = adjusted_rand_score(true, learned)
    print(f"level {level}: adjusted Rand index {ari:.2f}")

# %%
# Covariance blocks
# -----------------
# Absolute correlations of the true model, of the model learned with
# ``hierarchy="auto"`` and of factor analysis, all with the features in the
# true hierarchical order (the loadings have random signs, so magnitudes show
# the blocks best). The multilevel model reproduces the nested blocks; the
# flat factor model spreads its six factors over all the features.


def abs_correlation(covariance):
    scale = np.sqrt(np.diag(covariance))
    return np.abs(covariance / np.outer(scale, scale))[np.ix_(order, order)]


true_cov = truth.covariance.to_dense()
panels = [
    ("truth", true_cov),
    ('hierarchy="auto"', auto.get_covariance()),
    ("FactorAnalysis", flat.get_covariance()),
]
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
for ax, (title, covariance) in zip(axes, panels):
    image = ax.imshow(abs_correlation(covariance), cmap="magma_r", vmin=0, vmax=0.8)
    if title != "truth":
        error = np.linalg.norm(covariance - true_cov) / np.linalg.norm(true_cov)
        title = f"{title}\nrelative covariance error {error:.2f}"
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(image, ax=axes, shrink=0.8, label="|correlation|")

# %%
# Log-likelihood
# --------------
# EM never decreases the log-likelihood. On held-out data the multilevel
# models come close to the true model, far above the flat factor model with
# the same number of factors per feature.
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for model, label in [(auto, 'hierarchy="auto"'), (known, "true hierarchy")]:
    axes[0].plot(np.array(model.loglike_) / X.shape[0], label=label)
axes[0].axhline(flat.score(X), color="gray", linestyle="--", label="FactorAnalysis")
axes[0].set_xlabel("EM iteration")
axes[0].set_ylabel("training log-likelihood per sample")
axes[0].legend()

true_score = truth.covariance.logpdf(X_test).mean()
gaps = {
    "multilevel\n(true hierarchy)": true_score - known.score(X_test),
    'multilevel\n(hierarchy="auto")': true_score - auto.score(X_test),
    "FactorAnalysis\n(6 factors)": true_score - flat.score(X_test),
}
axes[1].bar(range(len(gaps)), list(gaps.values()), color=["C1", "C0", "gray"])
axes[1].set_xticks(range(len(gaps)), list(gaps))
axes[1].set_ylabel("held-out log-likelihood below the\ntrue model (nats per sample)")
for x, gap in enumerate(gaps.values()):
    axes[1].annotate(f"{gap:.1f}", (x, gap), ha="center", va="bottom")
fig.tight_layout()
plt.show()
