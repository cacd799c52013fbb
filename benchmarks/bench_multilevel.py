"""MultilevelFactorModel: speed vs FactorAnalysis, rank allocation, learned hierarchies.

1. Speed and memory. Data: ``make_multilevel_factor`` with 5 factor levels
   of ranks 14, 6, 4, 3, 2 plus the diagonal (every group splits into 4, so
   1/4/16/64/256 groups), 300 training and 300 held-out samples (100 at one
   million features), signal-to-noise ratio 4.

   - Per-EM-iteration time. Ours: the EM loop's own clock (``verbose=1``
     prints the time since the end of the initialization at every
     iteration), so the SVD initialization is excluded; it is reported
     separately (init s). FactorAnalysis (no initialization to speak of):
     ``(fit(max_iter=1 + m) - fit(max_iter=1)) / m``. Best of two runs.
   - Peak memory: ``tracemalloc`` peak (numpy allocations) during a fit of
     two iterations, the training data (already in memory) excluded.
   - Held-out log-likelihood per entry (nats per sample and feature) of the
     true model, of MultilevelFactorModel on the true hierarchy, of a plain
     low-rank + diagonal model (our EM with one level of rank 29) and of
     FactorAnalysis with ``n_components=29 = 14 + 6 + 4 + 3 + 2`` (every
     feature loads on as many factors, same number of parameters). Its own
     ``score`` forms a dense ``n x n`` precision, so it is used only up to
     ``n = 10,000``; beyond, its fitted model (one level plus the diagonal, an
     MLR matrix) is scored with the structured inverse (marked *).
2. Rank allocation (``ranks="auto"``, budget ``n_factors``) on the true
   hierarchy against every fixed allocation of the same budget: held-out
   log-likelihood gap to the best of the grid, over seeded draws.
3. Learned hierarchies (``hierarchy=None``) on planted ones: adjusted Rand
   index of every level below the top, over seeded draws, next to two
   ceilings: a plug-in reassignment with factors fitted on the true
   hierarchy, and an oracle with the true factors the generator drew.

Run ``python benchmarks/bench_multilevel.py [--quick]``.
"""

import argparse
import contextlib
import datetime
import io
import itertools
import os
import platform
import re
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.decomposition import FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

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
    """Seconds per iteration: the difference of a 1- and a (1 + m)-iteration fit.

    Divided by the iterations actually run (``n_iter_``): with ``tol=0``
    FactorAnalysis still stops when its log-likelihood does not increase
    (randomized SVD noise, after a few iterations), so ``m`` would undercount
    its cost per iteration.
    """
    best = np.inf
    for _ in range(2):
        t1, short = _timed_fit(lambda: make(1), X)
        t2, long = _timed_fit(lambda: make(1 + m), X)
        extra = long.n_iter_ - short.n_iter_
        if extra > 0:
            best = min(best, max(t2 - t1, 0.0) / extra)
    return best


def _em_clock(make, X, m):
    """Seconds per EM iteration from the verbose output (best of two), and the setup."""
    best, setup = np.inf, np.inf
    for _ in range(2):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            total, model = _timed_fit(lambda: make(m, verbose=1), X)
        times = [float(t) for t in re.findall(r"\(([0-9.]+) s\)", output.getvalue())]
        best = min(best, times[-1] / model.n_iter_)
        setup = min(setup, total - times[-1])
    return best, setup


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


def _data(n, n_test):
    """Training and held-out samples; large sizes are sampled in chunks."""
    _, truth = make_multilevel_factor(
        n_samples=1, n_features=n, ranks=RANKS, branching=4, random_state=0
    )
    X_all = np.empty((N_TRAIN + n_test, n))
    for start in range(0, X_all.shape[0], 100):
        stop = min(start + 100, X_all.shape[0])
        X_all[start:stop] = truth.covariance.sample(stop - start, random_state=start)
    return X_all[:N_TRAIN], X_all[N_TRAIN:], truth


