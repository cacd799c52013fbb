"""BalancedSparseNMF against scikit-learn's NMF (KL, multiplicative updates).

Both minimize the same objective

    KL(X | WH) + alpha_W ||W||_1 + alpha_H ||H||_1,

scikit-learn with ``NMF(solver="mu", beta_loss="kullback-leibler",
l1_ratio=1)`` and its alphas divided by n_features (W) and n_samples (H),
since it multiplies them back. Both start from the same factors, and both
objectives are computed by the same function
(``skfactor.decomposition._mu.objective``).

For each case: scikit-learn runs 200 iterations (``tol=0``); skfactor runs
until its objective is at most scikit-learn's 200-iteration objective, and
that fit (``max_iter`` = the iterations needed, including initialization
and the final exact W-step) is timed. Times are the best of several runs.

    python benchmarks/bench_nmf.py [--quick]
"""

import argparse
import datetime
import platform
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning

from skfactor import BalancedSparseNMF
from skfactor.datasets import make_sparse_nmf
from skfactor.decomposition._init import nndsvda_init
from skfactor.decomposition._mu import objective
from skfactor.metrics import factor_match_score

SK_ITER = 200


def _best_time(fit, repeats):
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        best = min(best, time.perf_counter() - start)
    return best, result


def _zeros(F):
    """Fraction of entries that are zero (or at the 1e-16 floor, relative)."""
    return float(np.mean(F <= 1e-10 * max(F.max(), np.finfo(float).tiny)))


def _case(name, X, r, alpha_W, alpha_H, W0, H0, truth, repeats, unbalanced=True):
    n_samples, n_features = X.shape

    def score(W, H):
        if truth is None:
            return "-"
        return f"{factor_match_score([truth[0], truth[1].T], [W, H.T]):.4f}"

    def obj(W, H):
        return objective(X, W, H, 1, alpha_W, alpha_H, "l1", "l1")

    sk = NMF(r, solver="mu", beta_loss="kullback-leibler", l1_ratio=1.0,
             alpha_W=alpha_W / n_features, alpha_H=alpha_H / n_samples,
             init="custom", max_iter=SK_ITER, tol=0)
    sk_time, W_sk = _best_time(lambda: sk.fit_transform(X, W=W0.copy(), H=H0.copy()), repeats)
    H_sk = sk.components_
    target = obj(W_sk, H_sk)
    rows = [(name, "scikit-learn NMF (mu)", SK_ITER, sk_time, 1.0, target,
             score(W_sk, H_sk), _zeros(W_sk), _zeros(H_sk))]

    variants = [("BalancedSparseNMF", "every")]
    if unbalanced:
        variants.append(("BalancedSparseNMF, balance='none'", "none"))
    for label, balance in variants:
        def make(max_iter):
            return BalancedSparseNMF(r, alpha_W=alpha_W, alpha_H=alpha_H, balance=balance,
                                     init=(W0, H0), max_iter=max_iter, tol=0)

        long_run = make(2 * SK_ITER).fit(X)
        # objective_[k] is after k iterations (the last entry: after the W-step)
        history = long_run.objective_[:-1]
        reached = np.nonzero(history <= target)[0]
        if reached.size == 0:
            rows.append((name, label, f"> {2 * SK_ITER}", np.nan, np.nan, history[-1],
                         "-", np.nan, np.nan))
            continue
        k = max(int(reached[0]), 1)
        model = make(k)
        seconds, W = _best_time(lambda: model.fit_transform(X), repeats)
        H = model.components_
        rows.append((name, label, k, seconds, seconds / sk_time, obj(W, H), score(W, H),
                     _zeros(W), _zeros(H)))
    return rows


def run(quick=False):
    """Run the benchmark and return it as markdown."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    repeats = 3 if quick else 7
    seeds = [0] if quick else [0, 1, 2]
    rows = []
    for seed in seeds:
        X, W_true, H_true = make_sparse_nmf(30, 30, 4, sparsity=0.3, snr=40, random_state=seed)
        rng = np.random.RandomState(1000 + seed)
        W0, H0 = rng.uniform(size=(30, 4)), rng.uniform(size=(4, 30))
        for alpha_W, alpha_H in ((0.05, 0.05), (1.0, 0.1)):
            rows += _case(f"seed 002 set-up #{seed}, mu=({alpha_W:g}, {alpha_H:g})", X, 4,
                          alpha_W, alpha_H, W0, H0, (W_true, H_true), repeats)
    X = load_digits().data
    W0, H0 = nndsvda_init(X, 10, np.random.RandomState(0))
    for alpha in ((1.0, 1.0),) if quick else ((1.0, 1.0), (10.0, 10.0)):
        rows += _case(f"digits 1797 x 64, r=10, mu=({alpha[0]:g}, {alpha[1]:g})", X, 10,
                      *alpha, W0, H0, None, 1 if quick else 3, unbalanced=not quick)

    lines = [
        f"BalancedSparseNMF vs scikit-learn {__import__('sklearn').__version__} NMF(solver='mu', "
        f"KL, l1_ratio=1); {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, {datetime.date.today().isoformat()}"
        f"{' (quick)' if quick else ''}.",
        "",
        "Iterations and time for skfactor are those needed to reach scikit-learn's "
        f"{SK_ITER}-iteration objective; objectives by one function. Target: time / "
        "sklearn <= 0.2.",
        "",
        "| case | method | iterations | time (ms) | time / sklearn | objective | FMS "
        "| zeros in W | zeros in H |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, method, k, seconds, ratio, value, fms, zw, zh in rows:
        lines.append(
            f"| {case} | {method} | {k} | {1e3 * seconds:.1f} | {ratio:.2f} | {value:.6g} "
            f"| {fms} | {zw:.2f} | {zh:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and repeats")
    print(run(quick=parser.parse_args().quick))
