"""Synthetic data with ground truth, and loaders of real data sets.

Synthetic generators (``make_*``) return the data together with the true
parameters, so that estimators can be checked against what generated the
data. Real-data loaders (``load_*``) read a local directory, see
:func:`get_data_home`, and download the files from their official source
when they are absent.
"""

from ._base import fetch_file, get_data_home
from ._cp import make_cp_tensor

__all__ = ["fetch_file", "get_data_home", "make_cp_tensor"]
