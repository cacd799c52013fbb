"""Initial factors of CP and Tucker decompositions."""

import numpy as np

from ..decomposition._init import nndsvda_init
from ..utils._linalg import gram_svd, truncated_svd
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


def _leading_triplets(matrix, k, rng):
    """The leading ``k`` singular triplets of an unfolding: from its small Gram
    matrix when that is accurate (:func:`~skfactor.utils._linalg.gram_svd`,
    several times faster than the SVD at the unfoldings of NTD), from
    :func:`~skfactor.utils._linalg.truncated_svd` (seeded by ``rng``)
    otherwise."""
    return gram_svd(matrix, k) or truncated_svd(matrix, k, random_state=rng)


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
    r"""Initial nonnegative core and factors of a Tucker model.

    ``"random"``: every block uniform on [0, 1). ``"svd"``: every factor the
    NNDSVDa left factor of its mode's unfolding
    (:func:`~skfactor.decomposition._init.nndsvda_init`, as tensorly
    initializes its nonnegative Tucker solvers; the singular vectors from
    the Gram matrix of the unfolding when accurate: :func:`_leading_triplets`),
    scaled to a largest column norm of 1, and the core
    :math:`T \times_k U_k^\top`, nonnegative with them. The solver then
    rescales them to the data. From the absolute values of the singular
    vectors, used before, HALS reached tensorly's objective on 11 of 25
    draws of ``benchmarks/bench_ntd.py``'s shapes, from this start on 23
    (see the NTD user guide).

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
    factors = []
    for mode, rank in enumerate(ranks):
        U = nndsvda_init(unfold(tensor, mode), rank, rng, svd=_leading_triplets)[0]
        # one scale per factor (its largest column norm 1), so that the core
        # has the scale of the data (with the sqrt(sigma) of NNDSVD in every
        # factor it overflows for data near 1e150); the solver's scalar
        # rescaling undoes it, where scaling each column would change the
        # start
        norm = np.linalg.norm(U, axis=0).max()
        factors.append(U / norm if norm > 0 else U)
    return multi_mode_dot(tensor, factors, transpose=True), factors
