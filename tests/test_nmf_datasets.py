import numpy as np
import pytest

from skfactor.datasets import make_sparse_nmf


def test_shapes_sparsity_and_truth():
    X, W, H = make_sparse_nmf(50, 40, 5, sparsity=0.3, random_state=0)
    assert X.shape == (50, 40) and W.shape == (50, 5) and H.shape == (5, 40)
    # exactly floor(0.3 * rows) zeros in every column of W and row of H
    np.testing.assert_array_equal((W == 0).sum(axis=0), 15)
    np.testing.assert_array_equal((H == 0).sum(axis=1), 12)
    assert np.all(W >= 0) and np.all(H >= 0) and np.all(X >= 0)
    np.testing.assert_array_equal(X, np.round(X))  # Poisson counts


def test_poisson_mean_and_snr():
    """E[X] = W @ H, and the empirical SNR is the requested one."""
    snr = 30.0
    X, W, H = make_sparse_nmf(300, 300, 4, snr=snr, random_state=1)
    M = W @ H
    assert X.mean() == pytest.approx(M.mean(), rel=1e-2)
    empirical = 10 * np.log10(np.sum(M**2) / np.sum((X - M) ** 2))
    assert empirical == pytest.approx(snr, abs=0.2)


def test_noiseless_and_reproducible():
    X, W, H = make_sparse_nmf(random_state=2, snr=None)
    np.testing.assert_allclose(X, W @ H)
    X2, W2, H2 = make_sparse_nmf(random_state=2, snr=None)
    np.testing.assert_array_equal(X, X2)


def test_every_column_keeps_a_nonzero():
    _, W, H = make_sparse_nmf(3, 4, 2, sparsity=0.99, random_state=0)
    assert np.all((W > 0).sum(axis=0) == 1) and np.all((H > 0).sum(axis=1) == 1)


@pytest.mark.parametrize(
    "kwargs",
    [dict(sparsity=1.0), dict(sparsity=-0.1), dict(n_components=0), dict(snr="high")],
)
def test_invalid_parameters(kwargs):
    with pytest.raises(ValueError):
        make_sparse_nmf(**kwargs)
