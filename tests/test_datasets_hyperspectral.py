import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from skfactor.datasets import make_hyperspectral


def test_shapes_normalization_and_noise():
    X, W, H = make_hyperspectral(10, 12, 30, 4, n_photons=500, random_state=0)
    assert X.shape == (120, 30) and W.shape == (120, 4) and H.shape == (4, 30)
    np.testing.assert_allclose(W.sum(axis=1), 1.0)
    np.testing.assert_allclose(H.sum(axis=1), 1.0)
    assert np.all(W > 0) and np.all(H > 0) and np.all(X >= 0)
    clean = W @ H
    # Poisson counts: variance equal to the mean count
    z = (X - clean) * 500 / np.sqrt(clean * 500)
    assert abs(z.mean()) < 0.05 and 0.9 < z.std() < 1.1
    # every pixel's photons add up to about n_photons
    assert abs(X.sum(axis=1).mean() - 1) < 0.01


def test_noiseless_and_deterministic():
    X, W, H = make_hyperspectral(6, 6, 10, 2, n_photons=None, random_state=1)
    np.testing.assert_allclose(X, W @ H)
    X2, _, _ = make_hyperspectral(6, 6, 10, 2, n_photons=None, random_state=1)
    np.testing.assert_array_equal(X, X2)


def test_abundances_are_spatially_smooth():
    _, W, _ = make_hyperspectral(20, 20, 10, 3, random_state=0)
    maps = W.reshape(20, 20, 3)
    neighbour = np.abs(np.diff(maps, axis=0)).mean()
    shuffled = np.random.default_rng(0).permutation(W).reshape(20, 20, 3)
    assert neighbour < 0.3 * np.abs(np.diff(shuffled, axis=0)).mean()


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_rows=0), dict(n_bands=1), dict(n_photons=0.0), dict(n_endmembers=1.5)],
)
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        make_hyperspectral(**kwargs)
