"""ProximalMF with automatic steps vs hand-tuned fixed steps vs scikit-learn NMF.

On nonnegative data (a synthetic hyperspectral image with known factors, and
scikit-learn's ``load_digits``) all methods minimize the same objective,
1/2 ||X - WH||_F^2 with W, H >= 0, from the same starting point:

- ``ProximalMF`` with ``step_size="auto"`` (adaptive backtracking steps that
  can exceed the inverse Lipschitz constants, components balanced to equal
  norms, Nesterov extrapolation, adaptive restart);
- ``ProximalMF`` with ``step_size="lipschitz"`` (the inverse block Lipschitz
  constants: the previous automatic rule);
- Melchior's method: the proximal gradient update of both factors at once
  (gradients of the same point, as autograd gives them) with heavy-ball
  momentum and hand-set learning rates, as its ``PGM(SGD)`` optimizer does
  (reference implementation below), with the best learning rates of a grid;
- ``ProximalMF`` with the best fixed step pair of a grid (the same iteration
  as ``"lipschitz"``, without the balancing: isolates the choice of the
  steps);
- ``sklearn.decomposition.NMF(solver="cd")``.

The table gives the iterations, the work and the time each needs to reach a
common objective: 0.1% above the worst of the methods' best final
objectives, a level every method reaches (the problem is nonconvex and the
methods may end in different local minima; the last columns show where each
ends). Work is counted in products costing O(n m k) (with X, or with the
residual for Melchior's method) and in proximal steps (the backtracking of
``"auto"`` computes rejected trial steps too, each with an O((n + m) k^2)
test but no product with X). For the grids, the setting that reaches the
target first is shown; grids are centred on the inverse Lipschitz constants
at the start (which a user would not know). Target: automatic steps need no
more iterations than the best hand-tuned fixed step.

    python benchmarks/bench_proxmf.py [--quick]
"""

import argparse
import datetime
import os
import platform
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning

from skfactor import ProximalMF
from skfactor.datasets import make_hyperspectral
from skfactor.metrics import factor_match_score
from skfactor.prox import prox_nonnegative


def half_squared_norm(residual):
    return 0.5 * float(np.vdot(residual, residual))


def objective(X, W, H):
    """The objective every method minimizes, computed by one function."""
    return half_squared_norm(X - W @ H)


def seed_pgm(X, W, H, lr_W, lr_H, momentum, n_iter):
    """Melchior's PGM: torch.optim.SGD with momentum, then the prox.

    Both gradients are taken at the same point (one ``loss.backward()``),
    the momentum buffer is ``b = momentum * b + grad`` and the step
    ``p = prox(p - lr * b)``. Returns the objective after each iteration.
    """
    W, H = W.copy(), H.copy()
    buffer_W, buffer_H = np.zeros_like(W), np.zeros_like(H)
    history = []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_iter):
            residual = W @ H - X
            # the loss autograd differentiates, at the current point
            history.append(half_squared_norm(residual))
            if not np.isfinite(history[-1]):
                break
            grad_W, grad_H = residual @ H.T, W.T @ residual
            buffer_W = momentum * buffer_W + grad_W
            buffer_H = momentum * buffer_H + grad_H
            W = prox_nonnegative(W - lr_W * buffer_W, lr_W)
            H = prox_nonnegative(H - lr_H * buffer_H, lr_H)
        else:
            history.append(objective(X, W, H))
    return np.array(history), W, H


def sklearn_cd_history(X, W0, H0, n_iter):
    """Objective after each iteration of scikit-learn's coordinate descent
    (warm restarts of one iteration continue the same deterministic run)."""
    W, H = W0.copy(), H0.copy()
    history = [objective(X, W, H)]
    for _ in range(n_iter):
        model = NMF(W.shape[1], solver="cd", init="custom", max_iter=1, tol=0)
        W = model.fit_transform(X, W=W, H=H)
        H = model.components_
        history.append(objective(X, W, H))
    return np.array(history), W, H


