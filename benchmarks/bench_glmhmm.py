"""Benchmark of ``SwitchingClassifier(latent="markov")`` against dynamax.

A GLM-HMM of the kind fitted to mouse decision-making data (Ashwood et al.,
2022, "Mice alternate between discrete strategies during perceptual
decision-making", Nature Neuroscience): K = 3 hidden states with sticky
transitions, a binary choice per trial from a logistic regression on the
signed stimulus contrast, a bias, the previous choice and a
win-stay-lose-switch regressor. The previous-choice regressors depend on the
simulated choices, so each session is drawn trial by trial
(:func:`glm_hmm_problem`, our own generator: every draw has its own weights,
stay probabilities and stimulus set).

Both models are fitted by EM from the same number of random starts, and
scored with the same function (:func:`bernoulli_hmm_llf`, forward-backward
from the stationary distribution of each fitted chain) on the training
session and on a held-out session of the same animal (same parameters, new
trials). dynamax (``LogisticRegressionHMM.fit_em``, an Adam M-step) is timed
cold (its first call, with the JIT compilation) and warm (the same shapes
again, compiled). JAX runs on the CPU with one thread, like our fit.

Targets (issue 13): state accuracy and held-out log-likelihood at least
dynamax's, time at most 0.5 of dynamax's warm time. Both fit the same
posterior mode (dynamax's Dirichlet prior on the chain is our default
``transition_prior``); where both reach the same maximum (training
log-posteriors within ``SAME_MAXIMUM`` nats) the two estimates differ only
by where each optimizer stopped, and the report lists those draws as ties
with their differences, apart from the draws where the fits differ.

Run ``python benchmarks/bench_glmhmm.py [--quick]`` with ``pip install
".[bench]"`` (dynamax and jax). ``--quick``: 3 draws at 5,000 trials instead
of 10 draws at 5,000 and 5 at 20,000.
"""

import os

# One CPU thread for XLA as for every other library of the benchmarks.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from scipy.special import log_expit  # noqa: E402

from skfactor import SwitchingClassifier  # noqa: E402
from skfactor.metrics import regime_accuracy  # noqa: E402
from skfactor.switching._hmm import (  # noqa: E402
    forward_backward,
    stationary_distribution,
)

N_STARTS = 4  # SwitchingClassifier's default n_init; dynamax gets as many
EM_ITERS = 200  # dynamax's EM iterations per start (its default is 50)
DRAWS = {5000: 10, 20000: 5}
QUICK_DRAWS = {5000: 3}
FEATURES = ("stimulus", "previous choice", "win-stay-lose-switch")
# dynamax's Dirichlet concentration 1.1 on the rows of the chain is the
# pseudo-count 0.1, SwitchingClassifier's default transition_prior: both fit
# the same posterior mode, scored on the training session by
# :func:`log_posterior`.
PSEUDO_COUNT = 0.1
# Two fits whose training log-posteriors agree within this many nats have
# found the same maximum: their held-out differences are what is left of
# each optimizer's stopping point, of either sign (a tie, not a loss).
SAME_MAXIMUM = 0.05


def glm_hmm_problem(n_trials, draw, rng=None):
    """A random 3-state GLM-HMM of mouse decision-making (our own generator).

    States (in the spirit of Ashwood et al., 2022): "engaged" (stimulus
    weight 4-7, small bias), "biased left" and "biased right" (stimulus
    weight 0.5-2, bias -/+ 1.5-3); previous-choice and win-stay-lose-switch
    weights normal with scale 0.5 in every state; stay probabilities uniform
    in [0.94, 0.99]. Stimuli are signed contrasts from {0, 0.0625, 0.125,
    0.25, 1}. The choice is 1 (right) or 0 (left), the reward 1 when the
    choice matches the side of the stimulus (a random side at contrast 0).

    Returns
    -------
    X : ndarray of shape (n_trials, 3)
        Stimulus, previous choice (+/-1) and win-stay-lose-switch (previous
        choice times +/-1 for a previous reward or not).
    y : ndarray of shape (n_trials,) of {0, 1}
    states : ndarray of shape (n_trials,)
    truth : dict with ``coef`` (3, 3), ``intercept`` (3,), ``transition``.
    """
    params_rng = np.random.default_rng([draw, 2022])
    rng = np.random.default_rng([n_trials, draw]) if rng is None else rng
    K = 3
    coef = np.empty((K, 3))
    coef[:, 0] = [params_rng.uniform(4, 7), *params_rng.uniform(0.5, 2, size=2)]
    coef[:, 1:] = 0.5 * params_rng.standard_normal((K, 2))
    magnitude = params_rng.uniform(1.5, 3, size=2)
    intercept = np.array(
        [0.3 * params_rng.standard_normal(), -magnitude[0], magnitude[1]]
    )
    stay = params_rng.uniform(0.94, 0.99, size=K)
    P = np.zeros((K, K))
    for i in range(K):
        P[i] = np.insert(
            params_rng.dirichlet(np.ones(K - 1)) * (1 - stay[i]), i, stay[i]
        )
    contrasts = np.array([0.0, 0.0625, 0.125, 0.25, 1.0])
    stim = contrasts[rng.integers(contrasts.size, size=n_trials)]
    stim *= rng.choice([-1.0, 1.0], size=n_trials)
    side = np.where(stim != 0, stim > 0, rng.random(n_trials) < 0.5)
    states = np.empty(n_trials, dtype=int)
    states[0] = rng.choice(K, p=stationary_distribution(P))
    X = np.zeros((n_trials, 3))
    y = np.zeros(n_trials, dtype=int)
    X[:, 0] = stim
    previous, won = rng.choice([-1.0, 1.0]), 1.0
    for t in range(n_trials):
        if t > 0:
            states[t] = rng.choice(K, p=P[states[t - 1]])
        X[t, 1] = previous
        X[t, 2] = previous * (1.0 if won else -1.0)
        u = X[t] @ coef[states[t]] + intercept[states[t]]
        y[t] = rng.random() < 1.0 / (1.0 + np.exp(-u))
        previous, won = 2.0 * y[t] - 1.0, y[t] == side[t]
    return X, y, states, dict(coef=coef, intercept=intercept, transition=P)


