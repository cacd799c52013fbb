"""Reproduction of the ridge CPD showcase of Cohen and Leplat.

J. E. Cohen and V. Leplat, "Implicit regularization in regularized
(nonnegative) low-rank approximations" (2024).

30 x 30 x 30 tensors with factors uniform on [0, 1], true rank 4, SNR 40 dB,
nonnegative ridge CPD with fitted rank 6. For alpha in the documented range
[0.05, 2] (these tensors have ||T||_F of about 95, so this is alpha /
||T||_F^(4/3) in [1e-4, 5e-3]) the ridge removes the two surplus components
(``n_components_effective_ == 4``) and the factors match the truth (FMS
>= 0.99). Balancing reaches the same solutions (FMS 20%-quantile at least
that without balancing, up to 1e-3) in fewer outer iterations.

The CI part uses a few seeds and two values of alpha; the full sweep (10
seeds, the whole range) is marked slow: ``pytest -m slow tests/test_cpd_seed.py``.
"""

import warnings

import numpy as np
import pytest

from skfactor import RidgeCPD
from skfactor.datasets import make_cp_tensor
from skfactor.metrics import factor_match_score

ALPHA_RANGE = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


def _fit(seed, alpha, balance):
    X, truth = make_cp_tensor(
        (30, 30, 30), n_components=4, snr_db=40.0, random_state=seed
    )
    model = RidgeCPD(
        6, alpha=alpha, nonnegative=True, balance=balance, random_state=seed
    )
    with warnings.catch_warnings():
        # without balancing the default max_iter is sometimes not enough
        warnings.simplefilter("ignore")
        U = model.fit_transform(X)
    return model, factor_match_score(truth, [U, *model.components_])


def _check_reproduction(seeds, alphas):
    for alpha in alphas:
        results = {b: [_fit(s, alpha, b) for s in seeds] for b in ("every", "none")}
        for model, fms in results["every"]:
            assert model.n_components_effective_ == 4, alpha
            assert fms >= 0.99, alpha
            assert model.n_iter_ < model.max_iter  # converged
        q20 = {b: np.quantile([fms for _, fms in r], 0.2) for b, r in results.items()}
        assert q20["every"] >= q20["none"] - 1e-3, (alpha, q20)
        iterations = {
            b: np.median([m.n_iter_ for m, _ in r]) for b, r in results.items()
        }
        assert iterations["every"] < iterations["none"], (alpha, iterations)


def test_seed_reproduction_ci():
    _check_reproduction(seeds=range(3), alphas=(0.2, 1.0))


@pytest.mark.slow
def test_seed_reproduction_full_sweep():
    _check_reproduction(seeds=range(10), alphas=ALPHA_RANGE)


def test_without_ridge_the_surplus_components_survive():
    """The contrast that makes the ridge useful: alpha=0 keeps all 6."""
    model, fms = _fit(0, 0.0, "every")
    assert model.n_components_effective_ == 6