def first_below(history, target):
    reached = np.flatnonzero(np.asarray(history) <= target)
    return int(reached[0]) if reached.size else None


def best_time(fit, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return min(times)


def proximal_mf(step_size, init, n_iter):
    return ProximalMF(
        init[0].shape[1], step_size=step_size, init=init, max_iter=n_iter, tol=0
    )


def proximal_mf_work(model):
    """(O(nmk) products, proximal steps) of a ProximalMF fit's solver: X H^T
    and W^T X at the start and per iteration, W^T X again per redone
    iteration (the final W-only solve is not counted)."""
    return 2 + 2 * model.n_iter_ + model.n_restarts_, model.n_prox_


def run_dataset(name, X, n_components, truth, budget, grid, momenta, repeats):
    W0, H0 = ProximalMF(n_components)._initial_factors(
        X, n_components, np.random.RandomState(0)
    )
    init = (np.maximum(W0, 0), np.maximum(H0, 0))
    # candidates[method] = list of (settings, objective history, (W, H))
    candidates = {"auto": [], "lipschitz": [], "fixed": [], "seed": [], "cd": []}
    with warnings.catch_warnings():
        # fixed steps far from the right ones stall or zero the factors
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        for rule in ("auto", "lipschitz"):
            model = proximal_mf(rule, init, budget)
            W = model.fit_transform(X)
            candidates[rule].append((rule, model.objective_, (W, model.components_)))
        # grids of fixed steps centred on the inverse Lipschitz constants at
        # the start (a user would have to find this scale first)
        t_W, t_H = model.step_sizes_[0]
        for a in grid:
            for b in grid:
                steps = (a * t_W, b * t_H)
                fixed = proximal_mf(steps, init, budget)
                try:
                    W = fixed.fit_transform(X)
                except ValueError:  # diverged
                    continue
                candidates["fixed"].append(
                    (steps, fixed.objective_, (W, fixed.components_))
                )
                for momentum in momenta:
                    history, W, H = seed_pgm(X, *init, *steps, momentum, budget)
                    if np.isfinite(history[-1]):
                        candidates["seed"].append(((steps, momentum), history, (W, H)))
        history, W, H = sklearn_cd_history(X, *init, budget)
        candidates["cd"].append((None, history, (W, H)))

    if len(momenta) > 1 and 0.5 in momenta:  # Melchior's own setting
        candidates["seed_0.5"] = [c for c in candidates["seed"] if c[0][1] == 0.5]
    # a level every method reaches: 0.1% above the worst of the methods' best
    # final objectives (nonconvex: the methods may end in different minima;
    # the last columns show where)
    target = max(min(c[1][-1] for c in runs) for runs in candidates.values())
    target *= 1 + 1e-3

    def rank(candidate):  # fewest iterations to the target, then lowest objective
        n = first_below(candidate[1], target)
        return (np.inf if n is None else n, candidate[1][-1])

    chosen = {method: min(runs, key=rank) for method, runs in candidates.items()}
    iterations = {method: first_below(c[1], target) for method, c in chosen.items()}

    def fit_to_target(method):
        settings, n = chosen[method][0], max(iterations[method], 1)
        if method in ("auto", "lipschitz", "fixed"):
            return proximal_mf(settings, init, n).fit(X)
        if method.startswith("seed"):
            return seed_pgm(X, *init, *settings[0], settings[1], n)
        return NMF(n_components, solver="cd", init="custom", max_iter=n, tol=0).fit(
            X, W=init[0].copy(), H=init[1].copy()
        )

    times, work = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for method in chosen:
            n = iterations[method]
            if n is None:
                continue
            times[method] = best_time(lambda: fit_to_target(method), repeats)
            if method in ("auto", "lipschitz", "fixed"):
                work[method] = proximal_mf_work(fit_to_target(method))
            elif method.startswith("seed"):
                # W H - X, R H^T and W^T R; one prox per factor
                work[method] = (3 * n, 2 * n)
            else:  # X H^T and X^T W per iteration; exact coordinate updates
                work[method] = (2 * n, None)

    fixed_steps = chosen["fixed"][0]

    def seed_description(method):
        if method not in chosen:
            return ""
        lr, momentum = chosen[method][0]
        return (
            f"Melchior's PGM, best lr ({lr[0]:.3g}, {lr[1]:.3g}), momentum {momentum}"
            + (" (Melchior's setting)" if method == "seed_0.5" else "")
        )

    descriptions = {
        "auto": 'ProximalMF, `step_size="auto"`',
        "lipschitz": 'ProximalMF, `step_size="lipschitz"` (1/L)',
        "fixed": (
            f"ProximalMF, best fixed steps ({fixed_steps[0]:.3g}, {fixed_steps[1]:.3g})"
        ),
        "seed": seed_description("seed"),
        "seed_0.5": seed_description("seed_0.5"),
        "cd": 'scikit-learn `NMF(solver="cd")`',
    }
    with_truth = truth is not None
    lines = [
        f"**{name}** ({X.shape[0]} x {X.shape[1]}, {n_components} components; target "
        f"objective {target:.6g}, budget {budget} iterations; "
        f"{len(candidates['fixed'])} fixed step pairs and "
        f"{len(candidates['seed'])} seed settings tried)",
        "",
        "| method | iterations to target | iterations / auto | O(nmk) products "
        "| proximal steps | time to target (s) | time / auto "
        f"| objective after {budget} its |"
        + (" factor match score |" if with_truth else ""),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        + (" ---: |" if with_truth else ""),
    ]
    methods = ("auto", "lipschitz", "fixed", "seed", "seed_0.5", "cd")
    for method in [m for m in methods if m in chosen]:
        n, t = iterations[method], times.get(method)
        ratio_n = (
            "-"
            if n is None or not iterations["auto"]
            else f"{n / iterations['auto']:.2f}"
        )
        ratio_t = (
            "-" if t is None or "auto" not in times else f"{t / times['auto']:.2f}"
        )
        reached = "not reached" if n is None else n
        seconds = "-" if t is None else f"{t:.3f}"
        products, proxes = work.get(method, ("-", "-"))
        row = (
            f"| {descriptions[method]} | {reached} | {ratio_n} | {products} | "
            f"{'-' if proxes is None else proxes} | {seconds} | {ratio_t} | "
            f"{chosen[method][1][-1]:.6g} |"
        )
        if with_truth:
            W, H = chosen[method][2]
            row += f" {factor_match_score([truth[0], truth[1].T], [W, H.T]):.3f} |"
        lines.append(row)
    lines.append("")
    return "\n".join(lines)


def run(quick=False):
    """Run the benchmark and return its markdown report."""
    budget = 300 if quick else 1000
    grid = (
        [0.25, 0.5, 1.0, 2.0, 4.0] if quick else [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    )
    momenta = [0.5] if quick else [0.5, 0.9]
    repeats = 1 if quick else 3
    size = 32 if quick else 64
    X, W, H = make_hyperspectral(size, size, 64, 4, n_photons=2000, random_state=0)
    digits = load_digits().data
    header = (
        "Benchmark ProximalMF (nonnegative, 1/2 ||X - WH||^2)"
        f"{' (quick)' if quick else ''}: {datetime.date.today()}, "
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}. Step grids: multiples {grid} of the automatic "
        f"steps at the start (for each factor), seed momentum in {momenta}."
    )
    sections = [
        header,
        "",
        run_dataset(
            f"make_hyperspectral({size}, {size}, 64, 4)",
            X,
            4,
            (W, H),
            budget,
            grid,
            momenta,
            repeats,
        ),
        run_dataset("load_digits", digits, 10, None, budget, grid, momenta, repeats),
    ]
    return "\n".join(sections)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small grids, about a minute"
    )
    print(run(quick=parser.parse_args().quick))
