"""Input handling shared by the tensor estimators.

Samples enter as a 2-D array whose rows are folded into ``tensor_shape``
(C order), or as an N-D array ``(n_samples, I_1, ..., I_{N-1})``; extreme
magnitudes are brought near one by an exact power of two.
"""

import numpy as np
from sklearn.utils.validation import check_array, validate_data

from ..utils import _scaling
from ..utils.validation import check_shape

__all__ = ["TensorInputMixin", "sample_ndim", "scale_exponent"]

# Data whose largest entry lies in [2^-32, 2^32] is not rescaled (so the
# verbose output shows the objective in the units of the data).
_MAX_UNSCALED_EXPONENT = 32


def scale_exponent(max_abs, n_modes):
    """``k`` such that data / 2^(N k) has entries of order one, 0 if moderate.

    The package's overflow policy (:func:`skfactor.utils._scaling.scale_exponent`)
    with an exponent shared by the N factors, each taking :math:`2^k`.

    >>> scale_exponent(1e300, 3), scale_exponent(5.0, 3)
    (332, 0)
    """
    exponent = _scaling.scale_exponent(
        max_abs, multiple=n_modes, unscaled_range=_MAX_UNSCALED_EXPONENT
    )
    return exponent // n_modes


def sample_ndim(X):
    """Number of axes of array-like X without converting it (0 if unknown)."""
    shape = getattr(X, "shape", None)
    if shape is not None:
        return len(shape)
    if isinstance(X, (list, tuple)):
        try:
            return np.ndim(X)
        except ValueError:  # ragged nested sequences: check_array reports it
            return 0
    return 0


class TensorInputMixin:
    """``tensor_shape`` validation and folding of samples into tensors."""

    def _checked_tensor_shape(self):
        if self.tensor_shape is None:
            return None
        return check_shape(self.tensor_shape, "tensor_shape")

    def _validate_tensor(self, X, reset):
        """Validate X and return it as a float array (n_samples, *tensor_shape_)."""
        name = type(self).__name__
        if sample_ndim(X) >= 3:
            X = check_array(
                X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X"
            )
            if X.size == 0:
                raise ValueError(f"X of shape {X.shape} is empty; {name} needs data.")
            sample_shape = tuple(X.shape[1:])
            if reset:
                requested = self._checked_tensor_shape()
                if requested is not None and requested != sample_shape:
                    raise ValueError(
                        f"X has samples of shape {sample_shape} but tensor_shape="
                        f"{requested}; pass tensor_shape=None for an N-D X, or a "
                        "2-D X whose rows tensor_shape folds."
                    )
                self.tensor_shape_ = sample_shape
                self.n_features_in_ = int(np.prod(sample_shape))
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            elif sample_shape != self.tensor_shape_:
                raise ValueError(
                    f"X has samples of shape {sample_shape}, but {name} was fitted "
                    f"on samples of shape {self.tensor_shape_}."
                )
            return X
        requested = self._checked_tensor_shape() if reset else None
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if reset:
            n_features = X.shape[1]
            if requested is None:
                self.tensor_shape_ = (n_features,)
            elif int(np.prod(requested)) != n_features:
                raise ValueError(
                    f"X has {n_features} features per sample but tensor_shape="
                    f"{requested} holds {int(np.prod(requested))} entries; their "
                    "sizes must match."
                )
            else:
                self.tensor_shape_ = requested
        return X.reshape(X.shape[0], *self.tensor_shape_)