def speed_table(sizes, m, max_iter, million):
    total_rank = sum(RANKS)
    lines = [
        f"N = {N_TRAIN} training + {N_TEST} held-out samples; ranks {RANKS} + "
        f"diagonal (groups 1/4/16/64/256); FactorAnalysis n_components={total_rank}; "
        f"held-out fits: max_iter={max_iter}.",
        "",
        "| n features | ours s/iter | FA s/iter | FA / ours | ours init s "
        "| ours peak MB | FA peak MB | held-out ll/entry: truth | ours "
        "| low-rank+diag | FA |",
        "|" + " ---: |" * 11,
    ]
    per_iteration = {}
    for n in sizes:
        X, X_test, truth = _data(n, N_TEST)

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
    if million:
        n = 1_000_000
        X, X_test, truth = _data(n, 100)
        hierarchy = truth.hierarchy
        truth_ll = float(truth.covariance.logpdf(X_test).mean())
        del truth
        output = io.StringIO()
        tracemalloc.start()
        with contextlib.redirect_stdout(output), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model = MultilevelFactorModel(
                RANKS, hierarchy, max_iter=3, tol=0.0, verbose=1, random_state=0
            ).fit(X)
            total = time.perf_counter() - start
            score = model.score(X_test)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        times = [float(t) for t in re.findall(r"\(([0-9.]+) s\)", output.getvalue())]
        per_iteration[n] = times[-1] / model.n_iter_
        lines.append(
            f"| {n:,} | {per_iteration[n]:.4f} | — | — | {total - times[-1]:.2f} "
            f"| {peak:.0f} (fit + score) | — | {truth_ll / n:.4f} "
            f"| {score / n:.4f} (3 iterations) | — | — |"
        )
    lines.append("")
    lines.append(
        f"Training data: {N_TRAIN} x n float64 = {N_TRAIN * 8 / 1e3:.1f} MB per "
        "1,000 features (not counted in the peaks)."
    )
    sizes = sorted(per_iteration)
    for small, large in zip(sizes[:-1], sizes[1:]):
        ratio = per_iteration[large] / per_iteration[small]
        lines.append(
            f"time({large:,}) / time({small:,}) = {ratio:.1f} "
            f"(linear: {large / small:.0f})."
        )
    lines.append(
        "* FactorAnalysis's model scored with the structured MLR inverse (its "
        "dense score needs n x n)."
    )
    return lines, per_iteration


