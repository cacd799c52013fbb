"""Tour row: ProxFMClassifier on data drawn from a known factorization machine."""

from .._tour import TourCase

__all__ = ["TOUR_CASES"]

_N_TRAIN = 6000


def _make_data():
    from ..datasets import make_fm_classification

    X, y, truth = make_fm_classification(
        n_samples=8000, n_fields=5, n_categories=12, random_state=0
    )
    return {
        "X": X[:_N_TRAIN],
        "y": y[:_N_TRAIN],
        "X_test": X[_N_TRAIN:],
        "y_test": y[_N_TRAIN:],
        "true_decision": truth.decision[_N_TRAIN:],
    }


def _make_estimator():
    from ._classes import ProxFMClassifier

    return ProxFMClassifier(n_components=3, random_state=0)


def _auc_ratio(estimator, data):
    """Held-out AUC of the fit divided by that of the true model."""
    from sklearn.metrics import roc_auc_score

    fitted = roc_auc_score(data["y_test"], estimator.decision_function(data["X_test"]))
    oracle = roc_auc_score(data["y_test"], data["true_decision"])
    return fitted / oracle


TOUR_CASES = [
    TourCase(
        estimator="ProxFMClassifier",
        description="6000 x 60 one-hot, 5 fields, rank 3",
        make_data=_make_data,
        make_estimator=_make_estimator,
        quality=_auc_ratio,
        quality_name="test AUC / true-model AUC",
        min_quality=0.97,
    )
]
