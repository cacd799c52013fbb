"""The quality ceiling of a point-estimate FM on the judging splits, tuned by CV.

Issue 15 asks ProxFMClassifier to close half of the LogisticRegression ->
myFM (Bayesian FM, Gibbs sampling, rank 8) test log-loss gap on the judging
splits of ``ua.base`` (:func:`_fm_splits.judging_splits`), and, if a point
estimate cannot, to say so with the measured ceiling. The ceiling is the
full-batch L2-penalized MAP FM (``map_fit`` of ``tests/_fm_reference.py``,
L-BFGS, rank 8), with its penalties chosen by validation on the training
part of each split only, then refit on the whole training part.
scikit-learn's LogisticRegression gets its ``C`` chosen the same way (the
benchmark's ``C=3`` has no record of how it was chosen; both are shown).

Validation folds (``--validation``): ``matched`` (default) cuts the training
part like the test part is cut from ``ua.base`` (per-user hold-outs of 10
ratings, or the latest ratings for the time-ordered split), so the
validation loss weighs users as the test loss does; ``kfold`` is plain
K-fold with the folds cut within each user
(:func:`_fm_splits.per_user_folds`), which weighs users by their number of
ratings.

Penalty search (mean validation log-loss over the folds), coordinate-wise:
``lam_v`` on a log grid at ``lam_b = 1e-5``, then ``lam_b`` at the best
``lam_v``, then ``lam_v`` a factor sqrt(3) either side of the best.

Also measured, at the chosen penalties: what averaging buys over one point
estimate, by the mean predicted probability of MAP fits from several random
initializations, and of ProxFMClassifier's defaults over several seeds.

    python benchmarks/bench_fm_ceiling.py [--quick] [--validation {matched,kfold}]
"""

import argparse
import functools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))  # the reference trainers of the tests
sys.path.insert(0, str(HERE))
from _fm_reference import map_fit  # noqa: E402
from _fm_splits import (  # noqa: E402
    MISSING,
    judging_splits,
    load_ua_base,
    per_user_folds,
    per_user_split,
    report_header,
    time_split,
)
from bench_fm import logistic, myfm_gibbs  # noqa: E402
from search_fm_defaults import _scores, prox  # noqa: E402

from skfactor.fm._model import fm_decision  # noqa: E402

SCHEMES = {
    "matched": "folds made like the test part: {n} per-user hold-outs of 10 "
    "ratings, seeds {seed}+j, for the per-user splits; the latest ratings, as "
    "many as the test part, for the time-ordered split",
    "kfold": "{n}-fold CV, folds cut within each user, seed {seed}",
}
RANK = 8
MAX_ITER = 1000  # L-BFGS iterations of one MAP fit (the report flags the cap)
LAM_B0 = 1e-5
LAM_V_GRID = (1e-4, 3e-4, 1e-3, 3e-3)
LAM_B_GRID = (1e-6, 1e-5, 1e-4)
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
MAX_EXTEND = 2  # grid extensions at an edge, per coordinate
N_FOLDS = 3
FOLD_SEED = 1000  # the folds inside each training part
TIME_FRACTION = 0.1  # the time-ordered judging split's test fraction
N_AVERAGE = 5  # restarts / seeds averaged


def map_predict(lam_b, lam_v, seed=0, log=None):
    """``fit_predict`` of the MAP FM; appends ``n_iter`` to ``log``."""

    def fit_predict(X, y, X_test):
        model, _, n_iter = map_fit(
            X, y, RANK, lam_b, lam_v, max_iter=MAX_ITER, random_state=seed
        )
        if log is not None:
            log.append(n_iter)
        return 1.0 / (1.0 + np.exp(-fm_decision(X_test, *model)))

    return fit_predict


def _pct(x):
    return "n/a" if np.isnan(x) else f"{x:.0%}"


def _mean(fits):
    """``(mean probability, total time)`` of several ``(p, seconds)``."""
    return np.mean([p for p, _ in fits], axis=0), sum(t for _, t in fits)


def validation_folds(split, ratings, n_folds, scheme):
    """``[(fit, validate)]`` boolean masks over the rows of a training part.

    ``scheme="kfold"``: K folds cut within each user (every user's ratings
    spread evenly over the folds, so the validation weighs users by their
    number of ratings). ``scheme="matched"``: folds made like the test part
    of ``split``: for a per-user split, ``n_folds`` per-user hold-outs of 10
    ratings (seeds ``FOLD_SEED + j``, so users weigh alike, as in the test);
    for the time-ordered split, one fold holding out the latest ratings, as
    many as the test part has.
    """
    if scheme == "kfold":
        fold = per_user_folds(ratings, n_folds, FOLD_SEED)
        return [(fold != f, fold == f) for f in range(n_folds)]
    if split.startswith("time"):
        return [time_split(ratings, TIME_FRACTION / (1.0 - TIME_FRACTION))]
    return [per_user_split(ratings, FOLD_SEED + j) for j in range(n_folds)]


