"""RidgeCPD against tensorly's CP solvers, on the same tensors, in one run.

Data: the ridge CPD setting of Cohen and Leplat (2024) (factors uniform on [0, 1], SNR
40 dB, true rank 4, fitted rank 6) from :func:`skfactor.datasets.make_cp_tensor`.
Three comparisons per tensor shape:

- ``ALS``: ``RidgeCPD(nonnegative=False)`` against
  ``tensorly.decomposition.parafac(l2_reg=alpha)``. With its default
  ``normalize_factors=False``, tensorly's ``l2_reg`` is exactly our
  ``alpha`` (ridge normal equations ``A (H + l2_reg I) = M``), so both
  minimize the same objective.
- ``HALS, alpha=0``: ``RidgeCPD(nonnegative=True, alpha=0)`` against
  ``tensorly.decomposition.non_negative_parafac_hals``: the same
  (unregularized) objective.
- ``HALS, alpha>0``: ``RidgeCPD(nonnegative=True, alpha)`` against the same
  tensorly call, which has no ridge option (tensorly 0.10): the point of
  the paper, whether the ridge removes the surplus components.

Every objective is computed by one dense function, ``_objective`` (fit plus
ridge, ``alpha`` of the row), after giving tensorly's factors the optimal
balancing for free (it leaves their fit unchanged and can only lower their
objective). The effective rank counts components whose norm exceeds 1e-6
times the norm of the data for both. "time to tensorly's objective" is the
wall time of a RidgeCPD fit stopped at the first iteration whose objective
is at most tensorly's final one (re-run with that ``max_iter``); tensorly's
time is its whole run (its final objective is, by definition, what it
reaches at its last iteration). Medians over seeds; the numba kernel of
RidgeCPD is compiled before timing (a one-off cost, cached on disk). On a
loaded machine, oversubscribed multithreaded BLAS makes timings erratic
(tensorly's SVD initialization suffers most): run with ``OMP_NUM_THREADS=1``
there.
"""

import argparse
import datetime
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import tensorly as tl
from threadpoolctl import threadpool_info
from tensorly.decomposition import non_negative_parafac_hals, parafac

from skfactor import RidgeCPD
from skfactor.datasets import make_cp_tensor
from skfactor.metrics import factor_match_score
from skfactor.tensor._cpd import count_effective_components
from skfactor.tensor._tensor_algebra import component_norms, cp_to_tensor

# the balancing oracle of the tests gives tensorly's factors their optimal scales
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _oracles import balance_factors  # noqa: E402

MAX_ITER = 500


def _objective(X, factors, alpha):
    """Ridge CP objective from the dense model: ||X - M||^2 + alpha sum ||A_k||^2."""
    residual = np.asarray(X, dtype=float) - cp_to_tensor(factors)
    penalty = sum(float((np.asarray(f) ** 2).sum()) for f in factors)
    return float(np.vdot(residual, residual)) + alpha * penalty


