"""MultilevelFactorModel vs scikit-learn FactorAnalysis as the number of features grows.

Data: ``make_multilevel_factor`` with 6 levels (5 factor levels of ranks
14, 6, 4, 3, 2 plus the diagonal; every group splits into 4, so 1/4/16/64/256
groups), 300 training and 300 held-out samples, signal-to-noise ratio 4.

- Per-EM-iteration time. Ours: the EM loop's own clock (``verbose=1``
  prints the time since the end of the initialization at every iteration),
  so the SVD initialization is excluded; it is reported separately (init s).
  FactorAnalysis (no initialization to speak of):
  ``(fit(max_iter=1 + m) - fit(max_iter=1)) / m``.
- Peak memory: ``tracemalloc`` peak (numpy allocations) during a fit of two
  iterations, the training data (already in memory) excluded.
- Held-out log-likelihood per entry (nats per sample and feature) of the true
  model, of MultilevelFactorModel on the true hierarchy, of a plain low-rank +
  diagonal model (our EM with one level of rank 29) and of FactorAnalysis.
  FactorAnalysis has ``n_components=29 = 14 + 6 + 4 + 3 + 2``: every feature
  loads on as many factors as in the multilevel model (same number of
  parameters). Its own ``score`` forms a dense ``n x n`` precision, so it is
  used only up to ``n = 10,000``; beyond, its fitted model (one level plus the
  diagonal, an MLR matrix) is scored with the structured inverse (marked *).

Run ``python benchmarks/bench_multilevel.py [--quick]``.
"""

import argparse
import contextlib
import datetime
import io
import os
import platform
import re
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.decomposition import FactorAnalysis
from sklearn.exceptions import ConvergenceWarning

from skfactor import MLRMatrix, MultilevelFactorModel
from skfactor.datasets import make_multilevel_factor

RANKS = (14, 6, 4, 3, 2)
N_TRAIN = 300
N_TEST = 300


def _timed_fit(make, X):
    start = time.perf_counter()
    model = make().fit(X)
    return time.perf_counter() - start, model


def _per_iteration(make, X, m):
    t1, _ = _timed_fit(lambda: make(1), X)
    t2, _ = _timed_fit(lambda: make(1 + m), X)
    return max(t2 - t1, 0.0) / m


def _em_clock(make, X, m):
    """Seconds per EM iteration from the verbose output, and the setup time."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        total, model = _timed_fit(lambda: make(m, verbose=1), X)
    elapsed = [float(t) for t in re.findall(r"\(([0-9.]+) s\)", output.getvalue())]
    return elapsed[-1] / model.n_iter_, total - elapsed[-1]


def _peak_memory(make, X):
    tracemalloc.start()
    make(2).fit(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def _fa_score(fa, X):
    n = X.shape[1]
    if n <= 10_000:
        return fa.score(X), ""
    covariance = MLRMatrix([np.zeros(n)], [fa.components_.T], fa.noise_variance_)
    return float(covariance.logpdf(X, fa.mean_).mean()), "*"


def run(quick=False):
    """Run the benchmark and return a markdown report."""
    sizes = [1_000, 5_000] if quick else [1_000, 5_000, 10_000, 20_000, 100_000]
    m = 2 if quick else 5
    max_iter = 30 if quick else 100
    total_rank = sum(RANKS)
    header = (
        f"MultilevelFactorModel vs FactorAnalysis — {datetime.date.today()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
        f"{' (quick)' if quick else ''}"
    )
    lines = [
        header,
        "",
        f"N = {N_TRAIN} training + {N_TEST} held-out samples; ranks {RANKS} + diagonal "
        f"(groups 1/4/16/64/256); FactorAnalysis n_components={total_rank}; "
        f"held-out fits: max_iter={max_iter}.",
        "",
        "| n features | ours s/iter | FA s/iter | FA / ours | ours init s "
        "| ours peak MB | FA peak MB | held-out ll/entry: truth | ours "
        "| low-rank+diag | FA |",
        "|" + " ---: |" * 11,
    ]
    per_iteration = {}
    for n in sizes:
        X_all, truth = make_multilevel_factor(
            n_samples=N_TRAIN + N_TEST,
            n_features=n,
            ranks=RANKS,
            branching=4,
            random_state=0,
        )
        X, X_test = X_all[:N_TRAIN], X_all[N_TRAIN:]

        def ours(max_iter, tol=0.0, verbose=0):
            return MultilevelFactorModel(
                RANKS,
                truth.hierarchy,
                max_iter=max_iter,
                tol=tol,
                random_state=0,
                verbose=verbose,
            )

        def flat(max_iter, tol=0.0):
            return MultilevelFactorModel(
                (total_rank,), [np.zeros(n)], max_iter=max_iter, tol=tol, random_state=0
            )

        def fa(max_iter, tol=0.0):
            return FactorAnalysis(
                total_rank, max_iter=max_iter, tol=tol, random_state=0
            )

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t_ours, t_init = _em_clock(ours, X, max(m, 200_000 // n))
            t_fa = _per_iteration(fa, X, m)
            mem_ours = _peak_memory(ours, X)
            mem_fa = _peak_memory(fa, X)
            model = ours(max_iter, 1e-5).fit(X)
            plain = flat(max_iter, 1e-5).fit(X)
            reference = fa(max_iter, 1e-2).fit(X)  # scikit-learn's default tol
        per_iteration[n] = t_ours
        fa_ll, mark = _fa_score(reference, X_test)
        truth_ll = float(truth.covariance.logpdf(X_test).mean())
        lines.append(
            f"| {n:,} | {t_ours:.4f} | {t_fa:.4f} | {t_fa / max(t_ours, 1e-12):.2f} "
            f"| {t_init:.2f} | {mem_ours:.0f} | {mem_fa:.0f} | {truth_ll / n:.4f} "
            f"| {model.score(X_test) / n:.4f} | {plain.score(X_test) / n:.4f} "
            f"| {fa_ll / n:.4f}{mark} |"
        )
    lines.append("")
    lines.append(
        f"Training data: {N_TRAIN} x n float64 = {N_TRAIN * 8 / 1e3:.1f} MB per "
        "1,000 features."
    )
    if 10_000 in per_iteration and 100_000 in per_iteration:
        ratio = per_iteration[100_000] / per_iteration[10_000]
        lines.append(f"time(100k) / time(10k) = {ratio:.1f} (linear: 10).")
    lines.append(
        "* FactorAnalysis's model scored with the structured MLR inverse (its "
        "dense score needs n x n)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, about a minute"
    )
    print(run(quick=parser.parse_args().quick))
