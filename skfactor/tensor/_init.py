"""Initial factors of CP and Tucker decompositions."""

import numpy as np

from ..utils._linalg import truncated_svd
from ._als import ridge_least_squares
from ._tensor_algebra import (
    gram_hadamard,
    mttkrp,
    multi_mode_dot,
    unfold,
)

__all__ = ["initialize_cp", "initialize_tucker"]


def _svd_factor(tensor, mode, rank, rng, nonnegative):
    """HOSVD factor of one mode; random columns beyond the size of the mode."""
    matrix = unfold(tensor, mode)
    U = truncated_svd(matrix, min(rank, *matrix.shape), rng)[0]
    k = U.shape[1]
    factor = np.empty((tensor.shape[mode], rank))
    factor[:, :k] = np.abs(U) if nonnegative else U
    factor[:, k:] = rng.uniform(size=(tensor.shape[mode], rank - k))
    return factor


def initialize_cp(tensor, rank, init, nonnegative, rng):
    """Initial factors for the ridge CP solvers.

    ``"random"``: every factor uniform on [0, 1) (as in Cohen and Leplat's
    experiments). ``"svd"``: modes 1..N-1 from the leading singular vectors
    of their unfoldings (absolute values when ``nonnegative``), and the
    sample mode 0, which may be large, by least squares given the others
    (with ``nonnegative``, each component fitted alone and clipped at
    zero). In both cases all factors are then multiplied by the common
    scalar that best fits the data in least squares, so that the initial
    model has the scale of the data. No ridge is involved, so rescaling the
    data rescales the initial factors and nothing else.

    Parameters
    ----------
    tensor : ndarray of shape (I_0, ..., I_{N-1})
    rank : int
    init : {"random", "svd"}
    nonnegative : bool
    rng : numpy.random.RandomState

    Returns
    -------
    factors : list of N ndarray of shape (I_k, rank)
    """
    shape = tensor.shape
    n_modes = len(shape)
    if init == "random":
        factors = [rng.uniform(size=(size, rank)) for size in shape]
    else:
        factors = [np.zeros((shape[0], rank))] + [
            _svd_factor(tensor, mode, rank, rng, nonnegative)
            for mode in range(1, n_modes)
        ]
        normal = gram_hadamard([f.T @ f for f in factors], skip=0)
        rhs = mttkrp(tensor, factors, 0)
        if nonnegative:
            # Every component fitted alone (one Jacobi step from zero): the
            # absolute singular vectors are correlated, and a joint least
            # squares fit would let components cancel and be clipped away
            # before the ridge iterations start.
            diag = np.diag(normal)
            factors[0] = np.maximum(rhs / np.where(diag > 0, diag, 1.0), 0.0)
        else:
            factors[0] = ridge_least_squares(rhs, normal, 0.0)
    grams = [f.T @ f for f in factors]
    model_sq_norm = gram_hadamard(grams).sum()
    inner = float((mttkrp(tensor, factors, n_modes - 1) * factors[-1]).sum())
    if model_sq_norm > 0 and inner > 0:
        scale = (inner / model_sq_norm) ** (1.0 / n_modes)
        factors = [scale * f for f in factors]
    return factors


def initialize_tucker(tensor, ranks, init, rng):
    """Initial nonnegative core and factors of a Tucker model.

    ``"random"``: every block uniform on [0, 1). ``"svd"``: the absolute
    values of the leading singular vectors of every unfolding (random
    columns beyond a mode's size, as for :func:`initialize_cp`) and the
    core :math:`|T \\times_k U_k^T|`, the nonnegative part of the HOSVD. The
    solver then rescales them to the data.

    Parameters
    ----------
    tensor : ndarray of shape (I_0, ..., I_{N-1})
    ranks : sequence of N int
    init : {"random", "svd"}
    rng : numpy.random.RandomState

    Returns
    -------
    core : ndarray of shape ranks
    factors : list of N ndarray of shape (I_k, r_k)
    """
    if init == "random":
        factors = [rng.uniform(size=(size, r)) for size, r in zip(tensor.shape, ranks)]
        return rng.uniform(size=tuple(ranks)), factors
    factors = [
        _svd_factor(tensor, mode, rank, rng, nonnegative=True)
        for mode, rank in enumerate(ranks)
    ]
    core = np.abs(multi_mode_dot(tensor, factors, transpose=True))
    return core, factors