def _timed(func):
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def _ours(X, rank, alpha, nonnegative, seed, max_iter=MAX_ITER, tol=1e-7):
    model = RidgeCPD(
        rank,
        alpha=alpha,
        nonnegative=nonnegative,
        max_iter=max_iter,
        tol=tol,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        U = model.fit_transform(X)
    return model, [U, *model.components_]


def _theirs(X, rank, alpha, nonnegative, seed):
    tensor = tl.tensor(X)
    if nonnegative:
        cp = non_negative_parafac_hals(
            tensor, rank, n_iter_max=MAX_ITER, init="svd", random_state=seed
        )
    else:
        cp = parafac(
            tensor,
            rank,
            n_iter_max=MAX_ITER,
            init="svd",
            l2_reg=alpha,
            random_state=seed,
        )
    weights, factors = cp
    factors = [np.asarray(f, dtype=float) for f in factors]
    factors[0] = factors[0] * np.asarray(weights, dtype=float)
    balanced, _ = balance_factors(factors, np.ones(len(factors)), ["l2"] * len(factors))
    return balanced


def _time_to_objective(X, rank, alpha, nonnegative, seed, objective_history, target):
    """Wall time of a RidgeCPD fit stopped when it first reaches ``target``."""
    reached = np.flatnonzero(np.asarray(objective_history) <= target)
    if reached.size == 0:
        return np.nan
    n_iter = max(int(reached[0]), 1)
    _, seconds = _timed(
        lambda: _ours(X, rank, alpha, nonnegative, seed, n_iter, tol=0.0)
    )
    return seconds


def _compare(shape, rank, true_rank, alpha, nonnegative, seeds):
    rows = {
        key: []
        for key in (
            "obj_ours",
            "obj_tl",
            "fms_ours",
            "fms_tl",
            "eff_ours",
            "eff_tl",
            "time_ours",
            "time_tl",
            "time_to_tl",
        )
    }
    for seed in seeds:
        X, truth = make_cp_tensor(shape, true_rank, snr_db=40.0, random_state=seed)
        data_norm = np.linalg.norm(X)
        (model, ours), t_ours = _timed(lambda: _ours(X, rank, alpha, nonnegative, seed))
        theirs, t_tl = _timed(lambda: _theirs(X, rank, alpha, nonnegative, seed))
        obj_tl = _objective(X, theirs, alpha)
        rows["obj_ours"].append(_objective(X, ours, alpha))
        rows["obj_tl"].append(obj_tl)
        rows["fms_ours"].append(factor_match_score(truth, ours))
        rows["fms_tl"].append(factor_match_score(truth, theirs))
        rows["eff_ours"].append(model.n_components_effective_)
        rows["eff_tl"].append(
            count_effective_components(component_norms(theirs), data_norm)
        )
        rows["time_ours"].append(t_ours)
        rows["time_tl"].append(t_tl)
        rows["time_to_tl"].append(
            _time_to_objective(
                X, rank, alpha, nonnegative, seed, model.objective_, obj_tl
            )
        )
    return {key: float(np.median(values)) for key, values in rows.items()}


def _default_rank_rows(quick):
    """RidgeCPD's defaults on its headline use: does the effective rank come out?

    Seeded 40 x 40 x 40 tensors of true rank 3-6 at 20, 30 and 40 dB, fitted
    with twice the true rank and otherwise default parameters, and with
    ``alpha=0.5``; effective rank and iterations, mean and worst per SNR.
    """
    ranks = (3, 6) if quick else (3, 4, 5, 6)
    lines = [
        "",
        "### RidgeCPD defaults: effective rank with twice the true rank "
        f"(40 x 40 x 40, true rank {', '.join(map(str, ranks))})",
        "",
        "| alpha | SNR (dB) | draws | true rank found | iterations mean "
        "| iterations worst | converged | time mean (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for alpha in (1.0, 0.5):
        for snr in (20, 30, 40):
            found, iters, converged, times = 0, [], 0, []
            for seed, rank in enumerate(ranks):
                X, _ = make_cp_tensor(
                    (40, 40, 40), n_components=rank, snr_db=snr, random_state=seed
                )
                model = RidgeCPD(2 * rank, alpha=alpha, random_state=0)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    (_, seconds) = _timed(lambda: model.fit(X))
                found += model.n_components_effective_ == rank
                converged += not caught
                iters.append(model.n_iter_)
                times.append(seconds)
            lines.append(
                f"| {alpha:g}{' (default)' if alpha == 1.0 else ''} | {snr} "
                f"| {len(ranks)} | {found}/{len(ranks)} | {np.mean(iters):.0f} "
                f"| {max(iters)} | {converged}/{len(ranks)} | {np.mean(times):.2f} |"
            )
    return lines


def run(quick=False):
    """Run the benchmark and return a markdown report."""
    seeds = range(3) if quick else range(10)
    shapes = [(30, 30, 30)] if quick else [(30, 30, 30), (100, 60, 40)]
    alpha = 0.5
    # compile (or load from numba's cache) the HALS kernel outside the timings
    _ours(np.ones((2, 2, 2)), 1, alpha, True, 0, max_iter=1)
    blas_threads = max(
        (
            info["num_threads"]
            for info in threadpool_info()
            if info["user_api"] == "blas"
        ),
        default=1,
    )
    lines = [
        f"### RidgeCPD vs tensorly {tl.__version__} "
        f"({platform.machine()}, Python {platform.python_version()}, "
        f"{blas_threads} BLAS thread(s), {datetime.date.today().isoformat()}, "
        f"median over {len(seeds)} seeds)",
        "",
        "| tensor (true rank -> fitted) | solver | objective ours / tensorly "
        "| FMS ours / tensorly | effective rank ours / tensorly "
        "| time ours / tensorly (s) | time to tensorly's objective (s) | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | ---: |",
    ]
    cases = [
        ("ALS (parafac l2_reg)", False, alpha),
        ("HALS, alpha=0", True, 0.0),
        (f"HALS, alpha={alpha:g} (tensorly: no ridge)", True, alpha),
    ]
    for shape in shapes:
        for label, nonnegative, a in cases:
            r = _compare(shape, 6, 4, a, nonnegative, seeds)
            ratio = r["time_to_tl"] / r["time_tl"]
            lines.append(
                f"| {'x'.join(map(str, shape))} (4 -> 6) | {label}"
                + (f", alpha={a:g}" if not nonnegative else "")
                + f" | {r['obj_ours']:.4g} / {r['obj_tl']:.4g}"
                f" | {r['fms_ours']:.5f} / {r['fms_tl']:.5f}"
                f" | {r['eff_ours']:.0f} / {r['eff_tl']:.0f}"
                f" | {r['time_ours']:.3f} / {r['time_tl']:.3f}"
                f" | {r['time_to_tl']:.3f} | {ratio:.2f} |"
            )
    lines += _default_rank_rows(quick)
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, one shape")
    print(run(quick=parser.parse_args().quick))
