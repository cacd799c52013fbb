"""Tour cases of the matrix factorizations (``python -m skfactor``)."""

from .._tour import TourCase
from ..metrics import factor_match_score


def _sparse_nmf_data():
    from ..datasets import make_sparse_nmf

    X, W, H = make_sparse_nmf(60, 40, 4, sparsity=0.3, snr=40, random_state=0)
    return {"X": X, "W": W, "H": H}


def _sparse_nmf_estimator():
    from ._nmf import BalancedSparseNMF

    return BalancedSparseNMF(4, alpha_W=0.1, alpha_H=0.1, max_iter=300, random_state=0)


def _hyperspectral_image():
    from ..datasets import make_hyperspectral

    X, abundances, spectra = make_hyperspectral(32, 32, 64, 3, random_state=0)
    return {"X": X, "W": abundances, "H": spectra}


def _proximal_mf():
    from ._proximal_mf import ProximalMF

    # Melchior's combination: normalized nonnegative spectra, max-entropy
    # (hence positive) abundances
    return ProximalMF(
        3, prox_H="simplex", prox_W="max_entropy", alpha_W=1e-5, random_state=0
    )


def _factor_match(estimator, data):
    """Factor match score of (transform(X), components_) against the truth."""
    W = estimator.transform(data["X"])
    return factor_match_score([data["W"], data["H"].T], [W, estimator.components_.T])


TOUR_CASES = [
    TourCase(
        estimator="BalancedSparseNMF",
        description="60 x 40 Poisson counts, rank 4, 30% sparse factors",
        make_data=_sparse_nmf_data,
        make_estimator=_sparse_nmf_estimator,
        quality=_factor_match,
        quality_name="factor match score",
        min_quality=0.95,
    ),
    TourCase(
        estimator="ProximalMF",
        description="hyperspectral image 32x32 px, 64 bands, 3 materials",
        make_data=_hyperspectral_image,
        make_estimator=_proximal_mf,
        quality=_factor_match,
        quality_name="factor match score",
        min_quality=0.9,
    ),
]
