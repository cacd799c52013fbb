"""Choose the default ``transition_prior`` of the Markov latent model by validation.

Blocked two-fold cross-validation on each training series only: fit on the
first half, score the second by forward-backward from the stationary
distribution of the fitted chain, and the other way round. The series are
drawn by the benchmarks' generators with draw numbers 100 and up, which
``bench_switching.py`` and ``bench_glmhmm.py`` never judge on (they use
draws 0-9). Prints a markdown table of the validation log-likelihood of
every pseudo-count relative to maximum likelihood (None), mean and worst
draw, per model.

    python benchmarks/search_transition_prior.py [--quick]
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_glmhmm import bernoulli_hmm_llf, glm_hmm_problem  # noqa: E402
from bench_switching import gaussian_hmm_llf, markov_switching_problem  # noqa: E402

from skfactor import SwitchingClassifier, SwitchingRegression  # noqa: E402

PRIORS = (None, 0.01, 0.1, 0.3, 1.0, 3.0)
FIRST_DRAW = 100  # the benchmarks judge draws 0-9


def _gaussian(draw, n_samples, prior):
    X, y, _, truth = markov_switching_problem(n_samples, draw)
    K = truth["coef"].shape[0]
    sv = truth["switching_variance"]

    def fit_score(train, test):
        model = SwitchingRegression(
            n_regimes=K,
            switching_variance=sv,
            transition_prior=prior,
            random_state=draw,
        ).fit(X[train], y[train])
        return gaussian_hmm_llf(
            X[test],
            y[test],
            model.coef_,
            model.intercept_,
            model.transition_matrix_,
            model.noise_variance_,
        )[0]

    return fit_score


def _glm_hmm(draw, n_samples, prior):
    X, y, _, _ = glm_hmm_problem(n_samples, draw)

    def fit_score(train, test):
        model = SwitchingClassifier(
            n_regimes=3,
            loss="logistic",
            alpha=0.0,
            transition_prior=prior,
            random_state=draw,
        ).fit(X[train], y[train])
        return bernoulli_hmm_llf(
            X[test],
            y[test],
            model.coef_,
            model.intercept_,
            model.transition_matrix_,
        )[0]

    return fit_score


MODELS = {
    "Gaussian Markov switching (bench_switching generator)": (_gaussian, 1000),
    "GLM-HMM (bench_glmhmm generator)": (_glm_hmm, 5000),
}


def blocked_cv_llf(make, draw, n_samples, prior):
    """Sum of the validation log-likelihoods of the two blocked folds."""
    fit_score = make(draw, n_samples, prior)
    half = n_samples // 2
    first, second = slice(0, half), slice(half, n_samples)
    return fit_score(first, second) + fit_score(second, first)


def run(n_draws):
    lines = [
        "| model | transition_prior | validation llf - ML mean | worst draw |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, (make, n_samples) in MODELS.items():
        draws = range(FIRST_DRAW, FIRST_DRAW + n_draws)
        scores = {
            prior: np.array([blocked_cv_llf(make, d, n_samples, prior) for d in draws])
            for prior in PRIORS
        }
        for prior in PRIORS:
            gain = scores[prior] - scores[None]
            lines.append(
                f"| {name} | {prior} | {gain.mean():+.3f} | {gain.min():+.3f} |"
            )
        print("\n".join(lines[-len(PRIORS) :]), flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 draws, not 12")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of a restart
        report = run(3 if args.quick else 12)
    print()
    print(report)
