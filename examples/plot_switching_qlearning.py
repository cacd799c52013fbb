"""
=====================================================
Hierarchical forgetting Q-learning (Zhu et al., 2025)
=====================================================

The first worked example of the poster: an agent plays a 3-armed bandit
(reward probabilities 0.1, 0.2, 0.7) and chooses arm :math:`a` with
probability :math:`\\mathrm{softmax}(X(t) \\theta(t))_a`, where the columns of
:math:`X(t) \\in \\mathbf{R}^{3 \\times 5}` are the reward signals of the last
five steps. Every 20 steps the agent flips between a *win-stay* strategy
(:math:`\\theta \\ge 0`, non-increasing over the lags) and a *win-shift*
strategy (:math:`\\theta \\le 0`, non-decreasing).

This model is not a built-in loss: the loss is a callable returning the cvxpy
expression of the per-sample negative log-likelihood, with the shape of the
coefficients declared by :func:`~skfactor.switching.cvxpy_loss`, and the
sign and monotonicity constraints are a callable too. Steps whose recent
rewards are all zero look the same under both strategies; a model of the
latent regimes over time resolves them from their neighbours: the KL
smoothing of the latent factors, or the hidden Markov chain.
"""

import cvxpy as cp
import matplotlib.pyplot as plt
import numpy as np

from skfactor import SwitchingClassifier
from skfactor.datasets import make_forgetting_bandit
from skfactor.metrics import regime_accuracy
from skfactor.switching import cvxpy_loss

N_ARMS, N_LAGS = 3, 5
X, y, regimes, theta = make_forgetting_bandit(n_samples=400, random_state=0)


@cvxpy_loss(coef_shape=N_LAGS)
def choice_loss(X, y, coef, intercept):
    """-log softmax(X(t) coef)[y(t)], with X(t) flattened arm by arm in X."""
    m = X.shape[0]
    utilities = cp.vstack(
        [X[:, a * N_LAGS : (a + 1) * N_LAGS] @ coef for a in range(N_ARMS)]
    ).T
    chosen = X.reshape(m, N_ARMS, N_LAGS)[np.arange(m), y] @ coef
    return cp.log_sum_exp(utilities, axis=1) - chosen


def strategies(k, coef):
    """Regime 0: win-stay with forgetting; regime 1: win-shift."""
    if k == 0:
        return [coef >= 0, cp.diff(coef) <= 0]
    return [coef <= 0, cp.diff(coef) >= 0]


# %%
# The Markov model next to the KL-smoothed one
# ---------------------------------------------
# Both fits keep the constraints and add an l1 penalty on the coefficients
# (``alpha=1``). ``latent="smoothed"`` penalizes the KL divergence between
# consecutive latent factors (strength ``smoothing``, a scale to choose);
# ``latent="markov"`` fits a hidden Markov chain of strategies by EM, with
# the callable loss as the negative log-likelihood of a choice, and labels
# each step by its exact posterior. No peer fits this model: the
# constraints and the penalty enter the cvxpy P-step of both.
fits = {}
settings = {
    "smoothed (smoothing=1)": dict(latent="smoothed", smoothing=1.0),
    "markov": dict(latent="markov"),
}
for name, latent in settings.items():
    fits[name] = SwitchingClassifier(
        n_regimes=2,
        loss=choice_loss,
        constraints=strategies,
        penalty="l1",
        alpha=1.0,
        fit_intercept=False,
        n_init=2,
        random_state=0,
        **latent,
    ).fit(X, y)
    accuracy = regime_accuracy(regimes, fits[name].labels_)
    error = np.abs(fits[name].coef_ - theta).max()
    print(f"{name}: regime accuracy {accuracy:.3f}, max coefficient error {error:.2f}")
markov = fits["markov"]
print("fitted stay probabilities:", np.diag(markov.transition_matrix_).round(3))
print("true stay probability: 1 - 1/20 =", 1 - 1 / 20)

# %%
# Recovered latent factors and parameters
# ---------------------------------------
# As in Figure 1 of the poster: the probability of the win-stay regime over
# time, and the coefficients of both regimes, against the truth (dashed).
# The constraints fix the labels (regime 0 is the nonnegative one), so no
# matching is needed.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), width_ratios=[2, 1])
steps = np.arange(len(y))
smoothed = fits["smoothed (smoothing=1)"]
axes[0].plot(steps, smoothed.regime_proba_[:, 0], color="0.6", lw=1, label="smoothed")
axes[0].plot(steps, markov.regime_proba_[:, 0], color="tab:blue", label="markov")
axes[0].plot(steps, regimes == 0, "k--", lw=1, label="truth")
axes[0].set_xlim(0, 200)
axes[0].set_xlabel("time step")
axes[0].set_ylabel("$p(\\mathrm{win\\text{-}stay})$ at $t$")
axes[0].legend(loc="lower right", fontsize=8)
lags = np.arange(1, N_LAGS + 1)
for k, color in ((0, "tab:blue"), (1, "tab:red")):
    axes[1].plot(lags, markov.coef_[k], "o-", color=color, label=f"markov, regime {k}")
    axes[1].plot(lags, smoothed.coef_[k], "x:", color=color, label=f"smoothed, {k}")
    axes[1].plot(lags, theta[k], "k--", lw=1)
axes[1].axhline(0, color="0.8", lw=0.8)
axes[1].set_xlabel("lag")
axes[1].set_ylabel(r"$\theta_k$")
axes[1].legend(fontsize=7)
fig.tight_layout()
plt.show()
