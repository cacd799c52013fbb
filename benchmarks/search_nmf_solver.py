"""Choose the default ``solver`` of BalancedSparseNMF by measurement.

A user fits with the defaults (``tol=1e-4``, ``max_iter=500``), so this
script compares ``solver="mu"`` and ``solver="cd"`` there: the time of the
whole fit, the final objective (``objective_[-1]``, after the exact
W-step) and the factor match score against the true factors. Data:

- dense: ``make_sparse_nmf`` (30% zeros per factor column, 40 dB) at the
  sizes of ``bench_nmf.py``, draws 100 and up, which ``bench_nmf.py``
  never judges on (it uses draws 0-2), l1 weights 0.1 and 1;
- the same draws at 500 x 300 and 1000 x 500 with 80% of the entries set to
  zero, as CSR;
- real data: scikit-learn's ``load_digits`` (ranks 10 and 20),
  ``load_breast_cancer`` (rank 5) and ``load_wine`` (rank 4), dense, and the
  MovieLens-100k ratings (CSR, ranks 10 and 20; skipped when
  ``../shared/data/ml-100k`` is absent).

Both losses are run; Frobenius only on the dense draws. Prints a markdown
table per case and a summary per group (mean and worst): time cd / mu and
the relative objective difference cd / mu - 1 (negative: coordinate descent
ends lower).

``--inner`` chooses the default ``n_inner`` of Frobenius coordinate descent
instead: one HALS sweep per iteration (``n_inner=1``) against accelerated
HALS (``n_inner="auto"``), with the defaults otherwise, on the dense draws
and the real dense data sets (those from several starts: NNDSVDa and random
starts with seeds 1 and 2), both weights.

``--start`` decides the Frobenius start of Kullback-Leibler coordinate
descent (``skfactor.decomposition._cd.frobenius_start``): default-setting
Kullback-Leibler fits without it against fits with it, on every case above
(real dense data from the three starts) and on the dense draws at 10 dB,
where Poisson counts are small (mean about 5) and the Frobenius problem is
further from the Kullback-Leibler one.

``--sketch`` decides the sketch of X that coordinate descent starts on
(``skfactor.decomposition._cd.sketch_pays``): for Kullback-Leibler, its
Frobenius start on X against on the sketch; for Frobenius, HALS on X alone
against HALS started on the sketch; default-setting fits on the cases above
where the sketch is used, at every size of ``bench_nmf.py`` (2000 x 1000
included).

``--extrapolate`` decides the extrapolation of the Frobenius start of
Kullback-Leibler coordinate descent (``skfactor.decomposition._extrapolation``):
default-setting Kullback-Leibler fits with the start's iterations plain
against extrapolated (where ``_cd.EXTRAPOLATION_MIN_WORK`` allows), on the
cases of ``--start``.

``--extrapolate-hals`` decides the extrapolation of Frobenius coordinate
descent itself (``skfactor.decomposition._cd.EXTRAPOLATE_HALS``: its
accelerated HALS iterations, and those of its start on the sketch):
default-setting Frobenius fits plain against extrapolated, on the cases of
``--start`` (the CSR variants included).

``--stationary`` counts how often Frobenius coordinate descent ends above
scikit-learn's 200-iteration ``cd`` objective (the target of
``bench_nmf.py``) from the same NNDSVDa start: accelerated HALS
extrapolated (the default) and plain, with 5 (the default), 10 and 20
single-sweep iterations at its start, and one or two sweeps per iteration;
400 iterations, ``tol=0``; at 60 x 50 and
200 x 120, draws 800 and up (``--draws`` per size), both weights. These
small problems have several stationary points a few millionths apart,
and which one a solver reaches depends on its path.

    python benchmarks/search_nmf_solver.py [--quick] [--draws N]
        [--inner | --start | --sketch | --extrapolate | --extrapolate-hals
         | --stationary]
"""

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import NMF
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_nmf import SIZES, _movielens  # noqa: E402

from skfactor import BalancedSparseNMF  # noqa: E402
from skfactor.decomposition import _cd, _hals  # noqa: E402
from skfactor.decomposition._init import nndsvda_init  # noqa: E402
from skfactor.decomposition._objective import objective  # noqa: E402
from skfactor.datasets import make_sparse_nmf  # noqa: E402
from skfactor.metrics import factor_match_score  # noqa: E402

