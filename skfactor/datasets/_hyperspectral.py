"""Synthetic hyperspectral images with known endmembers and abundances."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_hyperspectral"]


def _bumps(grid, n_bumps, width_range, rng):
    """Sum of ``n_bumps`` Gaussian bumps with random centres, widths, heights."""
    centres = rng.uniform(0, 1, size=(n_bumps, grid.shape[-1]))
    widths = rng.uniform(*width_range, size=n_bumps)
    heights = rng.uniform(0.5, 1.0, size=n_bumps)
    out = np.zeros(grid.shape[:-1])
    for c, w, h in zip(centres, widths, heights):
        out += h * np.exp(-0.5 * np.sum((grid - c) ** 2, axis=-1) / w**2)
    return out


@validate_params(
    {
        "n_rows": [Interval(Integral, 1, None, closed="left")],
        "n_cols": [Interval(Integral, 1, None, closed="left")],
        "n_bands": [Interval(Integral, 2, None, closed="left")],
        "n_endmembers": [Interval(Integral, 1, None, closed="left")],
        "n_photons": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_hyperspectral(
    n_rows=32,
    n_cols=32,
    n_bands=64,
    n_endmembers=3,
    *,
    n_photons=1000.0,
    random_state=None,
):
    r"""Hyperspectral image made of a few materials (linear mixing model).

    Each pixel :math:`i` is a mixture of ``n_endmembers`` material spectra,

    .. math::

        X_{i:} \sim \frac{1}{N}\operatorname{Poisson}\Bigl(N \sum_j W_{ij}
            H_{j:}\Bigr),

    with abundances :math:`W_{i:}` on the simplex (fractions of the pixel
    covered by each material, spatially smooth blobs) and spectra
    :math:`H_{j:}` nonnegative and summing to one (smooth emission bumps over
    the bands), :math:`N` photons per pixel. This is the setting of the
    constrained matrix factorization of P. Melchior, *Proximal matrix
    factorization in pytorch* (blog post, 2018): nonnegative, normalized
    factors.

    Parameters
    ----------
    n_rows, n_cols : int, default=32
        Image size; there are ``n_rows * n_cols`` pixels (samples).
    n_bands : int, default=64
        Number of spectral bands (features).
    n_endmembers : int, default=3
        Number of materials.
    n_photons : float or None, default=1000.0
        Expected photon count per pixel; the noise is Poisson, so its
        relative level is about ``sqrt(n_bands / n_photons)`` per entry.
        ``None`` gives the noiseless image ``W @ H``.
    random_state : int, RandomState instance or None, default=None
        Seed of the random draws.

    Returns
    -------
    X : ndarray of shape (n_rows * n_cols, n_bands)
        The image, one row per pixel (row-major), nonnegative.
    abundances : ndarray of shape (n_rows * n_cols, n_endmembers)
        True :math:`W`; rows sum to one.
    spectra : ndarray of shape (n_endmembers, n_bands)
        True :math:`H`; rows sum to one.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.datasets import make_hyperspectral
    >>> X, W, H = make_hyperspectral(8, 8, 20, 3, random_state=0)
    >>> X.shape, W.shape, H.shape
    ((64, 20), (64, 3), (3, 20))
    >>> np.allclose(W.sum(axis=1), 1), np.allclose(H.sum(axis=1), 1)
    (True, True)
    """
    rng = check_random_state(random_state)
    wavelengths = np.linspace(0, 1, n_bands)[:, None]
    spectra = np.stack(
        [
            0.05 + _bumps(wavelengths, rng.randint(1, 4), (0.03, 0.12), rng)
            for _ in range(n_endmembers)
        ]
    )
    spectra /= spectra.sum(axis=1, keepdims=True)

    rows, cols = np.meshgrid(
        np.linspace(0, 1, n_rows), np.linspace(0, 1, n_cols), indexing="ij"
    )
    pixels = np.stack([rows.ravel(), cols.ravel()], axis=1)
    maps = np.stack(
        [
            0.02 + _bumps(pixels, rng.randint(1, 4), (0.08, 0.25), rng)
            for _ in range(n_endmembers)
        ],
        axis=1,
    )
    abundances = maps / maps.sum(axis=1, keepdims=True)

    X = abundances @ spectra
    if n_photons is not None:
        X = rng.poisson(n_photons * X) / n_photons
    return X, abundances, spectra
