"""
===================================================================
Recommending movies with ProxFMClassifier on MovieLens-100k
===================================================================

Each rating of MovieLens-100k becomes a sparse row (one-hot user, movie,
age, gender, occupation and multi-hot genres, see
:func:`skfactor.datasets.load_movielens_100k`); the label is "rated 5 stars".
We train on the official ``ua.base`` split and evaluate on ``ua.test``:

1. the training loss per epoch of the setting published by Shtoff (2020)
   (exact proximal steps, fixed :math:`\\eta = 1/(2d+1)`, no penalty), of
   :class:`~skfactor.ProxFMClassifier`'s defaults, and of SGD / Adagrad on
   the same model (reference implementations);
2. the test log-loss per epoch of the last iterate and of the averaged
   iterates (the default prediction);
3. the top movies the fitted model recommends to one user.

The data is for research use and is not shipped: set ``SKFACTOR_DATA`` to the
folder holding ``ml-100k`` (or let the loader download it). Without it this
example prints a message and stops.
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import expit
from sklearn.metrics import log_loss, roc_auc_score

from skfactor import ProxFMClassifier
from skfactor.datasets import load_movielens_100k
from skfactor.datasets._movielens import locate_movielens_100k
from skfactor.fm._model import fm_decision

try:  # the repository root, when run from a checkout
    _here = Path(__file__).resolve().parents[1]
except NameError:  # sphinx-gallery runs the file without __file__
    _here = Path.cwd().parent
sys.path.insert(0, str(_here / "tests"))  # the reference trainers of the tests
from _fm_reference import sgd_fit  # noqa: E402

home = locate_movielens_100k(_here / ".." / "shared" / "data")
if home is None:
    print("MovieLens-100k not found: set SKFACTOR_DATA to the folder holding ml-100k.")
else:
    ml = load_movielens_100k(home, split="ua", download_if_missing=False)
    X, y, X_test, y_test = ml.data_train, ml.target_train, ml.data_test, ml.target_test
    d = X.getnnz(axis=1).max()
    print(f"train {X.shape}, test {X_test.shape}, {y.mean():.1%} positives, d = {d}")

# %%
# Training loss per epoch
# -----------------------
# The published fixed step diverges (its latent vectors grow without bound);
# the penalty folded into the proximal step and the decreasing steps of the
# defaults make the iteration stable and the test metrics beat the
# linear-only model. The curves are the "progressive" loss of each sample
# just before its step, i.e. of the last iterate.
if home is not None:
    epochs = 30
    runs = {
        "published: eta = 1/(2d+1), no penalty, k=20": ProxFMClassifier(
            n_components=20,
            step_size=1 / (2 * d + 1),
            alpha=0.0,
            schedule="constant",
            bias_step_scale=1.0,
            average=False,
            init_std=0.01,
            max_iter=epochs,
            random_state=0,
        ),
        "ProxFMClassifier defaults (k=8)": ProxFMClassifier(
            max_iter=epochs, random_state=0
        ),
        "ProxFMClassifier n_components=0": ProxFMClassifier(
            n_components=0, max_iter=epochs, random_state=0
        ),
    }
    curves, scores = {}, {}
    for name, model in runs.items():
        model.fit(X, y)
        curves[name] = model.loss_curve_
        scores[name] = model.decision_function(X_test)
    for name, adagrad, lr in [("SGD (k=8)", False, 0.02), ("Adagrad (k=8)", True, 0.1)]:
        curve, params, _ = sgd_fit(
            X, y, 8, epochs, lr=lr, lam_b=0.003, lam_v=0.05, adagrad=adagrad
        )
        curves[name] = curve
        scores[name] = fm_decision(X_test, *params)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, marker=".", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training log-loss (progressive)")
    ax.set_title("MovieLens-100k ua.base")
    ax.legend(fontsize="small")
    fig.tight_layout()

    for name, s in scores.items():
        p = np.clip(expit(s), 1e-15, 1 - 1e-15)
        print(
            f"{name:42s} test log-loss {log_loss(y_test, p):.4f}  "
            f"AUC {roc_auc_score(y_test, s):.4f}"
        )

# %%
# Test log-loss per epoch: last iterate vs averaged iterates
# -----------------------------------------------------------
# Averaging does not change the training trajectory (same random seed, same steps):
# it only changes which parameters predict. Each :meth:`partial_fit` call is
# one epoch of the schedule, so the two models below follow the defaults'
# 30 epochs and we can score them after each one.
if home is not None:
    last = ProxFMClassifier(average=False, random_state=0)
    averaged = ProxFMClassifier(random_state=0)
    test_curves = {
        "last iterate (average=False)": [],
        "averaged iterates (default)": [],
    }
    for _ in range(epochs):
        for model, curve in zip((last, averaged), test_curves.values()):
            model.partial_fit(X, y, classes=[0, 1])
            curve.append(log_loss(y_test, model.predict_proba(X_test)[:, 1]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curve in test_curves.items():
        ax.plot(np.arange(1, epochs + 1), curve, marker=".", label=name)
    p_adagrad = expit(scores["Adagrad (k=8)"])
    ax.axhline(
        log_loss(y_test, p_adagrad),
        color="gray",
        ls="--",
        label="Adagrad after 30 epochs",
    )
    ax.axhline(0.436, color="black", ls=":", label="target 0.436")
    ax.set_ylim(0.43, 0.47)
    ax.set_xlabel("epoch")
    ax.set_ylabel("ua.test log-loss")
    ax.legend(fontsize="small")
    fig.tight_layout()

# %%
# Recommendations for one user
# ----------------------------
# Score every movie for user 1 (the user's side features are fixed, only the
# movie columns change) and list the unseen movies with the highest
# probability of a 5-star rating.
if home is not None:
    model = runs["ProxFMClassifier defaults (k=8)"]
    names = ml.feature_names
    movie_cols = np.flatnonzero([n.startswith("movie=") for n in names])
    user_row = X[np.flatnonzero(ml.ratings_train[:, 0] == 1)[0]].toarray().ravel()
    user_row[movie_cols] = 0.0
    genre_cols = np.flatnonzero([n.startswith("genre=") for n in names])
    user_row[genre_cols] = 0.0
    candidates = np.tile(user_row, (movie_cols.size, 1))
    candidates[np.arange(movie_cols.size), movie_cols] = 1.0
    # add each movie's genres from any rating of it
    full = load_movielens_100k(home, download_if_missing=False)
    first = {m: i for i, m in reversed(list(enumerate(full.ratings[:, 1])))}
    for row, col in enumerate(movie_cols):
        movie_id = int(names[col].split("=")[1])
        if movie_id in first:
            g = full.data[first[movie_id]].indices
            candidates[row, np.intersect1d(g, genre_cols)] = 1.0
    proba = model.predict_proba(candidates)[:, 1]
    seen = set(ml.ratings_train[ml.ratings_train[:, 0] == 1, 1])
    ranked = [
        c
        for c in np.argsort(-proba)
        if int(names[movie_cols[c]].split("=")[1]) not in seen
    ]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = ranked[:10][::-1]
    ax.barh([names[movie_cols[c]] for c in top], proba[top])
    ax.set_xlabel("predicted P(5 stars)")
    ax.set_title("Top unseen movies for user 1")
    fig.tight_layout()
    plt.show()