def _fit_quiet(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


def rank_table(seeds, n_features, planted=((4, 2, 1), (2, 3, 2), (1, 2, 4))):
    """ranks='auto' against the grid of fixed allocations of the same budget."""
    budget = 7
    grid = [
        ranks
        for ranks in itertools.product(range(1, budget + 1), repeat=3)
        if sum(ranks) == budget
    ]
    lines = [
        f"Planted ranks {', '.join(map(str, planted))} (1/2/4 groups), {n_features} "
        f"features, 300 training + 300 held-out samples, snr 4; budget "
        f"n_factors={budget}; grid: all {len(grid)} allocations of the budget with "
        "every level >= 1; the true hierarchy is given. Gap = (best grid - auto) / "
        "|best grid| of the held-out log-likelihood.",
        "",
        "| planted | seed | auto ranks_ | best grid ranks | gap % |",
        "| --- | ---: | --- | --- | ---: |",
    ]
    gaps = []
    for true_ranks in planted:
        for seed in seeds:
            X_all, truth = make_multilevel_factor(
                n_samples=600,
                n_features=n_features,
                ranks=true_ranks,
                random_state=seed,
            )
            X, X_test = X_all[:300], X_all[300:]
            common = dict(hierarchy=truth.hierarchy, max_iter=200, random_state=0)
            auto = _fit_quiet(
                MultilevelFactorModel("auto", n_factors=budget, **common), X
            )
            scores = {
                ranks: _fit_quiet(MultilevelFactorModel(ranks, **common), X).score(
                    X_test
                )
                for ranks in grid
            }
            best = max(scores, key=scores.get)
            gap = 100 * (scores[best] - auto.score(X_test)) / abs(scores[best])
            gaps.append(gap)
            lines.append(
                f"| {true_ranks} | {seed} | {auto.ranks_} | {best} | {gap:.3f} |"
            )
    lines.append(
        f"| **mean / worst** | | | | {np.mean(gaps):.3f} / {np.max(gaps):.3f} |"
    )
    lines.append("")
    lines.append(
        f"Target: worst gap <= 1%: {'met' if max(gaps) <= 1.0 else 'NOT met'}."
    )
    return lines


def plugin_reassignment(model, X):
    """Each feature to the leaf whose path of fitted factors explains it best.

    With the posterior means of the factors of ``model`` (``transform``), a
    feature goes to the leaf whose path (the leaf and its ancestors) spans
    the largest share of its centred data; the levels above follow from the
    leaf. From a fit on the true hierarchy this measures how well the data
    identify each feature's groups at all (a plug-in classifier with fitted
    parameters). None when some group has fewer features than its rank.
    """
    hierarchy, ranks = [np.asarray(h) for h in model.hierarchy_], model.ranks_
    Z = model.transform(X)
    offsets, start = [], 0
    for labels, rank in zip(hierarchy, ranks):
        offsets.append(start + rank * np.arange(labels.max() + 1))
        start += rank * (labels.max() + 1)
    if start != Z.shape[1]:
        return None
    leaves = hierarchy[-1]
    first = np.array(
        [np.flatnonzero(leaves == leaf)[0] for leaf in range(leaves.max() + 1)]
    )
    paths = np.array([h[first] for h in hierarchy])  # (levels, leaves)
    centred = X - X.mean(axis=0)
    captured = np.empty((X.shape[1], first.size))
    for leaf in range(first.size):
        columns = np.concatenate(
            [
                offsets[level][paths[level, leaf]] + np.arange(rank)
                for level, rank in enumerate(ranks)
            ]
        )
        basis = np.linalg.qr(Z[:, columns])[0]
        captured[:, leaf] = np.sum((basis.T @ centred) ** 2, axis=0)
    best = np.argmax(captured, axis=1)
    return [paths[level, best] for level in range(len(ranks))]


def oracle_reassignment(truth, X, known_loadings=False):
    """Each feature to the leaf whose path of true factors explains it best.

    The factors the generator drew (``truth.scores``), not fitted ones:
    feature i goes to the leaf g of highest likelihood under
    ``x_i = Z_g f + mu + e``, ``Z_g`` the true factors of the path of g (the
    leaf and its ancestors) over the samples, ``e ~ N(0, s^2 I)``.

    - ``known_loadings=False``: the loadings ``f``, the mean ``mu`` and the
      noise variance ``s^2`` free (maximized over). The profile likelihood
      decreases with the residual sum of squares, so the leaf is the one
      whose centred path factors span the largest share of the centred
      data (every path has as many factors): the plug-in classifier with
      the true factors instead of fitted ones.
    - ``known_loadings=True``: the true loadings (``truth.factors``, the
      feature's own on every level), ``mu = 0`` and the true noise variance
      (the same for every leaf): the leaf of least residual
      ``x_i - sum_l Z_{a_l(g)} f_i^l``, everything but the labels known.

    No fit; a worst level below the target with the true factors is a
    property of the draw rather than of the algorithm.
    """
    hierarchy = truth.hierarchy
    leaves = hierarchy[-1]
    first = np.array(
        [np.flatnonzero(leaves == leaf)[0] for leaf in range(leaves.max() + 1)]
    )
    paths = np.array([h[first] for h in hierarchy])  # (levels, leaves)
    if known_loadings:
        captured = np.empty((X.shape[1], first.size))
        for leaf in range(first.size):
            signal = sum(
                z[:, paths[level, leaf]] @ F.T
                for level, (z, F) in enumerate(zip(truth.scores, truth.factors))
            )
            captured[:, leaf] = -np.sum((X - signal) ** 2, axis=0)
    else:
        centred = X - X.mean(axis=0)
        scores = [z - z.mean(axis=0) for z in truth.scores]
        captured = np.empty((X.shape[1], first.size))
        for leaf in range(first.size):
            columns = np.hstack(
                [z[:, paths[level, leaf]] for level, z in enumerate(scores)]
            )
            basis = np.linalg.qr(columns)[0]
            captured[:, leaf] = np.sum((basis.T @ centred) ** 2, axis=0)
    best = np.argmax(captured, axis=1)
    return [paths[level, best] for level in range(len(hierarchy))]


def hierarchy_table(seeds, configs):
    """ARI of every level of a learned hierarchy against the planted one."""
    lines = [
        "Learned hierarchy (`hierarchy=None`, true ranks) against the planted "
        "one: adjusted Rand index of every level below the top (level 0 is one "
        "group). 300 samples unless the row says otherwise. Plug-in: every "
        "feature reassigned once to the "
        "leaf whose path of fitted factors explains it best, from a fit on the "
        "true hierarchy (`plugin_reassignment`): how well the data identify "
        "the groups at all. Oracle: the same with the true factors the "
        "generator drew instead of fitted ones, loadings free / loadings "
        "known too (`oracle_reassignment`, no fit): a worst level below 0.9 "
        "there is a property of the draw.",
        "",
        "| n features | ranks | branching | snr | samples | ARI per level: mean "
        "| worst | worst level | plug-in from the truth: worst per level "
        "| oracle, true factors: worst per level | oracle, true factors "
        "and loadings |",
        "| ---: | --- | ---: | ---: | ---: | --- | --- | ---: | --- | --- | --- |",
    ]
    for config in configs:
        n_features, ranks, branching, snr = config[:4]
        n_samples = config[4] if len(config) > 4 else 300
        scores, plugin, oracle = [], [], {False: [], True: []}
        for seed in seeds:
            X, truth = make_multilevel_factor(
                n_samples=n_samples,
                n_features=n_features,
                ranks=ranks,
                branching=branching,
                snr=snr,
                random_state=seed,
            )
            model = _fit_quiet(
                MultilevelFactorModel(ranks, None, max_iter=50, random_state=0), X
            )
            scores.append(
                [
                    adjusted_rand_score(t, learned)
                    for t, learned in zip(truth.hierarchy[1:], model.hierarchy_[1:])
                ]
            )
            known = _fit_quiet(
                MultilevelFactorModel(
                    ranks, truth.hierarchy, max_iter=50, random_state=0
                ),
                X,
            )
            for known_loadings, rows in oracle.items():
                reassigned = oracle_reassignment(truth, X, known_loadings)
                rows.append(
                    [
                        adjusted_rand_score(t, r)
                        for t, r in zip(truth.hierarchy[1:], reassigned[1:])
                    ]
                )
            reassigned = plugin_reassignment(known, X)
            if reassigned is not None:
                plugin.append(
                    [
                        adjusted_rand_score(t, r)
                        for t, r in zip(known.hierarchy_[1:], reassigned[1:])
                    ]
                )
        scores = np.array(scores)
        mean = ", ".join(f"{v:.2f}" for v in scores.mean(axis=0))
        worst = ", ".join(f"{v:.2f}" for v in scores.min(axis=0))
        ceiling = (
            ", ".join(f"{v:.2f}" for v in np.min(plugin, axis=0)) if plugin else "-"
        )
        free, known = (
            ", ".join(f"{v:.2f}" for v in np.min(oracle[k], axis=0))
            for k in (False, True)
        )
        lines.append(
            f"| {n_features} | {ranks} | {branching} | {snr:g} | {n_samples} "
            f"| {mean} | {worst} "
            f"| {scores.min():.2f} | {ceiling} | {free} | {known} |"
        )
    lines.append("")
    lines.append(
        "Target: worst level >= 0.9 at moderate signal. The draws (seeds "
        f"{seeds[0]}-{seeds[-1]}) are not those on which the learned hierarchy "
        "was developed (seeds 0-4 and 100-104), with one exception: the "
        "failures at strong signal and with few samples that the last five "
        "rows show fixed were found on seed 200 of this table and seed 301 at "
        "150 samples, and the fixes checked on seeds 300-305 and 400-415."
    )
    return lines


def run(quick=False):
    """Run the benchmark and return a markdown report."""
    sizes = [1_000, 5_000] if quick else [1_000, 5_000, 10_000, 100_000]
    header = (
        f"MultilevelFactorModel vs FactorAnalysis — {datetime.date.today()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
        f"{' (quick)' if quick else ''}"
    )
    lines = [header, "", "### Speed and memory", ""]
    table, _ = speed_table(
        sizes, m=2 if quick else 5, max_iter=30 if quick else 100, million=not quick
    )
    lines += table
    # draws not used while the rank allocation and the learned hierarchy were
    # developed (seeds 0-4 and 100-104)
    seeds = range(200, 202 if quick else 205)
    lines += ["", "### Rank allocation", ""]
    lines += rank_table(seeds, 60 if quick else 120)
    configs = (
        [(64, (2, 1, 1), 2, 4.0), (128, (2, 1, 1), 3, 4.0)]
        if quick
        else [
            (128, (2, 1, 1), 2, 4.0),
            (128, (2, 1, 1), 2, 10.0),
            (256, (2, 2, 1, 1), 2, 4.0),
            (256, (2, 1, 1), 3, 4.0),
            (256, (4, 3, 2), 3, 4.0),
            (256, (2, 1, 1), 4, 4.0),
            (256, (3, 2, 2), 4, 10.0),
            (512, (2, 2, 1, 1, 1), 2, 4.0),
            # strong signal (a large child's own factors lead the residual)
            (256, (4, 3, 2), 3, 10.0),
            (512, (2, 2, 1, 1, 1), 2, 10.0),
            (512, (2, 2, 1, 1, 1), 2, 25.0),
            # few samples (chance overlap of 16 directions above 0.08)
            (256, (2, 2, 1, 1), 2, 10.0, 150),
            (512, (2, 2, 1, 1, 1), 2, 10.0, 150),
        ]
    )
    lines += ["", "### Learned hierarchies", ""]
    lines += hierarchy_table(seeds, configs)
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, a few minutes"
    )
    print(run(quick=parser.parse_args().quick))
