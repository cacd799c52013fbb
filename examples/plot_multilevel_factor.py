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
feature (3 + 2 + 1 = 6). Then the ranks are chosen under a budget
(``ranks="auto"``), the cost of an EM iteration is measured as the number of
features grows, and the model is fitted to a real data set shipped with
scikit-learn (handwritten digits), with the image's own spatial hierarchy.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import load_digits
from sklearn.decomposition import FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import train_test_split

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

# %%
# Choosing the ranks
# ------------------
# With ``ranks="auto"`` and a total budget ``n_factors`` (the number of
# factors every feature loads on), the ranks are allocated across the levels
# greedily, one rank at a time to the level whose increase raises the
# held-out log-likelihood most (5-fold cross-validation over the training
# samples), then refined by moving or dropping single ranks.
allocated = MultilevelFactorModel(
    "auto", truth.hierarchy, n_factors=sum(ranks), random_state=0
).fit(X)
print(f"true ranks {ranks}, allocated ranks {allocated.ranks_}")
print(
    "held-out log-likelihood per sample: allocated "
    f"{allocated.score(X_test):.2f}, true ranks {known.score(X_test):.2f}"
)

# %%
# Cost of an iteration
# --------------------
# Every E-step and M-step works with the structured inverse, group by group
# in compiled passes over the rows, so an EM iteration costs time linear in
# the number of features ``n``. FactorAnalysis with as many factors per
# feature does a randomized SVD of the whole data per iteration. Both are
# timed here on 300 samples of a five-level model (1, 4, 16, 64 and 256
# groups); ``benchmarks/bench_multilevel.py`` extends this to a million
# features.
big_ranks = (14, 6, 4, 3, 2)


def seconds_per_iteration(make, X, m=3):
    """(fit with 1 + m iterations - fit with 1) / m, best of two."""
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        make(1).fit(X)
        middle = time.perf_counter()
        make(1 + m).fit(X)
        best = min(best, ((time.perf_counter() - middle) - (middle - start)) / m)
    return max(best, 1e-6)


sizes = [500, 2000, 8000]
timings = {"MultilevelFactorModel": [], "FactorAnalysis": []}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for n in sizes:
        X_n, truth_n = make_multilevel_factor(
            n_samples=300, n_features=n, ranks=big_ranks, branching=4, random_state=0
        )
        timings["MultilevelFactorModel"].append(
            seconds_per_iteration(
                lambda it: MultilevelFactorModel(
                    big_ranks, truth_n.hierarchy, max_iter=it, tol=0, random_state=0
                ),
                X_n,
            )
        )
        timings["FactorAnalysis"].append(
            seconds_per_iteration(
                lambda it: FactorAnalysis(
                    sum(big_ranks), max_iter=it, tol=0, random_state=0
                ),
                X_n,
            )
        )
fig, ax = plt.subplots(figsize=(5.5, 4))
for label, values in timings.items():
    slope = np.polyfit(np.log(sizes), np.log(values), 1)[0]
    ax.loglog(sizes, values, "o-", label=f"{label} (slope {slope:.2f})")
ax.loglog(
    sizes,
    timings["MultilevelFactorModel"][0] * np.array(sizes) / sizes[0],
    "k:",
    label="linear",
)
ax.set_xlabel("number of features")
ax.set_ylabel("seconds per EM iteration")
ax.legend()
fig.tight_layout()

# %%
# Real data: handwritten digits
# -----------------------------
# The 8 x 8 images of scikit-learn's digits data set have a natural
# hierarchy: the image, its four 4 x 4 quadrants and its sixteen 2 x 2
# blocks. Pixels nearly constant on the training half (the borders) are
# dropped. With 9 factors per pixel, the multilevel model on the spatial
# hierarchy (ranks 6, 2, 1) is compared on the held-out half with
# FactorAnalysis with 9 factors, with a plain low-rank + diagonal model (the
# one-level multilevel model of rank 9) and with a hierarchy learned from the
# data.
digits = load_digits().data
rows, cols = np.divmod(np.arange(64), 8)
spatial = [np.zeros(64), (rows // 4) * 2 + cols // 4, (rows // 2) * 4 + cols // 2]
D_train, D_test = train_test_split(digits, test_size=0.5, random_state=0)
keep = D_train.std(axis=0) > 0.5
D_train, D_test = D_train[:, keep], D_test[:, keep]
spatial = [labels[keep] for labels in spatial]
digit_ranks = (6, 2, 1)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    digit_models = {
        "multilevel\n(spatial hierarchy)": MultilevelFactorModel(
            digit_ranks, spatial, random_state=0
        ),
        "multilevel\n(learned hierarchy)": MultilevelFactorModel(
            digit_ranks, None, random_state=0
        ),
        "low-rank + diagonal\n(rank 9)": MultilevelFactorModel(
            (9,), [np.zeros(keep.sum())], random_state=0
        ),
        "FactorAnalysis\n(9 factors)": FactorAnalysis(9, random_state=0),
    }
    digit_scores = {
        name: model.fit(D_train).score(D_test) for name, model in digit_models.items()
    }
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.bar(range(len(digit_scores)), list(digit_scores.values()), color="C0")
ax.set_xticks(range(len(digit_scores)), list(digit_scores))
ax.set_ylim(min(digit_scores.values()) - 2, max(digit_scores.values()) + 1)
ax.set_ylabel("held-out log-likelihood\n(nats per image)")
for x, value in enumerate(digit_scores.values()):
    ax.annotate(f"{value:.1f}", (x, value), ha="center", va="bottom")
fig.tight_layout()
for name, value in digit_scores.items():
    print(f"{name.replace(chr(10), ' ')}: {value:.2f}")
plt.show()