def cv_loss(fit_predict, X, y, folds):
    """Mean validation log-loss over the folds."""
    losses = []
    for fit, held in folds:
        p = fit_predict(X[fit], y[fit], X[held])
        losses.append(_scores(y[held], p)[0])
    return float(np.mean(losses))


def choose_map(X, y, folds, quick, trace):
    """``(lam_b, lam_v)`` of least CV log-loss, by the coordinate search."""
    cache = {}

    def score(lam_b, lam_v):
        key = (float(f"{lam_b:.3g}"), float(f"{lam_v:.3g}"))
        if key not in cache:
            iters = []
            cache[key] = cv_loss(map_predict(*key, log=iters), X, y, folds)
            trace.append((*key, cache[key], max(iters)))
        return cache[key]

    extend = 0 if quick else MAX_EXTEND
    grid = (3e-4, 1e-3) if quick else LAM_V_GRID
    lam_v = line_min(lambda v: score(LAM_B0, v), grid, 3.0, extend)
    lam_b = LAM_B0
    if not quick:
        lam_b = line_min(lambda b: score(b, lam_v), LAM_B_GRID, 10.0, extend)
        refine = (lam_v / 3**0.5, lam_v, lam_v * 3**0.5)
        lam_v = line_min(lambda v: score(lam_b, v), refine, 3**0.5, extend)
    return float(f"{lam_b:.3g}"), float(f"{lam_v:.3g}")


def line_min(score, grid, factor, extend):
    """Grid point of least ``score``, the grid extended by ``factor`` at an edge.

    While the best point is the grid's first or last one, the next point
    beyond it is tried too, at most ``extend`` times.
    """
    grid = list(grid)
    for _ in range(extend):
        best = min(grid, key=score)
        if best == grid[0]:
            grid.insert(0, best / factor)
        elif best == grid[-1]:
            grid.append(best * factor)
        else:
            break
    return min(grid, key=score)


def choose_c(X, y, folds, quick, trace):
    cache = {}

    def score(c):
        key = float(f"{c:.3g}")
        if key not in cache:
            cache[key] = cv_loss(functools.partial(logistic, C=key), X, y, folds)
            trace.append((key, cache[key]))
        return cache[key]

    grid = (1.0, 3.0) if quick else C_GRID
    return float(f"{line_min(score, grid, 3.0, 0 if quick else MAX_EXTEND):.3g}")


