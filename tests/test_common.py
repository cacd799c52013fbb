"""scikit-learn's estimator checks over every public skfactor estimator.

Estimators are found by :func:`skfactor.utils.discovery.all_estimators`, so a
new estimator is checked the moment its module exists. Two dicts hold what is
estimator-specific; keep them sorted and give every expected failure a reason.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfactor.utils.discovery import all_estimators

# Constructor arguments for the checks, only where the defaults are too slow
# for the many small fits the checks run (never to dodge a failure).
CHECK_PARAMS = {
    # four restarts of 500 multiplicative updates, which the checks' noise
    # never stops early: a second per fit, and the checks fit hundreds
    "SparseNTD": {"max_iter": 100},
}

# {estimator name: {check name: reason}}: the checks each estimator is known
# to fail, and why. This is the only place where failures may be expected.
_ONLINE_WEIGHTS = (
    "a sample of weight w takes one proximal step w times larger, which is not "
    "the same as w steps on w copies of the sample in a random visiting order"
)
EXPECTED_FAILED_CHECKS = {
    "ProxFMClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _ONLINE_WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": _ONLINE_WEIGHTS,
    },
}

ESTIMATORS = all_estimators()


def _instances():
    for name, Estimator in ESTIMATORS:
        yield Estimator(**CHECK_PARAMS.get(name, {}))


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(
    list(_instances()), expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible_estimator(estimator, check):
    # The checks fit default estimators on small random noise, where an
    # iterative solver with the default tolerance may stop at max_iter; that
    # is the documented behaviour the checks do not test (scikit-learn's own
    # test_common ignores ConvergenceWarning the same way). Other warnings
    # still reach the summary.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # and a switching model with more regimes than the noise supports
        # says so, which the checks' random data provokes on purpose
        warnings.filterwarnings("ignore", ".*regime.*n_regimes may be too large")
        check(estimator)


def test_dicts_name_existing_estimators():
    names = {name for name, _ in ESTIMATORS}
    for table in (CHECK_PARAMS, EXPECTED_FAILED_CHECKS):
        assert set(table) <= names, set(table) - names
    for name, failures in EXPECTED_FAILED_CHECKS.items():
        for check, reason in failures.items():
            assert check.startswith("check_") and len(reason) > 20, (name, check)


@pytest.mark.parametrize("name, Estimator", ESTIMATORS)
def test_docstring_sections(name, Estimator):
    """Every estimator documents its objective, parameters and an example."""
    doc = Estimator.__doc__ or ""
    for section in ("Parameters\n", "Attributes\n", "Examples\n", ".. math::"):
        assert section in doc, f"{name} docstring lacks {section.strip()!r}"


@pytest.mark.parametrize("name, Estimator", ESTIMATORS)
def test_parameter_constraints_cover_init(name, Estimator):
    """Every constructor parameter is validated through _parameter_constraints."""
    params = set(Estimator().get_params(deep=False))
    assert params == set(getattr(Estimator, "_parameter_constraints", {})), name


@pytest.mark.parametrize("name, Estimator", ESTIMATORS)
def test_exported_at_top_level(name, Estimator):
    import skfactor

    assert name in skfactor.__all__
    assert getattr(skfactor, name) is Estimator


def test_all_estimators_type_filter():
    every = {name for name, _ in all_estimators()}
    for kind in ("classifier", "regressor", "transformer", "cluster"):
        assert {n for n, _ in all_estimators(kind)} <= every
    with pytest.raises(ValueError, match="type_filter"):
        all_estimators("forest")
    assert np.all([isinstance(n, str) for n in every])
