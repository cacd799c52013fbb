"""Synthetic data with ground truth, and loaders of real data sets.

Synthetic generators (``make_*``) return the data together with the true
parameters, so that estimators can be checked against what generated the
data. Real-data loaders (``load_*``) read a local directory, see
:func:`get_data_home`, and download the files from their official source
when they are absent.
"""

from ._base import fetch_file, get_data_home
from ._fm import make_fm_classification
from ._movielens import load_movielens_100k

__all__ = ["fetch_file", "get_data_home", "load_movielens_100k", "make_fm_classification"]
