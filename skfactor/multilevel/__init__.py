"""Factor models with multilevel low-rank (MLR) covariance.

- :class:`MultilevelFactorModel`: Gaussian factor model whose factors are
  attached to the groups of a hierarchical partition of the features, fitted
  by EM in time and memory linear in the number of features;
- :class:`MLRMatrix`: the structured covariance :math:`D + F F^T` and its
  inverse, log-determinant, solves and sampling.
"""

from ._factor_model import MultilevelFactorModel
from ._mlr import MLRMatrix

__all__ = ["MLRMatrix", "MultilevelFactorModel"]
