"""Stability over step sizes: ProxFMClassifier against SGD, Adagrad and Adam FMs.

The stability experiment of Shtoff (2020), rerun: every method trains the
same factorization machine (k = 8, same initialization for the same seed,
L2 penalty 0.03 on the touched parameters) with a constant step size from a
geometric grid over five decades (1e-4 to 10), for a fixed number of
epochs, from 10 seeded initializations and shuffles on each data set.
Reported per step size: the mean over the attempts of the best epoch
training loss (the mean loss of each sample just before its step) and the
fraction of diverged runs (last epoch loss not finite or above log 2, the
loss of the starting point). Two data sets: the first 1,000 ratings of
MovieLens-100k ``ua.base`` and all of it.

The proximal step is only defined below its convexity bound (``step_size *
(L - alpha) < 1``, ``L = 10`` on MovieLens): larger steps are rejected by the
estimator and shown as "-". A fifth column runs the proximal method without
latent vectors (``n_components=0``, a logistic regression by exact proximal
steps, convex for every step): the model the seed's reference actually
trained, since its latent update never reached the embedding table.

    python benchmarks/bench_fm_stability.py [--quick]

References: A. Shtoff (2020), Proximal point to the extreme - factorization
machines (blog post).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the reference trainers of the tests
from _fm_reference import (  # noqa: E402
    STABILITY_METHODS,
    stability_run,
    stability_summary,
)

from _fm_splits import MISSING, load_ua_base, report_header  # noqa: E402

#: The proximal method without latent vectors: a logistic regression trained
#: by exact proximal steps, convex for every step (no bound), as the seed's
#: reference ran (its latent update never reached the embedding table).
BIASES_ONLY = "ProxFMClassifier, k = 0"
METHODS = STABILITY_METHODS + (BIASES_ONLY,)


def _run(method, X, y, step, epochs, seed):
    if method == BIASES_ONLY:
        return stability_run(
            "ProxFMClassifier", X, y, step, epochs, seed, n_components=0
        )
    return stability_run(method, X, y, step, epochs, seed)


def _base_rate_loss(y):
    p = float(np.mean(y))
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def stability_table(X, y, steps, attempts, epochs):
    """``results[method][step] = (mean best loss, diverged fraction)``, or None."""
    baseline = _base_rate_loss(y)
    results = {}
    for method in METHODS:
        results[method] = {}
        for step in steps:
            runs = [_run(method, X, y, step, epochs, seed) for seed in range(attempts)]
            if runs[0] is None:
                results[method][step] = None
                continue
            summary = [stability_summary(curve) for curve in runs]
            best = np.array([b for b, _ in summary])
            diverged = np.mean([d for _, d in summary])
            mean_best = float(np.mean(best)) if np.all(np.isfinite(best)) else np.inf
            results[method][step] = (mean_best, float(diverged))
    return results, baseline


def _stable_range(row, tolerance=0.01):
    """Decades of steps within ``tolerance`` of the best mean loss, none diverged."""
    valid = {s: v for s, v in row.items() if v is not None}
    best = min(v[0] for v in valid.values())
    good = [s for s, (loss, div) in valid.items() if loss <= best * (1 + tolerance)]
    good = [s for s in good if valid[s][1] == 0.0]
    # the longest run of consecutive grid points
    steps = sorted(valid)
    longest, current, start, span = 0, 0, None, (None, None)
    for s in steps:
        if s in good:
            current += 1
            start = s if current == 1 else start
            if current > longest:
                longest, span = current, (start, s)
        else:
            current = 0
    if span[0] is None:
        return 0.0, best, span
    return float(np.log10(span[1] / span[0])), best, span


def _format(results, baseline, steps, title):
    lines = [
        f"\n#### {title}\n",
        f"Mean best-epoch training log-loss (fraction of diverged runs); base-rate "
        f"log-loss {baseline:.4f}.\n",
        "| step size | " + " | ".join(METHODS) + " |",
        "| ---: | " + " | ".join("---:" for _ in METHODS) + " |",
    ]
    for step in steps:
        cells = []
        for method in METHODS:
            value = results[method][step]
            if value is None:
                cells.append("-")
            else:
                loss, div = value
                cells.append(f"{loss:.4g} ({div:.0%})")
        lines.append(f"| {step:.2g} | " + " | ".join(cells) + " |")
    lines.append(
        "\n| method | best mean loss | steps within 1% of it, no divergence | decades |"
    )
    lines.append("| --- | ---: | --- | ---: |")
    for method in METHODS:
        decades, best, (lo, hi) = _stable_range(results[method])
        span = f"{lo:.2g} .. {hi:.2g}" if lo is not None else "none"
        lines.append(f"| {method} | {best:.4f} | {span} | {decades:.1f} |")
    return lines


def run(quick=False, full_attempts=10):
    """Run the benchmark and return its markdown report."""
    header = report_header("bench_fm_stability: MovieLens-100k ua.base", quick)
    ml = load_ua_base()
    if ml is None:
        return header + MISSING
    X, y = ml.data_train, ml.target_train
    # (title, rows, attempts, epochs); all of ua.base takes 5 x 11 x attempts x
    # epochs passes over 90,570 ratings (about 4 minutes for 10 attempts)
    if quick:
        steps = np.logspace(-4, 0, 5)
        datasets = [("first 1,000 ratings", 1000, 3, 5), ("first 10,000", 10000, 3, 5)]
    else:
        steps = np.logspace(-4, 1, 11)
        datasets = [
            ("first 1,000 ratings", 1000, 10, 10),
            ("all 90,570 ratings", None, full_attempts, 5),
        ]
    lines = [
        header,
        "k = 8, L2 0.03 on the touched parameters, constant steps, seeded attempts "
        "per step size (initialization and order); ProxFMClassifier with its other "
        "defaults (bias step twice the latent step). '-': step above the proximal "
        "step's convexity bound, rejected. ProxFMClassifier, k = 0: no latent "
        "vectors (the model the seed's reference trained), every step convex.",
    ]
    for title, n, attempts, epochs in datasets:
        Xs, ys = (X, y) if n is None else (X[:n], y[:n])
        results, baseline = stability_table(Xs, ys, steps, attempts, epochs)
        title = f"{title}: {attempts} attempts, {epochs} epochs"
        lines += _format(results, baseline, steps, title)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid (minutes)")
    print(run(quick=parser.parse_args().quick))
