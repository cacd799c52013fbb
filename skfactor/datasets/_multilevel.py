"""Synthetic data of a multilevel factor model with a random hierarchy."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ..multilevel._hierarchy import check_ranks
from ..multilevel._mlr import MLRMatrix

__all__ = ["make_multilevel_factor"]


def _random_hierarchy(n_features, branching, rng):
    """Nested partition: every group of a level splits into ``branching[l]`` parts.

    Part sizes follow Dirichlet(4) proportions of the parent, each part has at
    least one feature; a parent with fewer features than parts splits into as
    many parts as it has features.
    """
    labels = np.zeros(n_features, dtype=np.intp)
    hierarchy = [labels]
    for parts in branching:
        new = np.empty_like(labels)
        n_groups = 0
        start = 0
        for size in np.bincount(labels):
            k = min(parts, size)
            proportions = rng.dirichlet(np.full(k, 4.0))
            sizes = 1 + np.floor(proportions * (size - k)).astype(int)
            remainder = size - sizes.sum()
            sizes[np.argsort(-proportions)[:remainder]] += 1
            new[start : start + size] = n_groups + np.repeat(np.arange(k), sizes)
            n_groups += k
            start += size
        labels = new
        hierarchy.append(labels)
    return hierarchy


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "ranks": ["array-like"],
        "branching": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "snr": [Interval(Real, 0, None, closed="neither")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_multilevel_factor(
    n_samples=500,
    n_features=64,
    ranks=(4, 2, 1),
    branching=2,
    snr=4.0,
    shuffle=True,
    random_state=None,
):
    r"""Sample a multilevel factor model with a random hierarchy.

    The features are partitioned hierarchically: level 0 is one group and
    every group of level :math:`l - 1` is split into ``branching`` groups of
    random sizes (Dirichlet proportions) at level :math:`l`. Each group
    :math:`a` of level :math:`l` has a factor block
    :math:`F_a \in \mathbb{R}^{n_a \times r_l}` with standard normal entries,
    and the noise variance of feature :math:`i` is
    :math:`d_i = \|f_i\|^2 / \mathrm{snr}`, :math:`f_i` all the loadings of
    the feature, so every feature has signal-to-noise ratio ``snr``. The
    samples are

    .. math::

        x = F z + e, \qquad z \sim \mathcal{N}(0, I), \quad
        e \sim \mathcal{N}(0, \operatorname{diag}(d)),

    with covariance :math:`F F^T + \operatorname{diag}(d)`, a multilevel
    low-rank matrix.

    Parameters
    ----------
    n_samples : int, default=500
        Number of samples.
    n_features : int, default=64
        Number of features.
    ranks : array-like of int, default=(4, 2, 1)
        Rank of the blocks of every level, coarsest first; the number of
        levels is ``len(ranks)``.
    branching : int or array-like of int, default=2
        Number of children of every group, for all levels or one value per
        level below the top (``len(ranks) - 1`` values).
    snr : float, default=4.0
        Signal-to-noise variance ratio of every feature.
    shuffle : bool, default=True
        Randomly permute the features, so that groups are not contiguous.
    random_state : int, RandomState instance or None, default=None
        Seed of the hierarchy, the factors and the samples.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The samples.
    truth : :class:`~sklearn.utils.Bunch`
        The true model: ``hierarchy`` (list of label arrays of shape
        ``(n_features,)``, coarsest first), ``ranks`` (tuple),
        ``factors`` (list of compressed ``(n_features, r_l)`` arrays: the
        loadings of every feature on the factors of its group),
        ``noise_variance`` (``(n_features,)``), ``covariance`` (the
        :class:`~skfactor.multilevel.MLRMatrix` :math:`F F^T + D`) and
        ``scores`` (list of ``(n_samples, n_groups_l, r_l)`` arrays: the
        latent factors :math:`z` drawn for every sample, ``scores[l][:, a]``
        those of the group labelled ``a`` at level ``l``), so that
        ``X[:, i] - sum(scores[l][:, hierarchy[l][i]] @ factors[l][i] for l
        in range(len(ranks)))`` is the noise of feature ``i``.

    Examples
    --------
    >>> from skfactor.datasets import make_multilevel_factor
    >>> X, truth = make_multilevel_factor(n_samples=100, n_features=20,
    ...                                   ranks=(2, 1), random_state=0)
    >>> X.shape
    (100, 20)
    >>> [len(set(labels)) for labels in truth.hierarchy]
    [1, 2]
    >>> truth.covariance
    MLRMatrix(n_features=20, ranks=(2, 1), n_groups=[1, 2], sign=+1)
    """
    ranks = check_ranks(ranks)
    n_levels = len(ranks)
    if isinstance(branching, Integral):
        branching = [int(branching)] * (n_levels - 1)
    else:
        branching = np.asarray(branching)
        if (
            branching.ndim != 1
            or branching.size != n_levels - 1
            or branching.dtype.kind not in "iu"
            or np.any(branching < 1)
        ):
            raise ValueError(
                f"branching must be a positive integer or {n_levels - 1} positive "
                f"integers (one per level below the top), got {branching!r}."
            )
        branching = branching.tolist()
    rng = check_random_state(random_state)
    hierarchy = _random_hierarchy(n_features, branching, rng)
    factors = [rng.standard_normal((n_features, rank)) for rank in ranks]
    signal = sum(np.einsum("ij,ij->i", F, F) for F in factors)
    noise_variance = np.where(signal > 0, signal, 1.0) / snr
    if shuffle:
        order = rng.permutation(n_features)
        hierarchy = [labels[order] for labels in hierarchy]
        factors = [F[order] for F in factors]
        noise_variance = noise_variance[order]
    covariance = MLRMatrix(hierarchy, factors, noise_variance)
    X, latent = covariance._sample(n_samples, rng)
    scores = []
    for level, z in enumerate(latent):
        # the MLR matrix numbers the groups in its canonical order
        canonical = np.empty(z.shape[0], dtype=np.intp)
        canonical[hierarchy[level]] = covariance._h.labels[level]
        scores.append(np.ascontiguousarray(z[canonical].transpose(2, 0, 1)))
    truth = Bunch(
        hierarchy=hierarchy,
        ranks=ranks,
        factors=factors,
        noise_variance=noise_variance,
        covariance=covariance,
        scores=scores,
    )
    return X, truth
