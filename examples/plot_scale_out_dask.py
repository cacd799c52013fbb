"""
=====================================================
Grid search on a dask cluster through joblib
=====================================================

skfactor parallelizes only through :mod:`joblib`, so a grid search over
:class:`~skfactor.SwitchingRegression` (whose ``n_init`` restarts run in
parallel too) moves to a dask cluster with one ``with`` statement. The result
is the same as with the default backend: restart seeds are drawn before the
work is dispatched, and the best restart is chosen by objective.

This example starts a small in-process ``LocalCluster``; point
:class:`dask.distributed.Client` at a real scheduler to use a cluster. See
the user guide page on scaling out for the ray recipe.
"""

import time

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV

from skfactor import SwitchingRegression

# Three linear regimes selected by the inputs (the first feature's range),
# so that the gating model of ``predict`` can tell them apart on new data.
rng = np.random.default_rng(0)
X = rng.uniform(-3, 3, size=(400, 3))
regimes = np.digitize(X[:, 0], [-1.0, 1.0])
coef = np.array([[2.0, -1.0, 0.5], [-1.0, 3.0, 0.0], [0.5, 0.0, -2.0]])
y = np.einsum("ij,ij->i", X, coef[regimes]) + 0.5 * rng.standard_normal(400)
grid = {"n_regimes": [1, 2, 3, 4], "alpha": [0.0, 1.0, 10.0]}
search = GridSearchCV(
    SwitchingRegression(n_init=4, n_jobs=2, random_state=0), grid, cv=3, n_jobs=2
)

start = time.perf_counter()
default = GridSearchCV(**search.get_params(deep=False)).fit(X, y)
default_time = time.perf_counter() - start

try:
    from dask.distributed import Client, LocalCluster
except ImportError:  # dask is optional
    Client = None

if Client is not None:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            on_dask = GridSearchCV(**search.get_params(deep=False)).fit(X, y)
        dask_time = time.perf_counter() - start
    same = np.array_equal(
        on_dask.cv_results_["mean_test_score"], default.cv_results_["mean_test_score"]
    )
    print(f"default backend {default_time:.1f} s, dask {dask_time:.1f} s")
    print(f"identical cross-validation scores: {same}")
    print(f"best parameters: {on_dask.best_params_} (default: {default.best_params_})")
else:
    print("dask.distributed is not installed; only the default backend ran.")

# %%
# Cross-validated :math:`R^2` over the grid (the regimes are known only through
# the gating model at prediction time): one regime, a plain linear model,
# cannot fit the three slopes; the true number of regimes, three, is needed.
scores = default.cv_results_["mean_test_score"].reshape(len(grid["n_regimes"]), -1)
fig, ax = plt.subplots(figsize=(6, 4))
for j, alpha in enumerate(grid["alpha"]):
    ax.plot(grid["n_regimes"], scores[:, j], "o-", label=f"alpha={alpha:g}")
ax.set_xlabel("n_regimes")
ax.set_ylabel("mean CV $R^2$")
ax.set_xticks(grid["n_regimes"])
ax.legend()
ax.set_title("GridSearchCV over SwitchingRegression")
fig.tight_layout()
plt.show()
