"""Benchmark of SwitchingRegression and SwitchingClassifier.

1. Markov-switching Gaussian regression (K=3, 3 features, sticky chain):
   ``SwitchingRegression`` with KL smoothing against statsmodels'
   ``MarkovRegression`` (maximum likelihood by EM and BFGS, with its random
   search over starting values), on the same data in one run: regime
   accuracy after label matching, parameter error, wall time and its ratio.
   Targets (issue 3): accuracy at least statsmodels', time at most 1/5.
2. The general cvxpy P-step: a callable Huber loss at m = 2,000, K = 3
   (target under 30 s), next to the built-in Huber loss (L-BFGS fast path).
3. ``SwitchingClassifier`` on an input-output HMM with logistic emissions:
   the L-BFGS fast path against the cvxpy path on the same problem.

Run ``python benchmarks/bench_switching.py [--quick]``; ``--quick`` skips the
largest sizes and finishes in about a minute.
"""

import argparse
import datetime
import platform
import time
import warnings

import cvxpy as cp
import numpy as np

from skfactor import SwitchingClassifier, SwitchingRegression
from skfactor.datasets import make_switching_classification, make_switching_regression
from skfactor.metrics import regime_accuracy, regime_parameter_error

COEF = np.array([[1.0, -1.0, 0.5], [-1.0, 2.0, 0.0], [0.5, 0.0, -2.0]])
INTERCEPT = np.array([0.0, 1.0, -1.0])
STAY = 0.95  # probability of staying in the current regime
SMOOTHING = 4.0
N_INIT = 5
SEARCH_REPS = 20


def _timed(fit):
    start = time.perf_counter()
    result = fit()
    return result, time.perf_counter() - start


def markov_regression_rows(n_samples, random_state=0):
    """One row per method on a Markov-switching regression of ``n_samples``."""
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    X, y, regimes, _ = make_switching_regression(
        n_samples=n_samples,
        n_features=3,
        n_regimes=3,
        noise=1.0,
        coef=COEF,
        intercept=INTERCEPT,
        transition_matrix=STAY,
        random_state=random_state,
    )
    truth = np.column_stack([COEF, INTERCEPT])

    def statsmodels_fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its convergence chatter
            return MarkovRegression(y, k_regimes=3, exog=X, trend="c").fit(
                search_reps=SEARCH_REPS
            )

    result, sm_time = _timed(statsmodels_fit)
    sm_labels = result.smoothed_marginal_probabilities.argmax(axis=1)
    names = result.model.param_names
    sm_params = np.array(
        [
            [result.params[names.index(f"x{j + 1}[{k}]")] for j in range(3)]
            + [result.params[names.index(f"const[{k}]")]]
            for k in range(3)
        ]
    )
    model, our_time = _timed(
        lambda: SwitchingRegression(
            n_regimes=3, smoothing=SMOOTHING, n_init=N_INIT, random_state=random_state
        ).fit(X, y)
    )
    our_params = np.column_stack([model.coef_, model.intercept_])
    rows = []
    for name, labels, params, seconds in (
        (
            f"statsmodels MarkovRegression (search_reps={SEARCH_REPS})",
            sm_labels,
            sm_params,
            sm_time,
        ),
        (
            f"SwitchingRegression (smoothing={SMOOTHING:g}, n_init={N_INIT})",
            model.labels_,
            our_params,
            our_time,
        ),
    ):
        rows.append(
            f"| {n_samples} | {name} | {regime_accuracy(regimes, labels):.3f} | "
            f"{regime_parameter_error(truth, params, labels_true=regimes, labels_pred=labels):.3f} | "
            f"{seconds:.2f} | {seconds / sm_time:.3f} |"
        )
    return rows


def huber(X, y, coef, intercept):
    """Huber loss written as a cvxpy callable: forces the general P-step."""
    return cp.huber(X @ coef + intercept - y, 1.0)


def huber_rows(n_samples=2000, random_state=0):
    X, y, regimes, coef = make_switching_regression(
        n_samples=n_samples,
        n_features=3,
        n_regimes=3,
        noise=1.0,
        random_state=random_state,
    )
    y = y.copy()
    outliers = np.random.default_rng(random_state).choice(
        n_samples, n_samples // 50, replace=False
    )
    y[outliers] += 30.0
    rows = []
    for name, loss in (
        ("callable Huber (cvxpy P-step)", huber),
        ("built-in 'huber' (L-BFGS P-step)", "huber"),
    ):
        model, seconds = _timed(
            lambda: SwitchingRegression(
                n_regimes=3, loss=loss, n_init=1, random_state=random_state
            ).fit(X, y)
        )
        error = regime_parameter_error(
            coef, model.coef_, labels_true=regimes, labels_pred=model.labels_
        )
        rows.append(
            f"| {n_samples} | {name} | {regime_accuracy(regimes, model.labels_):.3f} | {error:.3f} "
            f"| {model.n_iter_} | {seconds:.2f} |"
        )
    return rows


def classifier_rows(n_samples, random_state=0):
    X, y, regimes, _ = make_switching_classification(
        n_samples=n_samples,
        n_features=3,
        n_regimes=3,
        transition_matrix=0.97,
        random_state=random_state,
    )
    params = dict(
        n_regimes=3, loss="logistic", smoothing=2.0, n_init=1, random_state=random_state
    )
    fast, fast_time = _timed(lambda: SwitchingClassifier(**params).fit(X, y))
    slow, slow_time = _timed(
        lambda: SwitchingClassifier(solver="cvxpy", **params).fit(X, y)
    )
    gap = np.abs(fast.coef_ - slow.coef_).max()
    return [
        f"| {n_samples} | L-BFGS fast path | {regime_accuracy(regimes, fast.labels_):.3f} | "
        f"{fast_time:.2f} | {fast_time / slow_time:.3f} | {gap:.1e} |",
        f"| {n_samples} | cvxpy path | {regime_accuracy(regimes, slow.labels_):.3f} | "
        f"{slow_time:.2f} | 1.000 | |",
    ]


def run(quick=False):
    """Run the benchmark and return the markdown report."""
    # Compile the F-step kernel outside of the timings.
    SwitchingRegression(n_regimes=2, smoothing=1.0, n_init=1).fit(
        np.arange(20.0).reshape(10, 2), np.arange(10.0)
    )
    sizes = (1000,) if quick else (1000, 5000)
    lines = [
        "## Switching regression and classification (seed 000)",
        "",
        f"{platform.node()}, {platform.machine()}, Python {platform.python_version()}, "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}{', --quick' if quick else ''}",
        "",
        f"### Markov-switching regression (K=3, 3 features, stay probability {STAY}, noise 1)",
        "",
        "| m | method | regime accuracy | parameter error | time (s) | time / statsmodels |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for m in sizes:
        lines += markov_regression_rows(m)
    lines += [
        "",
        "Targets: accuracy at least statsmodels', time at most 0.2 of it.",
        "",
        "### General cvxpy P-step: Huber loss (K=3, 3 features, 2% outliers; target < 30 s)",
        "",
        "| m | loss | regime accuracy | parameter error | iterations | time (s) |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
        *huber_rows(),
        "",
        "### SwitchingClassifier: IO-HMM with logistic emissions (K=3, smoothing 2)",
        "",
        "| m | P-step | regime accuracy | time (s) | time / cvxpy | max coef difference |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for m in (500,) if quick else (500, 2000):
        lines += classifier_rows(m)
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes only (about a minute)"
    )
    print(run(quick=parser.parse_args().quick))
