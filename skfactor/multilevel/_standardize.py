r"""Standardization of the data of the multilevel factor model.

The model is fitted to :math:`y_i = (x_i - \mu_i) / \sigma_i`, feature by
feature, on the fit's own copy of the data, transposed (features x samples)
and in the hierarchy's canonical order (:mod:`._factor_model`).
"""

import numpy as np

from ..utils._scaling import row_scale_exponents

__all__ = ["standardize"]


def standardize(Yt):
    """Center and scale the rows of ``Yt`` (features x samples) in place.

    Works on rows divided by a power of two near their largest magnitude
    first (:func:`skfactor.utils._scaling.row_scale_exponents`), so that neither
    the mean nor the variance overflows for entries near the float64 limit.

    Returns
    -------
    mean, std : ndarray of shape (n_features,)
        In the units of the input; ``std`` is 0 for constant rows.
    """
    # exact power-of-two row scaling (the package's overflow policy)
    # (ldexp of the data, not a division by 2**e, which overflows near 1e308)
    # (largest magnitude from the row extremes: no temporary of the data's size)
    exponents = row_scale_exponents(np.maximum(Yt.max(axis=1), -Yt.min(axis=1)))
    np.ldexp(Yt, -exponents[:, None], out=Yt)
    mean = Yt.mean(axis=1)
    Yt -= mean[:, None]
    std = np.sqrt(np.einsum("ij,ij->i", Yt, Yt) / Yt.shape[1])
    Yt /= np.where(std > 0, std, 1.0)[:, None]
    return np.ldexp(mean, exponents), np.ldexp(std, exponents)
