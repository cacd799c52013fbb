"""Choose ProxFMClassifier's defaults (and the Adagrad reference) by validation.

Cross-validation on MovieLens-100k ``ua.base`` only: two seeded per-user
hold-out splits (:data:`_fm_splits.SEARCH_SEEDS`, 10 ratings per user), never
``ua.test`` and never the splits that ``bench_fm.py`` judges the result on.
Prints a markdown table of every candidate's mean and worst validation
log-loss and AUC, best first.

    python benchmarks/search_fm_defaults.py [--quick]
"""

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))  # the reference trainers of the tests
sys.path.insert(0, str(HERE))
from _fm_reference import sgd_fit  # noqa: E402
from _fm_splits import load_ua_base, search_splits  # noqa: E402

from skfactor import ProxFMClassifier  # noqa: E402
from skfactor.fm._model import fm_decision  # noqa: E402

PROX_GRID = {
    "alpha": [0.01, 0.03, 0.06],
    "bias_step_scale": [2.0, 4.0],
    "n_components": [8, 16],
}
# Second stage, around the best of the grid (alpha 0.06 won the log-loss,
# 0.03 the AUC, k = 16 both): in between, and k = 32 / 45 epochs.
PROX_REFINE = [
    dict(alpha=0.04, bias_step_scale=4.0, n_components=16),
    dict(alpha=0.045, bias_step_scale=4.0, n_components=16),
    dict(alpha=0.045, bias_step_scale=4.0, n_components=32),
    dict(alpha=0.045, bias_step_scale=4.0, n_components=16, max_iter=45),
]
ADAGRAD_GRID = [
    dict(lr=lr, lam_b=lam_b, lam_v=lam_v, epochs=15)
    for lr in (0.05, 0.1, 0.2)
    for lam_b, lam_v in ((0.003, 0.05), (0.01, 0.01))
]


def _scores(y, p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return log_loss(y, p), roc_auc_score(y, p)


def evaluate(fit_predict, X, y, splits):
    """``[(log-loss, AUC)]`` of ``fit_predict(X_train, y_train, X_test)`` per split."""
    out = []
    for _, train, test in splits:
        p = fit_predict(X[train], y[train], X[test])
        out.append(_scores(y[test], p))
    return np.array(out)


def prox(params):
    def fit_predict(X, y, X_test):
        clf = ProxFMClassifier(**{"random_state": 0, **params}).fit(X, y)
        return clf.predict_proba(X_test)[:, 1]

    return fit_predict


def adagrad(params):
    params = dict(params)
    epochs = params.pop("epochs")

    def fit_predict(X, y, X_test):
        _, model, _ = sgd_fit(X, y, 8, epochs, **params)
        return 1.0 / (1.0 + np.exp(-fm_decision(X_test, *model)))

    return fit_predict


def run(quick=False):
    ml = load_ua_base()
    if ml is None:
        return "Skipped: MovieLens-100k not found (set SKFACTOR_DATA).\n"
    X, y, ratings = ml.data_train, ml.target_train, ml.ratings_train
    splits = search_splits(ratings)[: 1 if quick else None]
    names, values = zip(*PROX_GRID.items())
    candidates = [
        ("ProxFMClassifier", dict(zip(names, v))) for v in itertools.product(*values)
    ]
    candidates += [("ProxFMClassifier", p) for p in PROX_REFINE]
    candidates += [("Adagrad FM", p) for p in ADAGRAD_GRID]
    if quick:
        candidates = candidates[:2] + candidates[-1:]
    rows = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method, params in candidates:
            start = time.perf_counter()
            make = prox if method == "ProxFMClassifier" else adagrad
            scores = evaluate(make(params), X, y, splits)
            seconds = time.perf_counter() - start
            rows.append((method, params, scores, seconds))
            print(f"{method} {params}: {scores.mean(axis=0)}", file=sys.stderr)
    rows.sort(key=lambda r: r[2][:, 0].mean())
    lines = [
        f"Validation on {len(splits)} per-user split(s) of ua.base (seeds "
        f"{', '.join(s[0] for s in splits)}), 10 ratings per user held out.\n",
        "| method | setting | mean log-loss | worst log-loss | mean AUC | worst AUC "
        "| time (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method, params, scores, seconds in rows:
        setting = ", ".join(f"{k}={v}" for k, v in params.items())
        lines.append(
            f"| {method} | {setting} | {scores[:, 0].mean():.4f} | "
            f"{scores[:, 0].max():.4f} | {scores[:, 1].mean():.4f} | "
            f"{scores[:, 1].min():.4f} | {seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three candidates")
    print(run(quick=parser.parse_args().quick))
