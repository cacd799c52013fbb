"""
===========================================================================
Input-output hidden Markov model with logistic emissions (Zhu et al., 2025)
===========================================================================

The second worked example of the poster behind
:class:`~skfactor.SwitchingClassifier`: a binary choice :math:`y(t)` depends on
a stimulus :math:`s(t)` through one of three logistic models,

.. math::

    P(y(t) = 1) = \\sigma(\\theta_{z(t)}^T x(t)), \\quad x(t) = (s(t), 1),
    \\quad \\theta = \\begin{pmatrix} -2 & 0 \\\\ 2 & 6 \\\\ 3 & -5
    \\end{pmatrix},

and the regime :math:`z(t)` follows a sticky Markov chain (stay
probabilities 0.9, 0.98 and 0.95). The fit keeps what Zhu et al. (2025)
prescribe, the sign of the stimulus weight of each regime as constraints
(regime 0 decreasing, the others increasing) and a group penalty :math:`0.5
\\sum_k \\|\\theta_k\\|_2`, under the hidden Markov model of the regimes
(``latent="markov"``, the default; a GLM-HMM fitted by EM) instead of their
KL smoothing. Everything is a few lines: the constraints are a callable
receiving the regime index and its cvxpy coefficient variable.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import expit

from skfactor import SwitchingClassifier
from skfactor.datasets import make_switching_classification
from skfactor.metrics import match_regimes, regime_accuracy

theta = np.array([[-2.0, 0.0], [2.0, 6.0], [3.0, -5.0]])
transitions = np.array([[0.9, 0.05, 0.05], [0.01, 0.98, 0.01], [0.025, 0.025, 0.95]])
stimulus, y, regimes, _ = make_switching_classification(
    n_samples=1000,
    n_features=1,
    n_regimes=3,
    transition_matrix=transitions,
    coef=theta[:, :1],
    intercept=theta[:, 1],
    feature_scale=2.0,
    random_state=0,
)
X = np.column_stack([stimulus, np.ones(len(y))])  # x(t) = (s(t), 1)


def signs(k, coef):
    """Regime 0 decreases with the stimulus, regimes 1 and 2 increase."""
    return [coef[0] <= 0] if k == 0 else [coef[0] >= 0]


model = SwitchingClassifier(
    n_regimes=3,
    loss="logistic",
    constraints=signs,
    penalty="group",
    alpha=0.5,
    fit_intercept=False,
    n_init=3,  # the likelihood has local optima: keep the best of 3 EM runs
    random_state=0,
).fit(X, y)

# Regimes are found up to a permutation: match them to the truth.
mapping = match_regimes(regimes, model.labels_)
order = np.array([p for p, _ in sorted(mapping.items(), key=lambda item: item[1])])
print(f"regime accuracy: {regime_accuracy(regimes, model.labels_):.3f}")
print("transition diagonal, true:     ", np.diag(transitions))
print(
    "transition diagonal, recovered:",
    np.round(np.diag(model.transition_matrix_[np.ix_(order, order)]), 3),
)

# %%
# Recovered decision curves
# -------------------------
# The probability of choosing 1 as a function of the stimulus, for each
# regime: recovered (solid) against the truth (dashed), as in Figure 2 of
# the poster.
s = np.linspace(-6, 6, 200)
grid = np.column_stack([s, np.ones_like(s)])
fig, ax = plt.subplots(figsize=(6, 4))
colors = ["tab:blue", "tab:orange", "tab:green"]
for k in range(3):
    ax.plot(
        s, expit(grid @ model.coef_[order[k]]), color=colors[k], label=f"regime {k}"
    )
    ax.plot(s, expit(grid @ theta[k]), "k--", lw=1)
ax.set_xlabel("stimulus $s$")
ax.set_ylabel("$P(y = 1)$")
ax.set_title("Decision curves: recovered (solid) and true (dashed)")
ax.legend()
fig.tight_layout()

# %%
# Regime probabilities over time
# ------------------------------
# The posterior regime probabilities (``regime_proba_``) on the first 400
# steps, with the true regime underneath: nearly one-hot inside a regime,
# switching at the true change points.
steps = slice(0, 400)
fig, axes = plt.subplots(2, 1, figsize=(8, 4), sharex=True, height_ratios=[3, 1])
t = np.arange(len(y))[steps]
for k in range(3):
    axes[0].plot(
        t, model.regime_proba_[steps, order[k]], color=colors[k], label=f"regime {k}"
    )
axes[0].set_ylabel("$p(s_t = k)$")
axes[0].set_ylim(-0.05, 1.4)
axes[0].legend(loc="upper center", ncols=3, frameon=False)
axes[1].scatter(t, regimes[steps], c=[colors[r] for r in regimes[steps]], s=4)
axes[1].set_yticks(range(3))
axes[1].set_ylabel("true")
axes[1].set_xlabel("time step")
fig.suptitle("Recovered regime probabilities")
fig.tight_layout()
plt.show()
