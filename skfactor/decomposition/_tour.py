"""Tour cases of the matrix factorizations (``python -m skfactor``)."""

from .._tour import TourCase
from ..datasets import make_hyperspectral
from ..metrics import factor_match_score


def _hyperspectral_image():
    X, abundances, spectra = make_hyperspectral(32, 32, 64, 3, random_state=0)
    return {"X": X, "W": abundances, "H": spectra}


def _proximal_mf():
    from ._proximal_mf import ProximalMF

    # the seed's combination: normalized nonnegative spectra, max-entropy
    # (hence positive) abundances
    return ProximalMF(
        3, prox_H="simplex", prox_W="max_entropy", alpha_W=1e-5, random_state=0
    )


def _endmember_match(model, data):
    W = model.transform(data["X"])
    return factor_match_score([data["W"], data["H"].T], [W, model.components_.T])


TOUR_CASES = [
    TourCase(
        estimator="ProximalMF",
        description="hyperspectral image 32x32 px, 64 bands, 3 materials",
        make_data=_hyperspectral_image,
        make_estimator=_proximal_mf,
        quality=_endmember_match,
        quality_name="factor match score",
        min_quality=0.9,
    ),
]
