"""Synthetic tensors with a known CP structure."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ..tensor._tensor_algebra import cp_to_tensor
from ..utils.validation import check_shape

__all__ = ["make_cp_tensor"]


@validate_params(
    {
        "shape": ["array-like"],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "snr_db": [Interval(Real, None, None, closed="neither"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_cp_tensor(
    shape=(30, 30, 30), n_components=4, *, snr_db=40.0, random_state=None
):
    r"""Noisy low-rank CP tensor with factors uniform on [0, 1].

    The setting of the ridge CPD experiment of Cohen and Leplat (J. E. Cohen,
    *Implicit regularization in regularized (nonnegative) low-rank
    approximations*, 2024):
    every factor :math:`A_k \in \mathbb{R}^{I_k \times r}` has entries drawn
    independently and uniformly on [0, 1], and Gaussian noise is added at
    the requested signal-to-noise ratio,

    .. math::

        X = [\![A_0, \dots, A_{N-1}]\!] + E, \qquad
        10 \log_{10} \frac{\|[\![A_0, \dots, A_{N-1}]\!]\|_F^2}{\|E\|_F^2}
        = \mathrm{snr\_db},

    with :math:`E` a standard Gaussian array rescaled so that the ratio holds
    exactly (not only in expectation). The first axis is the sample mode of
    :class:`~skfactor.RidgeCPD`.

    Parameters
    ----------
    shape : sequence of int, default=(30, 30, 30)
        Shape :math:`(I_0, \dots, I_{N-1})` of the tensor, at least two modes.
    n_components : int, default=4
        Rank :math:`r` of the noiseless tensor.
    snr_db : float or None, default=40.0
        Signal-to-noise ratio in decibels; ``None`` for no noise.
    random_state : int, RandomState instance or None, default=None
        Seed of the factors and the noise.

    Returns
    -------
    X : ndarray of shape ``shape``
        The noisy tensor.
    factors : list of ndarray of shape (I_k, n_components)
        The true factors, one per mode.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.datasets import make_cp_tensor
    >>> X, factors = make_cp_tensor((5, 4, 3), n_components=2, snr_db=20,
    ...                             random_state=0)
    >>> X.shape, [f.shape for f in factors]
    ((5, 4, 3), [(5, 2), (4, 2), (3, 2)])
    """
    shape = check_shape(shape, "shape", min_length=2)
    rng = check_random_state(random_state)
    factors = [rng.uniform(size=(size, n_components)) for size in shape]
    X = cp_to_tensor(factors)
    if snr_db is not None:
        noise = rng.standard_normal(shape)
        noise *= np.linalg.norm(X) / (np.linalg.norm(noise) * 10.0 ** (snr_db / 20.0))
        X += noise
    return X, factors
