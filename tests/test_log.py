"""The vectorizable logarithm of skfactor.utils._log against math.log."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from skfactor.utils._log import exact_weighted_log_sum, log, weighted_log_sum

TINY = np.finfo(np.float64).tiny


@njit(error_model="numpy")
def _logs(values):
    out = np.empty_like(values)
    for p in range(values.size):
        out[p] = log(values[p])
    return out


def _ulps(values):
    expected = np.log(values)
    return np.abs(_logs(values) - expected) / np.spacing(np.abs(expected) + TINY)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=TINY, max_value=np.finfo(np.float64).max))
def test_log_is_within_two_ulps_of_math_log(value):
    assert _ulps(np.array([value]))[0] <= 2


def test_log_on_every_binade_and_the_reduction_boundaries():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            np.exp(rng.uniform(-707, 709, 100_000)),
            rng.uniform(0.5, 2.0, 100_000),  # around the sqrt(2) switch
            [1.0, 2.0, 0.5, TINY, np.finfo(np.float64).max],
            np.nextafter(np.sqrt(2.0), [0.0, 3.0]),
        ]
    )
    assert _ulps(values).max() <= 2
    assert _logs(np.array([1.0]))[0] == 0.0  # exact: log 1 terms vanish


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_weighted_log_sum_matches_numpy(size):
    rng = np.random.default_rng(size)
    weights, values = rng.uniform(0, 5, size), rng.uniform(1e-3, 1e3, size)
    weights[::3] = 0.0
    expected = float(weights @ np.log(values))
    np.testing.assert_allclose(weighted_log_sum(weights, values), expected, rtol=1e-13)


@pytest.mark.parametrize(
    "bad, expected",
    [(0.0, -np.inf), (np.inf, np.inf), (-1.0, np.nan), (np.nan, np.nan)],
)
def test_values_outside_the_fast_path_give_math_log(bad, expected):
    weights, values = np.ones(9), np.linspace(0.5, 4, 9)
    values[4] = bad
    total = weighted_log_sum(weights, values)
    np.testing.assert_equal(total, expected)
    # a subnormal is finite: the exact sum, not the bit-split one
    values[4] = TINY / 8
    exact = sum(math.log(v) for v in values)
    np.testing.assert_allclose(weighted_log_sum(weights, values), exact, rtol=1e-14)
    # a bad value of zero weight does not count
    weights[4] = 0.0
    values[4] = bad
    exact = sum(math.log(v) for i, v in enumerate(values) if i != 4)
    np.testing.assert_allclose(weighted_log_sum(weights, values), exact, rtol=1e-14)
    np.testing.assert_allclose(
        exact_weighted_log_sum(weights, values), exact, rtol=1e-14
    )