def bernoulli_hmm_llf(X, y, coef, intercept, transition):
    """Log-likelihood and marginals, first state from the stationary law."""
    u = X @ np.asarray(coef, dtype=float).T + np.asarray(intercept, dtype=float)
    log_b = np.where(y[:, None] == 1, log_expit(u), log_expit(-u))
    P = np.asarray(transition, dtype=float)
    P = P / P.sum(axis=1, keepdims=True)
    gamma, llf = forward_backward(log_b, P, stationary_distribution(P))
    return llf, gamma


def log_posterior(X, y, coef, intercept, transition):
    """Training log-likelihood plus the log Dirichlet prior of the chain."""
    llf, _ = bernoulli_hmm_llf(X, y, coef, intercept, transition)
    return llf + PSEUDO_COUNT * float(np.sum(np.log(transition)))


def _timed(fit):
    start = time.perf_counter()
    result = fit()
    return result, time.perf_counter() - start


def fit_ours(X, y, draw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of a restart
        model = SwitchingClassifier(
            n_regimes=3, loss="logistic", alpha=0.0, n_init=N_STARTS, random_state=draw
        )
        return model.fit(X, y)


def fit_dynamax(X, y, draw):
    """Best of ``N_STARTS`` EM fits of dynamax; returns (W, b, P) per start."""
    import jax.numpy as jnp
    import jax.random as jr
    from dynamax.hidden_markov_model import LogisticRegressionHMM

    hmm = LogisticRegressionHMM(num_states=3, input_dim=X.shape[1])
    emissions, inputs = jnp.asarray(y, dtype=float), jnp.asarray(X)
    fits = []
    for start in range(N_STARTS):
        key = jr.PRNGKey(1000 * draw + start)
        params, props = hmm.initialize(key=key)
        params, lps = hmm.fit_em(
            params, props, emissions, inputs=inputs, num_iters=EM_ITERS, verbose=False
        )
        fits.append((float(lps[-1]), params))
    params = max(fits, key=lambda fit: fit[0])[1]
    return (
        np.asarray(params.emissions.weights),
        np.asarray(params.emissions.biases),
        np.asarray(params.transitions.transition_matrix),
    )


def glm_hmm_run(n_trials, draw, cold):
    """Both models on one random problem: accuracy, llf, held-out llf, time."""
    X, y, states, truth = glm_hmm_problem(n_trials, draw)
    # the held-out session: same animal (parameters), new trials
    X_new, y_new, _, _ = glm_hmm_problem(
        n_trials, draw, rng=np.random.default_rng([n_trials, draw, 1])
    )
    ours, our_time = _timed(lambda: fit_ours(X, y, draw))
    if cold:
        _, cold_time = _timed(lambda: fit_dynamax(X, y, draw + 1))
    dyn, dyn_time = _timed(lambda: fit_dynamax(X, y, draw))
    row = dict(time_ours=our_time, time_dynamax=dyn_time)
    if cold:
        row["time_dynamax_cold"] = cold_time
    fitted = {
        "ours": (ours.coef_, ours.intercept_, ours.transition_matrix_),
        "dynamax": dyn,
        "truth": (truth["coef"], truth["intercept"], truth["transition"]),
    }
    for name, (W, b, P) in fitted.items():
        llf, gamma = bernoulli_hmm_llf(X, y, W, b, P)
        held_out, _ = bernoulli_hmm_llf(X_new, y_new, W, b, P)
        row[name] = (regime_accuracy(states, gamma.argmax(axis=1)), llf, held_out)
    row["same_maximum"] = (
        abs(log_posterior(X, y, *fitted["ours"]) - log_posterior(X, y, *dyn))
        <= SAME_MAXIMUM
    )
    return row


def run(quick=False):
    """Run the benchmark and return the markdown report."""
    # compile our kernels outside of the timings
    X0, y0, _, _ = glm_hmm_problem(300, 0)
    fit_ours(X0, y0, 0)
    draws = QUICK_DRAWS if quick else DRAWS
    lines = [
        "## GLM-HMM of decision-making: SwitchingClassifier vs dynamax",
        "",
        f"{platform.node()}, {platform.machine()}, Python {platform.python_version()}, "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}{', --quick' if quick else ''}",
        "",
        f"K = 3 states, inputs {', '.join(FEATURES)} and a bias (intercept); "
        f"{N_STARTS} random starts each, best kept; dynamax "
        f"`LogisticRegressionHMM.fit_em`, {EM_ITERS} EM iterations per start; ours "
        '`SwitchingClassifier(loss="logistic", alpha=0, latent="markov")`, '
        "default tolerance and transition prior (the pseudo-count 0.1, "
        "dynamax's Dirichlet concentration 1.1: the same posterior mode). "
        "Log-likelihoods are those of the fitted parameters "
        "by one forward-backward from the stationary distribution, per trial; "
        "the held-out session has the same parameters and new trials.",
        "",
        "| trials | method | state accuracy mean | state accuracy worst "
        "| llf / trial mean | held-out llf / trial mean | held-out llf - dynamax "
        "worst | time (s) mean | time (s) worst |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    verdicts, per_draw = [], []
    for n_trials, n_draws in draws.items():
        runs = [glm_hmm_run(n_trials, d, cold=d == 0) for d in range(n_draws)]

        def col(name, i):
            return np.array([r[name][i] for r in runs])

        held = {name: col(name, 2) for name in ("ours", "dynamax", "truth")}
        acc = {name: col(name, 0) for name in ("ours", "dynamax", "truth")}
        t_ours = np.array([r["time_ours"] for r in runs])
        t_dyn = np.array([r["time_dynamax"] for r in runs])
        for name, label in (
            ("ours", "SwitchingClassifier (markov)"),
            ("dynamax", "dynamax LogisticRegressionHMM (warm)"),
            ("truth", "*true parameters*"),
        ):
            timing = "| |"
            if name != "truth":
                t = t_ours if name == "ours" else t_dyn
                timing = f"| {t.mean():.2f} | {t.max():.2f} |"
            lines.append(
                f"| {n_trials} | {label} | {acc[name].mean():.4f} | "
                f"{acc[name].min():.4f} | {col(name, 1).mean() / n_trials:.5f} | "
                f"{held[name].mean() / n_trials:.5f} | "
                f"{(held[name] - held['dynamax']).min() / n_trials:+.5f} {timing}"
            )
        ratio = t_ours / t_dyn
        same = np.array([r["same_maximum"] for r in runs])
        acc_diff = acc["ours"] - acc["dynamax"]
        held_diff = held["ours"] - held["dynamax"]
        differ = ~same
        acc_ok = np.all(acc_diff[differ] >= 0)
        held_ok = np.all(held_diff[differ] >= 0)

        def ties(diff, fmt):
            if not same.any():
                return "no draw where both reach the same maximum"
            return (
                f"{same.sum()} draw(s) where both reach the same maximum "
                f"(training log-posteriors within {SAME_MAXIMUM} nats), "
                f"differences there {fmt.format(diff[same].min())} to "
                f"{fmt.format(diff[same].max())}"
            )

        verdicts.append(
            f"- {n_trials} trials, {n_draws} draws: state accuracy mean "
            f"{acc['ours'].mean():.4f} vs {acc['dynamax'].mean():.4f}, "
            f"{'at least' if acc_ok else 'NOT at least'} dynamax's on every "
            f"draw where the fits differ; {ties(acc_diff, '{:+.4f}')}. "
            f"Held-out log-likelihood mean {held['ours'].mean():.1f} vs "
            f"{held['dynamax'].mean():.1f}, "
            f"{'at least' if held_ok else 'NOT at least'} dynamax's on every "
            f"draw where the fits differ; {ties(held_diff, '{:+.2f}')}. Time "
            f"ratio to warm dynamax mean {ratio.mean():.3f}, worst "
            f"{ratio.max():.3f} (target 0.5: "
            f"{'met' if ratio.max() <= 0.5 else 'NOT met'}); dynamax's first "
            f"(cold) fit {runs[0]['time_dynamax_cold']:.1f} s against "
            f"{runs[0]['time_dynamax']:.1f} s warm"
        )
        per_draw += [
            f"| {n_trials} | {d} | {r['ours'][0]:.4f} | {r['dynamax'][0]:.4f} "
            f"| {r['truth'][0]:.4f} | {r['ours'][2] - r['dynamax'][2]:+.2f} "
            f"| {r['truth'][2] - r['dynamax'][2]:+.2f} "
            f"| {'yes' if r['same_maximum'] else 'no'} | {ratio[d]:.3f} |"
            for d, r in enumerate(runs)
        ]
    lines += [
        "",
        *verdicts,
        "",
        "Per draw:",
        "",
        "| trials | draw | accuracy ours | accuracy dynamax | accuracy truth "
        "| held-out llf ours - dynamax | held-out llf truth - dynamax "
        "| same maximum | time ours / dynamax |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
        *per_draw,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 draws at 5,000 trials (minutes)"
    )
    print(run(quick=parser.parse_args().quick))
