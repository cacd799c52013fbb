"""Tour row of the tensor family (``python -m skfactor``)."""

from .._tour import TourCase


def _make_data():
    from ..datasets import make_cp_tensor

    X, factors = make_cp_tensor(
        (30, 30, 30), n_components=4, snr_db=40.0, random_state=0
    )
    return {"X": X, "factors": factors}


def _make_estimator():
    from ._cpd import RidgeCPD

    return RidgeCPD(n_components=6, alpha=0.5, nonnegative=True, random_state=0)


def _quality(model, data):
    from ..metrics import factor_match_score

    if model.n_components_effective_ != 4:
        return 0.0  # the point of the ridge: the surplus components must vanish
    U = model.transform(data["X"])
    return factor_match_score(data["factors"], [U, *model.components_])


def _make_song():
    from ._synthetic import make_song_spectrogram

    X, truth = make_song_spectrogram("ABACAB", bars_per_section=2, random_state=0)
    return {"X": X, "Q": truth["Q"]}


def _make_ntd():
    from ._ntd import SparseNTD

    return SparseNTD(
        n_components=(3, 4, 3), alpha=0.5, max_iter=100, tol=0, random_state=0
    )


def _arrangement_fms(model, data):
    from ..metrics import factor_match_score

    return factor_match_score([data["Q"]], [model.transform(data["X"])])


TOUR_CASES = [
    TourCase(
        estimator="RidgeCPD",
        description="30x30x30 CP, rank 4 fitted with 6, SNR 40 dB, nonnegative",
        make_data=_make_data,
        make_estimator=_make_estimator,
        quality=_quality,
        quality_name="FMS (0 unless effective rank is 4)",
        min_quality=0.99,
    ),
    TourCase(
        estimator="SparseNTD",
        description="12x48x16 Poisson song spectrogram ABACAB, KL, bar factor",
        make_data=_make_song,
        make_estimator=_make_ntd,
        quality=_arrangement_fms,
        quality_name="FMS of the arrangement",
        min_quality=0.95,
    ),
]
