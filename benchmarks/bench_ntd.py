"""SparseNTD against tensorly's nonnegative Tucker solvers, on the same tensors.

Two parts.

**Frobenius, time to tensorly's converged objective.** Tensors from our own
generator (:func:`skfactor.tensor._synthetic.make_sparse_tucker`: sparse
core and factors, Gaussian noise at 30 dB, clipped at 0) over a grid of
shapes and seeded draws. Two peers, each on the objective it minimizes:

- ``MU``: ``tensorly.decomposition.non_negative_tucker`` (multiplicative
  updates, tol 1e-6 on the change of its relative error, at most 5000
  iterations) against ``SparseNTD(loss="frobenius", alpha=0)``: the
  unpenalized fit :math:`\\|T - M\\|_F / \\|T\\|_F`.
- ``HALS``: ``non_negative_tucker_hals`` (tol 1e-6, at most 300
  iterations) against the same SparseNTD, on the same unpenalized fit.
  (With ``core_sparsity_coefficient`` alone, an l1 penalty on the core and
  none on the factors, the objective has no minimizer: shrinking the core
  and growing the factors lowers it towards the unpenalized fit, so its
  values do not compare two solvers; SparseNTD penalizes both.)

Both start from their own SVD-based initialization. On some draws
tensorly's multiplicative updates change the relative error by less than
its tolerance in the first iterations and stop there, far from a stationary
point (relative error 0.17 where the run converges to 0.03): a tensorly run
that stops within ``STALL`` iterations is rerun with tol 1e-8, and counted.
SparseNTD runs with a single start (``n_init=1``) and with ``N_INIT``
runs (its default). "time to tensorly" is
the wall time of a SparseNTD fit stopped at the first iteration whose
objective is at most tensorly's final one (re-run with that ``max_iter``,
best of 2); tensorly's time is its whole run (one run, long enough not
to need more). Target: ratio
<= 0.5 on the worst row.

**Kullback-Leibler on Poisson data.** The audio redundancy set-up of Cohen
and Leplat (:func:`skfactor.tensor._synthetic.make_song_spectrogram`: bar x
frequency x time, arrangement A B A C A B, Poisson counts), fitted with the
true ranks. Reported: FMS of the bar factor (the arrangement) and of the
other factors, and the fraction of core entries whose support (entries
above 1% or 10% of the largest, after matching the components and
normalizing the factors' columns) agrees with the truth. Target: arrangement FMS >=
0.95 and the support recovered on the worst draw.

Run with one BLAS thread (``benchmarks/run_all.py`` sets it).
"""

import argparse
import time
import warnings

import numpy as np
import tensorly as tl
from tensorly.decomposition import non_negative_tucker, non_negative_tucker_hals

from skfactor import SparseNTD
from skfactor.metrics import factor_match_score
from skfactor.tensor._synthetic import make_song_spectrogram, make_sparse_tucker
from skfactor.tensor._tensor_algebra import tucker_to_tensor

tl.set_backend("numpy")


def _best_time(func, repeats):
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return result, best


