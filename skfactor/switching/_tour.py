"""Tour rows of the switching estimators (``python -m skfactor``)."""

from .._tour import TourCase
from ..datasets import make_switching_classification, make_switching_regression
from ..metrics import regime_accuracy


def _regression_data():
    X, y, regimes, _ = make_switching_regression(
        n_samples=500, n_features=10, n_regimes=3, noise=1.5, random_state=0
    )
    return {"X": X, "y": y, "regimes": regimes}


def _classification_data():
    X, y, regimes, _ = make_switching_classification(
        n_samples=1000,
        n_features=2,
        n_regimes=3,
        transition_matrix=0.97,
        random_state=0,
    )
    return {"X": X, "y": y, "regimes": regimes}


def _regime_accuracy(model, data):
    return regime_accuracy(data["regimes"], model.labels_)


def _regression():
    from . import SwitchingRegression

    # i.i.d. regimes, no time order: the mixture
    return SwitchingRegression(n_regimes=3, latent="independent", random_state=0)


def _classifier():
    from . import SwitchingClassifier

    return SwitchingClassifier(n_regimes=3, loss="logistic", n_init=2, random_state=0)


TOUR_CASES = [
    TourCase(
        estimator="SwitchingRegression",
        description="mixture of 3 regressions, 500 x 10, noise 1.5 (Zhu et al., 2025)",
        make_data=_regression_data,
        make_estimator=_regression,
        quality=_regime_accuracy,
        quality_name="regime accuracy",
        min_quality=0.93,
    ),
    TourCase(
        estimator="SwitchingClassifier",
        description="GLM-HMM, logistic emissions, 1000 x 2, 3 sticky regimes",
        make_data=_classification_data,
        make_estimator=_classifier,
        quality=_regime_accuracy,
        quality_name="regime accuracy",
        min_quality=0.85,
    ),
]
