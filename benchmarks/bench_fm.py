"""ProxFMClassifier against the seed's method, Adagrad, logistic regression and myFM.

MovieLens-100k ``ua`` split (``ua.base`` to train, ``ua.test`` to test), one
run, same features for everyone. Prints a markdown table: training
throughput (samples/s = epochs x training samples / fit time) and the test
log-loss / AUC. Besides the trainers, two reference points bound what a
single FM can reach: the L2-penalized MAP by full-batch L-BFGS (penalties
tuned on ua.test itself, so a generous ceiling for penalized point
estimates) and the posterior mean of myFM's parameters (one FM, probit
link).

    python benchmarks/bench_fm.py [--quick]

The data is looked up in ``SKFACTOR_DATA``, the default data home and the
repository-relative ``../shared/data``; see
:func:`skfactor.datasets.load_movielens_100k`.
"""

import argparse
import contextlib
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from skfactor import ProxFMClassifier
from skfactor.datasets import load_movielens_100k
from skfactor.datasets._movielens import locate_movielens_100k
from skfactor.fm._model import fm_decision

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the reference trainers of the tests
from _fm_reference import map_fit, seed_prox_epoch, sgd_fit  # noqa: E402


def _scores(y_test, p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return log_loss(y_test, p), roc_auc_score(y_test, p)


def _seed_as_written(X, y, X_test, n_samples, d, seed=0):
    """The seed's golden-section / linear-solve step, fixed eta = 1/(2d+1), k = 20."""
    rng = np.random.default_rng(seed)
    m = X.shape[1]
    w0, w = np.zeros(1), np.zeros(m)
    V = 0.01 * rng.standard_normal((m, 20))
    order = rng.permutation(X.shape[0])[:n_samples]
    start = time.perf_counter()
    seed_prox_epoch(X, 2.0 * y - 1.0, order, 1.0 / (2 * d + 1), w0, w, V)
    elapsed = time.perf_counter() - start
    return elapsed, n_samples, fm_decision(X_test, w0[0], w, V)


def run(quick=False):
    """Run the benchmark and return its markdown report."""
    header = (
        f"### bench_fm: MovieLens-100k ua, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
        f"{' (quick)' if quick else ''}\n"
    )
    home = locate_movielens_100k(REPO / ".." / "shared" / "data")
    if home is None:
        return header + "\nSkipped: MovieLens-100k not found (set SKFACTOR_DATA).\n"
    ml = load_movielens_100k(home, split="ua", download_if_missing=False)
    X, y, X_test, y_test = ml.data_train, ml.target_train, ml.data_test, ml.target_test
    d = int(X.getnnz(axis=1).max())
    rows = []

    def add(name, setting, seconds, samples, p_test):
        loss, auc = _scores(y_test, p_test)
        rows.append((name, setting, samples / seconds, loss, auc, seconds))

    # compile / load the numba cache outside the timings
    ProxFMClassifier(max_iter=1).fit(X[:50], y[:50])
    epochs = 15
    settings = [
        ("ProxFMClassifier", "defaults (k=8, 30 epochs)", dict()),
        (
            "ProxFMClassifier",
            "best documented: n_components=20, max_iter=60, bias_step_scale=4",
            dict(n_components=20, max_iter=60, bias_step_scale=4.0),
        ),
        (
            "ProxFMClassifier",
            "no averaging, one step, eta/(1+e) (the previous defaults)",
            dict(
                average=False,
                bias_step_scale=1.0,
                power_t=1.0,
                step_size=0.5 / (d - 1),
                max_iter=15,
            ),
        ),
        ("ProxFMClassifier", "linear only: n_components=0", dict(n_components=0)),
        (
            "seed setting, closed-form step",
            f"eta=1/(2d+1), alpha=0, constant, k=20, {10} epochs",
            dict(
                n_components=20,
                step_size=1 / (2 * d + 1),
                alpha=0.0,
                schedule="constant",
                bias_step_scale=1.0,
                average=False,
                init_std=0.01,
                max_iter=10,
            ),
        ),
    ]
    for name, setting, params in settings:
        clf = ProxFMClassifier(random_state=0, **params)
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
        add(
            name,
            setting,
            seconds,
            clf.n_iter_ * X.shape[0],
            clf.predict_proba(X_test)[:, 1],
        )

    n_seed = 300 if quick else 3000
    seconds, samples, scores = _seed_as_written(X, y, X_test, n_seed, d)
    add(
        "seed method as written",
        f"golden section + solve, {n_seed} steps, k=20",
        seconds,
        samples,
        1 / (1 + np.exp(-scores)),
    )

    _, params, seconds = sgd_fit(X, y, 8, epochs, lr=0.1, lam_b=0.003, lam_v=0.05)
    samples, scores = epochs * X.shape[0], fm_decision(X_test, *params)
    add(
        "Adagrad FM (reference)",
        f"k=8, lr=0.1, L2 0.003/0.05, {epochs} epochs",
        seconds,
        samples,
        1 / (1 + np.exp(-scores)),
    )

    start = time.perf_counter()
    lr = LogisticRegression(C=3.0, max_iter=2000).fit(X, y)
    seconds = time.perf_counter() - start
    add(
        "scikit-learn LogisticRegression",
        "C=3 (lbfgs, full batch)",
        seconds,
        lr.n_iter_[0] * X.shape[0],
        lr.predict_proba(X_test)[:, 1],
    )

    params, seconds, nit = map_fit(X, y, 8, lam_b=1e-5, lam_v=7e-4, max_iter=500)
    add(
        "penalized MAP FM (full-batch L-BFGS)",
        f"k=8, L2 1e-5/7e-4 (tuned on ua.test), {nit} iterations",
        seconds,
        nit * X.shape[0],
        1 / (1 + np.exp(-fm_decision(X_test, *params))),
    )

    try:
        import myfm
    except ImportError:
        myfm = None
    if myfm is not None:
        from scipy.stats import norm

        n_iter = 50 if quick else 200
        fm = myfm.MyFMClassifier(rank=8, random_seed=0)
        start = time.perf_counter()
        with warnings.catch_warnings(), open(os.devnull, "w") as devnull:
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(devnull):  # its progress bar
                fm.fit(X, y, n_iter=n_iter, n_kept_samples=n_iter * 3 // 4)
        seconds = time.perf_counter() - start
        add(
            "myFM (Bayesian FM, Gibbs)",
            f"rank 8, {n_iter} sweeps",
            seconds,
            n_iter * X.shape[0],
            fm.predict_proba(X_test),
        )
        samples = fm.predictor_.samples
        mean = [
            np.mean([getattr(s, name) for s in samples], axis=0)
            for name in ("w0", "w", "V")
        ]
        add(
            "myFM posterior-mean parameters (one FM)",
            f"probit link, mean of {len(samples)} samples",
            seconds,
            n_iter * X.shape[0],
            norm.cdf(fm_decision(X_test, float(mean[0]), mean[1], mean[2])),
        )

    base = rows[0][2]
    lines = [
        header,
        f"Train {X.shape[0]} x {X.shape[1]} (max {d} nonzeros a row), test {X_test.shape[0]}. "
        "Throughput counts sample visits (epochs or sweeps x training samples).\n",
        "| method | setting | samples/s | throughput vs ProxFM default | test log-loss | test AUC | fit time (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, setting, rate, loss, auc, seconds in rows:
        lines.append(
            f"| {name} | {setting} | {rate:,.0f} | {rate / base:.3g} | {loss:.4f} | {auc:.4f} "
            f"| {seconds:.2f} |"
        )
    lines.append(
        "\nTargets: test log-loss <= 0.436, AUC >= 0.79, >= 1,000,000 samples/s. The MAP row is "
        "the best any optimizer of an L2-penalized FM reaches; the two myFM rows come from "
        "posterior averaging."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller reference runs (about a minute)"
    )
    print(run(quick=parser.parse_args().quick))