def _ours(T, ranks, max_iter, **params):
    model = SparseNTD(
        n_components=ranks,
        loss="frobenius",
        balance="none",
        max_iter=max_iter,
        tol=0,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        U = model.fit_transform(T)
    return model, U


def _objective(T, core, factors, c):
    residual = T - tucker_to_tensor(core, factors)
    return 0.5 * float(np.vdot(residual, residual)) + c * float(np.abs(core).sum())


_UNPENALIZED = {"alpha_core": 0.0, "alpha_factors": 0.0, "alpha": 0.0}
#: A tensorly run stopped by its tolerance within this many iterations
#: stalled at its start (its multiplicative updates on some draws change
#: the relative error by less than 1e-6 in the first iterations, at 0.17
#: where it converges to 0.03): it is rerun with tol 1e-8.
STALL = 10


def _frobenius_rows(shape, ranks, seed, peer, n_inits):
    """One tensorly run and, for every ``n_init``, our time to its objective."""
    T, _ = make_sparse_tucker(
        shape, ranks, density=0.4, noise="gaussian", level=30.0, random_state=seed
    )
    solver = non_negative_tucker if peer == "MU" else non_negative_tucker_hals
    n_iter_max = 5000 if peer == "MU" else 300

    def theirs(tol):
        return _best_time(
            lambda: solver(
                T,
                rank=list(ranks),
                n_iter_max=n_iter_max,
                tol=tol,
                init="svd",
                return_errors=True,
            ),
            1,
        )

    ((core, factors), errors), theirs_t = theirs(1e-6)
    stalled = len(errors) < STALL
    if stalled:
        # stopped by its relative-change test at the start, far from a
        # stationary point: run on to a real one
        ((core, factors), errors), theirs_t = theirs(1e-8)
    target = _objective(T, core, factors, 0.0)
    rows = {}
    for n_init in n_inits:
        # objective after every iteration of the kept run, at most 4 times
        # tensorly's iterations (ours are cheaper)
        model, _ = _ours(T, ranks, 4 * len(errors), n_init=n_init, **_UNPENALIZED)
        history = np.asarray(model.objective_)
        hits = np.nonzero(history <= target)[0]
        row = {"peer_iterations": len(errors), "theirs": theirs_t, "stalled": stalled}
        if hits.size == 0:
            rows[n_init] = {
                **row,
                "ratio": np.inf,
                "iterations": None,
                "ours": np.inf,
                "gap": history[-1] / target - 1,
            }
            continue
        n_iter = max(int(hits[0]), 1)
        (model, U), ours_t = _best_time(
            lambda: _ours(T, ranks, n_iter, n_init=n_init, **_UNPENALIZED), 2
        )
        reached = _objective(T, model.core_, [U, *model.components_], 0.0)
        rows[n_init] = {
            **row,
            "ratio": ours_t / theirs_t,
            "iterations": n_iter,
            "ours": ours_t,
            "gap": reached / target - 1,
        }
    return rows


def _support_agreement(truth, model, Q, threshold):
    """Fraction of core entries whose support agrees, after matching components.

    An entry is in the support when it exceeds ``threshold`` times the
    largest entry of its core.
    """
    true_factors = [truth["Q"], truth["W"], truth["H"]]
    estimated = [Q, *model.components_]
    core = np.asarray(model.core_, dtype=float)
    for k, (true, est) in enumerate(zip(true_factors, estimated)):
        _, matching = factor_match_score([true], [est], return_matching=True)
        norms = np.linalg.norm(est, axis=0)
        shape = [1] * core.ndim
        shape[k] = -1
        core = core * norms.reshape(shape)
        core = np.take(core, matching, axis=k)
    true_core = truth["core"] * np.prod(
        np.meshgrid(*[np.linalg.norm(f, axis=0) for f in true_factors], indexing="ij"),
        axis=0,
    )
    return float(
        np.mean(
            (core > threshold * core.max()) == (true_core > threshold * true_core.max())
        )
    )


def _kl_row(seed, balance, max_iter):
    T, truth = make_song_spectrogram(random_state=seed, level=20.0)
    ranks = (len(truth["sections"]), truth["W"].shape[1], truth["H"].shape[1])
    model = SparseNTD(
        n_components=ranks,
        alpha=0.5,
        balance=balance,
        max_iter=max_iter,
        random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Q = model.fit_transform(T)
    elapsed = time.perf_counter() - start
    return {
        "fms_Q": factor_match_score([truth["Q"]], [Q]),
        "fms_W": factor_match_score([truth["W"]], [model.components_[0]]),
        "fms_H": factor_match_score([truth["H"]], [model.components_[1]]),
        "support": _support_agreement(truth, model, Q, 1e-2),
        "support_10": _support_agreement(truth, model, Q, 1e-1),
        "iterations": model.n_iter_,
        "time": elapsed,
    }


def _mean_worst(values, worst):
    values = np.asarray(values, dtype=float)
    return values.mean(), (values.max() if worst == "max" else values.min())


#: restarts of the second SparseNTD row: chosen from the reach rate of one
#: start over 86 development draws of the two shapes (seeds 0-5, 10-13,
#: 20-34, 40-59), not from the rows below: from "svd" 83 reached tensorly's
#: HALS objective; random starts reached on about 3 draws in 4, but on only
#: 1 to 3 in 6 to 10 on the draws the "svd" start missed.
N_INIT = 4  # SparseNTD's default


def run(quick=False, first_seed=0):
    """Markdown tables of the benchmark (``quick``: one shape, 2 draws)."""
    seeds = range(first_seed, first_seed + (2 if quick else 3))
    grid = [((40, 30, 20), (5, 4, 3))]
    if not quick:
        grid.append(((60, 40, 30), (6, 5, 4)))
    SparseNTD(n_components=2, max_iter=2, tol=0).fit(np.ones((3, 3, 3)))  # compile
    n_inits = (1, N_INIT)
    lines = [
        "### SparseNTD, Frobenius: time to tensorly's converged objective",
        "",
        f"Seeds {seeds.start}-{seeds.stop - 1} of every shape. SparseNTD with a "
        f"single start (n_init=1) and with its default n_init={N_INIT} runs (the "
        "first from the svd start, the others random; the run with the lowest "
        "objective is kept, and its time counts all runs). A tensorly run "
        f"that stops within {STALL} iterations (tol 1e-6) stalled at its start "
        "and is rerun with tol 1e-8.",
        "",
        "| peer | shape | ranks | n_init | draws | tensorly stalled, rerun "
        "| tensorly s (mean) | tensorly iterations (mean) | ours s (mean) "
        "| our iterations (mean) | time ratio mean | time ratio worst "
        "| objective gap worst |",
        "| --- | --- | --- | ---: | --- | ---: | --- | --- | --- | --- | --- | --- "
        "| --- |",
    ]
    worst = dict.fromkeys(n_inits, 0.0)
    for peer in ("MU", "HALS"):
        for shape, ranks in grid:
            draws = [_frobenius_rows(shape, ranks, s, peer, n_inits) for s in seeds]
            for n_init in n_inits:
                rows = [draw[n_init] for draw in draws]
                ratios = [r["ratio"] for r in rows]
                worst[n_init] = max(worst[n_init], max(ratios))
                mean, worst_ratio = _mean_worst(ratios, "max")
                iters = [r["iterations"] or np.nan for r in rows]
                lines.append(
                    f"| {peer} | {shape} | {ranks} | {n_init} | {len(rows)} "
                    f"| {sum(r['stalled'] for r in rows)} "
                    f"| {np.mean([r['theirs'] for r in rows]):.3f} "
                    f"| {np.mean([r['peer_iterations'] for r in rows]):.0f} "
                    f"| {np.mean([r['ours'] for r in rows]):.3f} "
                    f"| {np.nanmean(iters):.0f} | {mean:.2f} | {worst_ratio:.2f} "
                    f"| {max(r['gap'] for r in rows):.1e} |"
                )
    lines += [
        "",
        "Worst time ratio over every row: "
        + ", ".join(
            f"n_init={n}: {w:.2f} ({'met' if w <= 0.5 else 'not met'})"
            for n, w in worst.items()
        )
        + " (target <= 0.5).",
        "",
        "### SparseNTD, Kullback-Leibler on a Poisson song spectrogram",
        "",
        "| balance | draws | FMS arrangement mean | FMS arrangement worst "
        "| FMS notes worst | FMS rhythms worst | core support (1%) mean "
        "| core support (1%) worst | core support (10%) mean "
        "| core support (10%) worst | iterations mean | time s mean |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    kl_seeds = range(3) if quick else range(5)
    max_iter = 300 if quick else 600
    for balance in ("sinkhorn", "scalar", "none"):
        rows = [_kl_row(seed, balance, max_iter) for seed in kl_seeds]
        q_mean, q_worst = _mean_worst([r["fms_Q"] for r in rows], "min")
        s_mean, s_worst = _mean_worst([r["support"] for r in rows], "min")
        t_mean, t_worst = _mean_worst([r["support_10"] for r in rows], "min")
        lines.append(
            f"| {balance} | {len(rows)} | {q_mean:.4f} | {q_worst:.4f} "
            f"| {min(r['fms_W'] for r in rows):.4f} "
            f"| {min(r['fms_H'] for r in rows):.4f} | {s_mean:.3f} | {s_worst:.3f} "
            f"| {t_mean:.3f} | {t_worst:.3f} "
            f"| {np.mean([r['iterations'] for r in rows]):.0f} "
            f"| {np.mean([r['time'] for r in rows]):.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one shape, 2 draws")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="first seed of the Frobenius draws (fresh draws: e.g. 100)",
    )
    args = parser.parse_args()
    print(run(quick=args.quick, first_seed=args.first_seed))