def run(quick=False, scheme="matched"):
    """Run the measurement and return its markdown report."""
    header = report_header("bench_fm_ceiling: MovieLens-100k", quick)
    ml = load_ua_base()
    if ml is None:
        return header + MISSING
    X, y, ratings = ml.data_train, ml.target_train, ml.ratings_train
    splits = judging_splits(ratings)[: 2 if quick else None]
    n_folds = 2 if quick else N_FOLDS
    n_average = 2 if quick else N_AVERAGE
    n_sweeps = 50 if quick else 200
    try:
        import myfm  # noqa: F401

        has_myfm = True
    except ImportError:
        has_myfm = False

    names = [
        "LogisticRegression, C by CV",
        "LogisticRegression(C=3) (bench_fm)",
        f"MAP FM (L-BFGS, k={RANK}), penalties by CV",
        f"MAP FM, mean of {n_average} restarts",
        "ProxFMClassifier defaults (random_state=0)",
        f"ProxFMClassifier defaults, mean of {n_average} seeds",
    ]
    if has_myfm:
        names.append(f"myFM Gibbs, rank 8, {n_sweeps} sweeps")
    table = {n: [] for n in names}
    seconds = dict.fromkeys(names, 0.0)
    chosen, traces, refit_iters = [], [], []

    def timed(fit_predict, train, test):
        start = time.perf_counter()
        p = fit_predict(X[train], y[train], X[test])
        return p, time.perf_counter() - start

    def record(name, p, elapsed, test):
        seconds[name] += elapsed
        table[name].append(_scores(y[test], p))

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for split, train, test in splits:
            start = time.perf_counter()
            idx = np.flatnonzero(train)
            folds = validation_folds(split, ratings[idx], n_folds, scheme)
            Xt, yt = X[idx], y[idx]
            trace_map, trace_c = [], []
            lam_b, lam_v = choose_map(Xt, yt, folds, quick, trace_map)
            c = choose_c(Xt, yt, folds, quick, trace_c)
            search = time.perf_counter() - start
            chosen.append((split, lam_b, lam_v, c, search))
            traces.append((split, trace_map, trace_c))
            print(f"{split}: lam_b={lam_b} lam_v={lam_v} C={c}", file=sys.stderr)

            record(
                names[0], *timed(functools.partial(logistic, C=c), train, test), test
            )
            record(names[1], *timed(logistic, train, test), test)
            iters = []
            fits = [
                timed(map_predict(lam_b, lam_v, seed, iters), train, test)
                for seed in range(n_average)
            ]
            refit_iters.append(iters)
            record(names[2], *fits[0], test)
            record(names[3], *_mean(fits), test)
            fits = [
                timed(prox(dict(random_state=s)), train, test) for s in range(n_average)
            ]
            record(names[4], *fits[0], test)
            record(names[5], *_mean(fits), test)
            if has_myfm:
                record(names[6], *timed(myfm_gibbs(n_sweeps), train, test), test)

    table = {n: np.array(v) for n, v in table.items()}
    lines = [header]
    lines += [
        f"Judging splits of ua.base ({'; '.join(s[0] for s in splits)}). "
        f"Penalties and C chosen by validation on each split's training part "
        f"only ({SCHEMES[scheme].format(n=n_folds, seed=FOLD_SEED)}); test "
        "parts read once, after the choice.\n",
    ]
    if not has_myfm:
        lines.append("myFM is not installed: no gap can be computed.\n")
    lines += [
        "| split | MAP lam_b | MAP lam_v | LR C | search time (s) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for split, lam_b, lam_v, c, search in chosen:
        lines.append(f"| {split} | {lam_b:g} | {lam_v:g} | {c:g} | {search:.0f} |")
    capped = sum(n >= MAX_ITER for it in refit_iters for n in it)
    lines.append(
        f"\nL-BFGS iterations of the refits: {min(min(i) for i in refit_iters)}-"
        f"{max(max(i) for i in refit_iters)} (cap {MAX_ITER}; {capped} refit(s) "
        "at the cap).\n"
    )

    def gap(name, base):
        if not has_myfm:
            return np.full(len(splits), np.nan)
        lr, bayes = table[base][:, 0], table[names[-1]][:, 0]
        # undefined where the baseline is not worse than myFM
        return np.where(lr > bayes, lr - table[name][:, 0], np.nan) / (lr - bayes)

    per_user = [i for i, s in enumerate(splits) if s[0].startswith("per-user")]
    lines += [
        "Test log-loss / AUC per split; gap closed = (LR - method) / (LR - myFM) "
        "in log-loss, with the CV-tuned LR as the baseline (in brackets: with "
        "bench_fm's C=3); n/a where that LR is not worse than myFM.\n",
        "| method | "
        + " | ".join(s[0] for s in splits)
        + " | mean | worst | gap closed per split | gap closed, mean of "
        "per-user splits | gap closed, worst per-user split | time (s) |",
        "| --- |" + " ---: |" * (len(splits) + 6),
    ]
    for name in names:
        s = table[name]
        g, g3 = gap(name, names[0]), gap(name, names[1])
        gu, gu3 = g[per_user], g3[per_user]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{a:.4f} / {b:.4f}" for a, b in s)
            + f" | {s[:, 0].mean():.4f} / {s[:, 1].mean():.4f}"
            + f" | {s[:, 0].max():.4f} / {s[:, 1].min():.4f}"
            + " | "
            + ", ".join(f"{_pct(a)} ({_pct(b)})" for a, b in zip(g, g3))
            + f" | {_pct(gu.mean())} ({_pct(gu3.mean())})"
            + f" | {_pct(gu.min())} ({_pct(gu3.min())})"
            + f" | {seconds[name]:.0f} |"
        )
    lines += [
        "\nCV log-loss of every MAP candidate (lam_b, lam_v: CV log-loss, "
        "most L-BFGS iterations of its folds) and of every C:\n"
    ]
    for split, trace_map, trace_c in traces:
        cands = "; ".join(
            f"{b:g}, {v:g}: {loss:.4f} ({n})" for b, v, loss, n in trace_map
        )
        cs = "; ".join(f"{c:g}: {loss:.4f}" for c, loss in trace_c)
        lines.append(f"- {split}: MAP {cands}. LR C {cs}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two splits, small grids")
    parser.add_argument(
        "--validation",
        choices=sorted(SCHEMES),
        default="matched",
        help="how the training part is cut for choosing the penalties",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    print(run(quick=args.quick, scheme=args.validation))
    print(f"_Run time: {time.perf_counter() - start:.0f} s._")
