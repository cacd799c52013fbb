"""Shared surface of the matrix factorization transformers X ~ W H."""

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_array, check_is_fitted


class _BaseMatrixFactorization(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Base class of transformers fitting X ~ W H.

    Subclasses implement ``fit_transform`` (returning W and setting
    ``components_`` = H of shape (n_components, n_features)) and
    ``transform``. This base provides ``fit``, ``inverse_transform``, feature
    names out (``<classname>0``, ``<classname>1``, ...) and the tags.
    """

    def fit(self, X, y=None, **params):
        """Learn the factorization of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        **params : dict
            Passed to ``fit_transform``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self.fit_transform(X, **params)
        return self

    def inverse_transform(self, X):
        """Map factor activations back to the data space: ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Activations W, e.g. the output of ``transform``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Low-rank reconstruction.
        """
        check_is_fitted(self)
        W = check_array(X, dtype=[np.float64, np.float32])
        n_components = self.components_.shape[0]
        if W.shape[1] != n_components:
            raise ValueError(
                f"X has {W.shape[1]} columns but {type(self).__name__} has "
                f"{n_components} components."
            )
        return W @ self.components_.astype(W.dtype, copy=False)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
