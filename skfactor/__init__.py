"""skfactor: scikit-learn compatible latent-factor and low-rank estimators.

The estimators live in one subpackage per model family and are re-exported
here:

- :mod:`skfactor.switching`: discrete latent factor models (switching
  regression and classification) fitted by block coordinate descent;
- :mod:`skfactor.fm`: factorization machines trained by stochastic proximal
  point steps;
- :mod:`skfactor.decomposition`: regularized and constrained matrix
  factorizations;
- :mod:`skfactor.tensor`: regularized tensor decompositions;
- :mod:`skfactor.multilevel`: factor models with multilevel low-rank
  covariance.

Shared mathematics has exactly one home: :mod:`skfactor.prox` (proximal
operators), :mod:`skfactor._balance` (optimal rescaling of rank-one
components) and :mod:`skfactor.metrics` (comparison with ground truth).
"""

__version__ = "0.1.0.dev0"

from . import decomposition, fm, multilevel, switching, tensor
from .decomposition import *  # noqa: F401,F403
from .fm import *  # noqa: F401,F403
from .multilevel import *  # noqa: F401,F403
from .switching import *  # noqa: F401,F403
from .tensor import *  # noqa: F401,F403

__all__ = sorted(
    [
        *decomposition.__all__,
        *fm.__all__,
        *multilevel.__all__,
        *switching.__all__,
        *tensor.__all__,
    ]
)
