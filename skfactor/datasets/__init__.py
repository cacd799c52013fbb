"""Synthetic data with ground truth, and loaders of real data sets.

Synthetic generators (``make_*``) return the data together with the true
parameters, so that estimators can be checked against what generated the
data. Real-data loaders (``load_*``) read a local directory, see
:func:`get_data_home`, and download the files from their official source
when they are absent.
"""

from ._base import fetch_file, get_data_home
from ._cp import make_cp_tensor
from ._fm import make_fm_classification
from ._hyperspectral import make_hyperspectral
from ._movielens import load_movielens_100k
from ._multilevel import make_multilevel_factor
from ._nmf import make_sparse_nmf
from ._switching import (
    make_forgetting_bandit,
    make_switching_classification,
    make_switching_regression,
)

__all__ = [
    "fetch_file",
    "get_data_home",
    "load_movielens_100k",
    "make_cp_tensor",
    "make_fm_classification",
    "make_forgetting_bandit",
    "make_hyperspectral",
    "make_multilevel_factor",
    "make_sparse_nmf",
    "make_switching_classification",
    "make_switching_regression",
]