FIRST_DRAW = 100  # bench_nmf.py judges draws 0-2
SEARCH_SIZES = SIZES[:4]  # 2000 x 1000: about a minute per multiplicative fit
QUICK_SIZES = SIZES[:2]
KEPT = 0.2  # fraction of the entries kept in the sparse variants
SOLVERS = ("mu", "cd")


def _cases(quick, n_draws, low_snr=False, sizes=None):
    sizes = sizes or (QUICK_SIZES if quick else SEARCH_SIZES)
    draws = range(FIRST_DRAW, FIRST_DRAW + (1 if quick else n_draws))
    for m, n, r in sizes:
        for draw in draws:
            X, W, H = make_sparse_nmf(m, n, r, random_state=draw)
            yield "dense", f"{m}x{n}, r={r}, draw {draw}", X, r, (W, H)
            if low_snr:
                X, W, H = make_sparse_nmf(m, n, r, snr=10.0, random_state=draw)
                label = f"{m}x{n}, r={r}, draw {draw}, 10 dB"
                yield "dense, 10 dB", label, X, r, (W, H)
            if m >= 500:
                keep = np.random.default_rng(draw).uniform(size=X.shape) < KEPT
                label = f"{m}x{n}, r={r}, draw {draw}, {KEPT:.0%} kept"
                yield "CSR", label, sp.csr_matrix(X * keep), r, (W, H)
    if not quick:
        digits = load_digits().data
        yield "real, dense", "digits 1797x64, r=10", digits, 10, None
        yield "real, dense", "digits 1797x64, r=20", digits, 20, None
        cancer = load_breast_cancer().data
        yield "real, dense", "breast_cancer 569x30, r=5", cancer, 5, None
        yield "real, dense", "wine 178x13, r=4", load_wine().data, 4, None
        ratings = _movielens()
        if ratings is not None:
            for r in (10, 20):
                yield "CSR", f"MovieLens-100k 943x1682, r={r}", ratings, r, None


def _fit(X, r, loss, mu, solver, truth, **params):
    model = BalancedSparseNMF(
        r, beta_loss=loss, alpha_W=mu, alpha_H=mu, solver=solver, random_state=0
    )
    model.set_params(**params)
    # compilation outside the timing: past the single-sweep iterations of
    # accelerated HALS, which run plain (with 3, the first timed fit of the
    # extrapolated iterations compiled them: 79 ms instead of 6)
    model.set_params(max_iter=_hals.SINGLE_SWEEP_ITERATIONS + 5).fit(X)
    model.set_params(max_iter=500)
    start = time.perf_counter()
    W = model.fit_transform(X)
    seconds = time.perf_counter() - start
    fms = np.nan
    if truth is not None:
        W_true, H_true = truth
        fms = factor_match_score([W_true, H_true.T], [W, model.components_.T])
    return seconds, model.objective_[-1], model.n_iter_, fms


