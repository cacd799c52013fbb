"""
=======================================================
Factorizations as features in a tuned pipeline
=======================================================

Every skfactor transformer is a scikit-learn transformer: it fits in a
:class:`~sklearn.pipeline.Pipeline`, its own parameters are tuned by
:class:`~sklearn.model_selection.GridSearchCV`, the fitted search pickles,
and ``set_output(transform="pandas")`` names the learned features.

Here three factorizations of the 8 x 8 digit images feed a logistic
regression: :class:`~skfactor.BalancedSparseNMF` (sparse parts),
:class:`~skfactor.ProximalMF` (parts whose spectra lie on the simplex) and
:class:`~skfactor.RidgeCPD`, which folds each image back into an 8 x 8
matrix and keeps only as many rank-one terms as its ridge penalty allows.
"""

import pickle
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skfactor import BalancedSparseNMF, ProximalMF, RidgeCPD

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=600, test_size=600, random_state=0
)

extractors = {
    "BalancedSparseNMF": (
        BalancedSparseNMF(max_iter=100, random_state=0),
        {"n_components": [8, 16], "alpha_H": [0.0, 1.0]},
    ),
    "ProximalMF": (
        ProximalMF(max_iter=100, random_state=0),
        {"n_components": [8, 16], "prox_H": ["nonnegative", "simplex"]},
    ),
    "RidgeCPD": (
        RidgeCPD(tensor_shape=(8, 8), max_iter=100, random_state=0),
        {"n_components": [8, 16], "alpha": [0.1, 1.0]},
    ),
}

searches = {}
for name, (extractor, grid) in extractors.items():
    start = time.perf_counter()
    # clip=True: test images may fall outside the training range, and the
    # nonnegative factorizations reject negative data
    pipe = make_pipeline(
        MinMaxScaler(clip=True),
        extractor,
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    )
    step = pipe.steps[1][0]
    search = GridSearchCV(pipe, {f"{step}__{k}": v for k, v in grid.items()}, cv=3)
    searches[name] = search.fit(X_train, y_train)
    print(
        f"{name}: best {search.best_params_}, CV accuracy {search.best_score_:.3f} "
        f"({time.perf_counter() - start:.1f} s for the search)"
    )

# %%
# The fitted searches pickle and predict identically after a round trip.
for name, search in searches.items():
    restored = pickle.loads(pickle.dumps(search))
    assert np.array_equal(restored.predict(X_test), search.predict(X_test))

# %%
# Test accuracy of each tuned pipeline, and the grid it explored.
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
names = list(searches)
axes[0].bar(names, [searches[n].score(X_test, y_test) for n in names], color="C0")
axes[0].set_ylim(0.8, 1.0)
axes[0].set_ylabel("test accuracy")
axes[0].set_title("tuned pipelines")
for i, name in enumerate(names):
    scores = searches[name].cv_results_["mean_test_score"]
    axes[1].plot(np.arange(scores.size), scores, "o-", label=name)
axes[1].set_xticks(range(4))
axes[1].set_xticklabels(["8 / a", "8 / b", "16 / a", "16 / b"])
axes[1].set_xlabel("n_components / second parameter (first, second value)")
axes[1].set_ylabel("mean CV accuracy")
axes[1].legend()
fig.tight_layout()

# %%
# With ``set_output(transform="pandas")`` the features are named after the
# estimator, ready for inspection.
scaler, nmf = searches["BalancedSparseNMF"].best_estimator_[:2]
nmf.set_output(transform="pandas")
print(nmf.transform(scaler.transform(X_test[:5])).round(2))

# %%
# The RidgeCPD components are rank-one 8 x 8 images: the outer products of
# its row and column factors.
cpd = searches["RidgeCPD"].best_estimator_[1]
rows, cols = cpd.components_
fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for q, ax in enumerate(axes.ravel()[: rows.shape[1]]):
    ax.imshow(np.outer(rows[:, q], cols[:, q]), cmap="gray_r")
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle(f"RidgeCPD rank-one parts ({cpd.n_components_effective_} effective)")
plt.show()
