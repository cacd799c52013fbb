"""Same random_state, same result: across repeated fits and n_jobs values.

Also: transformers keep float32 input in float32.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from _cases import ESTIMATORS, fit, kind, make_estimator, outputs, valid_data
from sklearn.exceptions import ConvergenceWarning

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


def _fitted_attributes(estimator):
    attributes = {}
    for key, value in vars(estimator).items():
        if key.endswith("_") and not key.startswith("_"):
            attributes[key] = value
    return attributes


def _assert_identical(a, b, where):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_identical(x, y, f"{where}[{i}]")
    elif sp.issparse(a):
        _assert_identical(a.toarray(), b.toarray(), where)
    elif isinstance(a, np.ndarray) or np.isscalar(a):
        np.testing.assert_array_equal(a, b, err_msg=where, strict=True)
    elif hasattr(a, "__dict__") and not callable(a):
        _assert_identical(vars(a), vars(b), where)


@pytest.mark.parametrize("name, Estimator", ESTIMATORS)
def test_same_random_state_gives_bit_identical_fits(name, Estimator):
    X, y = valid_data(Estimator, n_samples=40, n_features=5)
    first = fit(make_estimator(Estimator), X, y)
    second = fit(make_estimator(Estimator), X, y)
    _assert_identical(_fitted_attributes(first), _fitted_attributes(second), name)
    _assert_identical(outputs(first, X), outputs(second, X), name)


N_JOBS = [(name, E) for name, E in ESTIMATORS if "n_jobs" in E().get_params()]


@pytest.mark.parametrize("name, Estimator", N_JOBS)
@pytest.mark.parametrize("n_jobs", [2, -1])
def test_results_do_not_depend_on_n_jobs(name, Estimator, n_jobs):
    X, y = valid_data(Estimator, n_samples=40, n_features=5)
    serial = fit(make_estimator(Estimator, n_jobs=1), X, y)
    parallel = fit(make_estimator(Estimator, n_jobs=n_jobs), X, y)
    attributes = _fitted_attributes(parallel)
    attributes.pop("n_jobs_", None)
    _assert_identical(_fitted_attributes(serial), attributes, name)


TRANSFORMERS = [(name, E) for name, E in ESTIMATORS if kind(E) == "transformer"]


@pytest.mark.parametrize("name, Estimator", TRANSFORMERS)
def test_float32_in_float32_out(name, Estimator):
    X, y = valid_data(Estimator, n_samples=40, n_features=5)
    estimator = fit(make_estimator(Estimator), X.astype(np.float32), y)
    Xt = estimator.transform(X.astype(np.float32))
    assert Xt.dtype == np.float32, name
    if hasattr(estimator, "inverse_transform"):
        assert estimator.inverse_transform(Xt).dtype == np.float32, name
    assert estimator.fit_transform(X.astype(np.float32)).dtype == np.float32, name