def run(quick=False, n_draws=3):
    rows = []
    warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
    for group, label, X, r, truth in _cases(quick, n_draws):
        for loss in ("kullback-leibler", "frobenius"):
            if loss == "frobenius" and group != "dense":
                continue
            for mu in (0.1, 1.0):
                fits = {s: _fit(X, r, loss, mu, s, truth) for s in SOLVERS}
                rows.append((group, label, loss, mu, fits))
    lines = [
        "Default-setting fits (tol=1e-4, max_iter=500), one BLAS thread: "
        "solver='mu' against solver='cd'. Objective: after the final exact "
        "W-step; difference cd / mu - 1 (negative: cd ends lower).",
        "",
        "| group | loss | cases | time cd / mu, mean | worst | objective "
        "difference, mean | worst | FMS cd - mu, worst |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = sorted({(g, loss) for g, _, loss, _, _ in rows})
    for group, loss in keys:
        chosen = [f for g, _, l_, _, f in rows if (g, l_) == (group, loss)]
        times = [f["cd"][0] / f["mu"][0] for f in chosen]
        diffs = [f["cd"][1] / f["mu"][1] - 1 for f in chosen]
        fms = [f["cd"][3] - f["mu"][3] for f in chosen if np.isfinite(f["mu"][3])]
        lines.append(
            f"| {group} | {loss} | {len(chosen)} | {np.mean(times):.2f} | "
            f"{max(times):.2f} | {np.mean(diffs):+.2e} | {max(diffs):+.2e} | "
            + (f"{min(fms):+.4f} |" if fms else "- |")
        )
    lines += [
        "",
        "| case | loss | mu | mu: time (ms), iterations | cd: time (ms), "
        "iterations | objective cd / mu - 1 | FMS mu | FMS cd |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for group, label, loss, mu, f in rows:
        (tm, om, im, fm), (tc, oc, ic, fc) = f["mu"], f["cd"]
        lines.append(
            f"| {label} | {loss} | {mu:g} | {tm * 1e3:.0f}, {im} | "
            f"{tc * 1e3:.0f}, {ic} | {oc / om - 1:+.2e} | {fm:.4f} | {fc:.4f} |"
        )
    return "\n".join(lines) + "\n"


INNER = (1, "auto")  # n_inner compared by run_inner


def _starts(truth):
    """NNDSVDa, and for real data (no truth) random starts with seeds 1, 2."""
    starts = [dict(init="nndsvda")]
    if truth is None:
        starts += [dict(init="random", random_state=s) for s in (1, 2)]
    return starts


def _start_label(label, start):
    return f"{label}, {start.get('init')} {start.get('random_state', '')}".strip()


def _paired_tables(rows, names, title):
    """Summary per group and one row per fit of two variants ``names`` (a,
    b) of default-setting fits: time b / a and objective b / a - 1."""
    a, b = names
    lines = [
        title,
        "",
        f"| group | fits | time {b} / {a}, mean | worst | objective difference, "
        "mean | worst |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for group in sorted({g for g, _, _, _ in rows}):
        chosen = [f for g, _, _, f in rows if g == group]
        times = [f[b][0] / f[a][0] for f in chosen]
        diffs = [f[b][1] / f[a][1] - 1 for f in chosen]
        lines.append(
            f"| {group} | {len(chosen)} | {np.mean(times):.2f} | {max(times):.2f} "
            f"| {np.mean(diffs):+.2e} | {max(diffs):+.2e} |"
        )
    lines += [
        "",
        f"| case | mu | {a}: time (ms), iterations | {b}: time (ms), iterations "
        f"| objective {b} / {a} - 1 | FMS {a} | FMS {b} |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for group, label, mu, f in rows:
        (t1, o1, i1, f1), (t2, o2, i2, f2) = f[a], f[b]
        lines.append(
            f"| {label} | {mu:g} | {t1 * 1e3:.0f}, {i1} | {t2 * 1e3:.0f}, {i2} "
            f"| {o2 / o1 - 1:+.2e} | {f1:.4f} | {f2:.4f} |"
        )
    return "\n".join(lines) + "\n"


def run_inner(quick=False, n_draws=3):
    """Frobenius coordinate descent, ``n_inner=1`` against ``"auto"``."""
    rows = []
    warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
    for group, label, X, r, truth in _cases(quick, n_draws):
        if group == "CSR":
            continue
        for mu in (0.1, 1.0):
            for start in _starts(truth):
                fits = {
                    n: _fit(X, r, "frobenius", mu, "cd", truth, n_inner=n, **start)
                    for n in INNER
                }
                rows.append((group, _start_label(label, start), mu, fits))
    title = (
        "Default-setting Frobenius fits (solver='cd', tol=1e-4, max_iter=500), "
        "one BLAS thread: n_inner=1 against n_inner='auto'. Objective after the "
        "final exact W-step; difference auto / 1 - 1 (negative: auto ends lower)."
    )
    return _paired_tables(rows, INNER, title)


def _run_variants(cases, variants, title, losses=("kullback-leibler",)):
    """Default-setting coordinate-descent fits of two variants ``{name:
    (attribute of _cd, value)}`` on ``cases``, for each of ``losses`` (in
    the group's name when there are several)."""
    rows = []
    warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
    for group, label, X, r, truth in cases:
        for loss, mu in itertools.product(losses, (0.1, 1.0)):
            for start in _starts(truth):
                fits = {}
                for name, (attribute, value) in variants.items():
                    with mock.patch.object(_cd, attribute, value):
                        fits[name] = _fit(X, r, loss, mu, "cd", truth, **start)
                name, case = group, _start_label(label, start)
                if len(losses) > 1:
                    name, case = f"{group}, {loss}", f"{case}, {loss}"
                rows.append((name, case, mu, fits))
    return _paired_tables(rows, tuple(variants), title)


def run_start(quick=False, n_draws=3):
    """Kullback-Leibler coordinate descent without and with its Frobenius
    start."""
    variants = {
        "without": ("FROBENIUS_START_MAX_ITER", 0),
        "with": ("FROBENIUS_START_MAX_ITER", _cd.FROBENIUS_START_MAX_ITER),
    }
    title = (
        "Default-setting Kullback-Leibler fits (solver='cd', tol=1e-4, "
        "max_iter=500), one BLAS thread: without the Frobenius start against "
        "with it. Objective after the final exact W-step; difference with / "
        "without - 1 (negative: the start ends lower)."
    )
    return _run_variants(_cases(quick, n_draws, low_snr=True), variants, title)


def _plain_against_extrapolated(flag, fits, loss, quick, n_draws):
    """Default-setting fits with the ``_cd`` flag off and on, on the cases
    of ``--start``; ``fits`` names the iterations it extrapolates."""
    variants = {"plain": (flag, False), "extrapolated": (flag, True)}
    title = (
        f"Default-setting {fits} (solver='cd', tol=1e-4, max_iter=500), one "
        "BLAS thread: plain against extrapolated accelerated HALS. Objective "
        "after the final exact W-step; difference extrapolated / plain - 1 "
        "(negative: extrapolated ends lower)."
    )
    cases = _cases(quick, n_draws, low_snr=True)
    return _run_variants(cases, variants, title, losses=(loss,))


def run_extrapolate(quick=False, n_draws=3):
    """The Frobenius start of Kullback-Leibler coordinate descent with plain
    against extrapolated accelerated HALS iterations."""
    fits = "Kullback-Leibler fits, their Frobenius start"
    return _plain_against_extrapolated(
        "EXTRAPOLATE_START", fits, "kullback-leibler", quick, n_draws
    )


def run_extrapolate_hals(quick=False, n_draws=3):
    """Frobenius coordinate descent with plain against extrapolated
    accelerated HALS iterations (on X and on the sketch it starts on)."""
    return _plain_against_extrapolated(
        "EXTRAPOLATE_HALS", "Frobenius fits", "frobenius", quick, n_draws
    )


def run_sketch(quick=False, n_draws=3):
    """The Frobenius start of Kullback-Leibler coordinate descent on X
    against on its sketch, where the sketch is used (every size of
    ``bench_nmf.py``, 2000 x 1000 included)."""
    cases = [
        case
        for case in _cases(quick, n_draws, low_snr=True, sizes=SIZES)
        if _cd.sketch_pays(case[2], case[3])
    ]
    variants = {  # (no sketch: Frobenius HALS starts nowhere)
        "X": ("SKETCH_GAIN", np.inf),
        "sketch": ("SKETCH_GAIN", _cd.SKETCH_GAIN),
    }
    title = (
        "Default-setting fits (solver='cd', tol=1e-4, max_iter=500), one BLAS "
        "thread, where the start of coordinate descent fits a sketch of X: "
        "the Frobenius start of Kullback-Leibler on X against on the sketch; "
        "Frobenius HALS without against with its start on the sketch. "
        "Objective after the final exact W-step; difference sketch / X - 1 "
        "(negative: the sketch ends lower)."
    )
    losses = ("kullback-leibler", "frobenius")
    return _run_variants(cases, variants, title, losses)


STATIONARY_DRAW = 800  # draws no other script uses
#: name: (n_inner, single-sweep iterations at the start, extrapolated)
STATIONARY_VARIANTS = {
    "accelerated, extrapolated, 5 single (default)": (
        "auto",
        _hals.SINGLE_SWEEP_ITERATIONS,
        True,
    ),
    "accelerated, plain, 5 single": ("auto", _hals.SINGLE_SWEEP_ITERATIONS, False),
    "accelerated, extrapolated, 10 single": ("auto", 10, True),
    "accelerated, extrapolated, 20 single": ("auto", 20, True),
    "n_inner=1": (1, 0, False),
    "n_inner=2": (2, 0, False),
}


def run_stationary(quick=False, n_draws=3):
    """How often Frobenius coordinate descent ends above scikit-learn's
    200-iteration ``cd`` objective, by variant and size."""
    warnings.simplefilter("ignore")
    results = {}
    for m, n, r in QUICK_SIZES:
        for draw in range(STATIONARY_DRAW, STATIONARY_DRAW + n_draws):
            X, _, _ = make_sparse_nmf(m, n, r, random_state=draw)
            W0, H0 = nndsvda_init(X, r, np.random.RandomState(0))
            for mu in (0.1, 1.0):
                reference = NMF(
                    r,
                    solver="cd",
                    l1_ratio=1.0,
                    alpha_W=mu / n,
                    alpha_H=mu / m,
                    init="custom",
                    max_iter=200,
                    tol=0,
                )
                W = reference.fit_transform(X, W=W0.copy(), H=H0.copy())
                H = reference.components_
                target = objective(X, W, H, 2, mu, mu, "l1", "l1")
                for name, variant in STATIONARY_VARIANTS.items():
                    n_inner, single, extrapolate = variant
                    model = BalancedSparseNMF(
                        r,
                        beta_loss="frobenius",
                        alpha_W=mu,
                        alpha_H=mu,
                        solver="cd",
                        n_inner=n_inner,
                        init=(W0, H0),
                        max_iter=400,
                        tol=0,
                    )
                    with (
                        mock.patch.object(_hals, "SINGLE_SWEEP_ITERATIONS", single),
                        mock.patch.object(_cd, "EXTRAPOLATE_HALS", extrapolate),
                    ):
                        history = model.fit(X).objective_
                    reached = np.nonzero(history[:-1] <= target)[0]
                    row = results.setdefault((f"{m}x{n}, r={r}", name), [])
                    first = reached[0] if reached.size else np.nan
                    row.append((history[-1] / target - 1, first))
    lines = [
        "Frobenius coordinate descent (400 iterations, tol=0) from the NNDSVDa "
        "start against scikit-learn's 200-iteration cd objective from the same "
        f"start: draws {STATIONARY_DRAW}-{STATIONARY_DRAW + n_draws - 1}, "
        "weights 0.1 and 1.",
        "",
        "| size | variant | fits | ended above | final / scikit-learn's - 1, "
        "mean / worst | iterations to reach it, mean / max |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for (size, name), row in results.items():
        gaps, firsts = np.array(row).T
        lines.append(
            f"| {size} | {name} | {len(row)} | {int(np.sum(gaps > 0))} | "
            f"{gaps.mean():+.2e} / {gaps.max():+.2e} | "
            f"{np.nanmean(firsts):.0f} / {np.nanmax(firsts):.0f} |"
        )
    return "\n".join(lines)


#: The searches besides the default one (the solver): option, what it
#: decides (its help), the function that runs it.
SEARCHES = {
    "inner": ("n_inner of Frobenius coordinate descent", run_inner),
    "start": ("the Frobenius start of Kullback-Leibler coordinate descent", run_start),
    "sketch": ("the start on X or on its sketch", run_sketch),
    "extrapolate": (
        "extrapolation in the Frobenius start of Kullback-Leibler",
        run_extrapolate,
    ),
    "extrapolate-hals": (
        "extrapolation of Frobenius coordinate descent",
        run_extrapolate_hals,
    ),
    "stationary": (
        "how often Frobenius coordinate descent ends above scikit-learn's cd",
        run_stationary,
    ),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes")
    parser.add_argument("--draws", type=int, default=3, help="draws per size")
    choice = parser.add_mutually_exclusive_group()
    for name, (help_text, _) in SEARCHES.items():
        choice.add_argument(f"--{name}", action="store_true", help=help_text)
    args = parser.parse_args()
    search = next(
        (
            function
            for name, (_, function) in SEARCHES.items()
            if getattr(args, name.replace("-", "_"))
        ),
        run,
    )
    with threadpool_limits(1):
        print(search(quick=args.quick, n_draws=args.draws))


if __name__ == "__main__":
    main()
