"""Comparison of fitted latent factors with a ground truth.

Latent-factor models are identified only up to a permutation of their
components (and, for low-rank models, a rescaling of each rank-one term), so
these scores first find the best matching of estimated to true components
with the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`)
and then compare matched pairs. Every test and benchmark of the package that
checks recovery of known factors or regimes goes through this module.
"""

from numbers import Integral

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.utils._param_validation import validate_params

__all__ = [
    "factor_match_score",
    "match_regimes",
    "regime_accuracy",
    "regime_parameter_error",
]


def _as_factor_list(factors, name):
    if isinstance(factors, np.ndarray) and factors.ndim == 2:
        factors = [factors]
    factors = [np.asarray(f, dtype=float) for f in factors]
    if not factors:
        raise ValueError(f"{name} must contain at least one factor matrix.")
    for mode, f in enumerate(factors):
        if f.ndim != 2:
            raise ValueError(
                f"{name}[{mode}] must be a 2-D array (n_i, rank); got shape {f.shape}."
            )
        if not np.all(np.isfinite(f)):
            raise ValueError(f"{name}[{mode}] contains NaN or infinity.")
    ranks = {f.shape[1] for f in factors}
    if len(ranks) != 1:
        raise ValueError(
            f"All factors in {name} must have the same number of columns; got "
            f"{[f.shape[1] for f in factors]}."
        )
    return factors


def _normalize_columns(factor):
    norms = np.linalg.norm(factor, axis=0)
    safe = np.where(norms > 0, norms, 1.0)
    return factor / safe, norms


@validate_params(
    {
        "true_factors": ["array-like"],
        "estimated_factors": ["array-like"],
        "true_weights": ["array-like", None],
        "estimated_weights": ["array-like", None],
        "weight_penalty": ["boolean"],
        "return_matching": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def factor_match_score(
    true_factors,
    estimated_factors,
    *,
    true_weights=None,
    estimated_weights=None,
    weight_penalty=False,
    return_matching=False,
):
    r"""Factor match score (FMS) between two sets of rank-one components.

    Component :math:`p` of the truth is the outer product of the columns
    :math:`a^{(i)}_p` of the true factors :math:`A^{(i)}`, :math:`i = 1..N`
    (for a matrix factorization :math:`X \approx W H`, pass ``[W, H.T]``).
    The congruence of true component :math:`p` and estimated component
    :math:`q` is the product over modes of the cosines of their columns,

    .. math::

        c_{pq} = \prod_{i=1}^{N}
            \frac{|\langle a^{(i)}_p, b^{(i)}_q \rangle|}
                 {\|a^{(i)}_p\|_2 \, \|b^{(i)}_q\|_2},

    optionally multiplied by the weight penalty
    :math:`1 - |\lambda_p - \hat\lambda_q| / \max(\lambda_p, \hat\lambda_q)`
    where :math:`\lambda_p = w_p \prod_i \|a^{(i)}_p\|_2` is the norm of the
    component. The score is the mean of :math:`c_{pq}` over the true
    components under the matching :math:`p \mapsto q` that maximizes the sum
    (Hungarian algorithm). When fewer components are estimated than are
    true, unmatched true components count as 0; surplus estimated components
    are ignored. The score is 1 for a perfect recovery up to permutation,
    scaling and sign, and 0 for orthogonal components.

    Parameters
    ----------
    true_factors : sequence of array-like of shape (n_i, r_true)
        True factor matrices, one per mode (or a single 2-D array).
    estimated_factors : sequence of array-like of shape (n_i, r_est)
        Estimated factor matrices, same modes and row counts.
    true_weights, estimated_weights : array-like of shape (r,), default=None
        Component weights multiplying the factor columns (e.g. the
        ``weights_`` of a CP model); ``None`` means all ones.
    weight_penalty : bool, default=False
        Multiply each congruence by the weight penalty above.
    return_matching : bool, default=False
        Also return the matching.

    Returns
    -------
    score : float
        The factor match score in [0, 1].
    matching : ndarray of shape (r_true,) of int
        Returned if ``return_matching``: index of the estimated component
        matched to each true component, -1 when unmatched.

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.metrics import factor_match_score
    >>> A, B = np.eye(3)[:, :2], np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> factor_match_score([A, B], [A[:, ::-1], 3 * B[:, ::-1]])
    1.0
    >>> factor_match_score([A, B], [A[:, ::-1], 3 * B[:, ::-1]],
    ...                    return_matching=True)[1]
    array([1, 0])
    """
    true_factors = _as_factor_list(true_factors, "true_factors")
    estimated_factors = _as_factor_list(estimated_factors, "estimated_factors")
    if len(true_factors) != len(estimated_factors):
        raise ValueError(
            f"true_factors has {len(true_factors)} modes but estimated_factors "
            f"has {len(estimated_factors)}."
        )
    for mode, (a, b) in enumerate(zip(true_factors, estimated_factors)):
        if a.shape[0] != b.shape[0]:
            raise ValueError(
                f"Mode {mode} has {a.shape[0]} rows in true_factors but "
                f"{b.shape[0]} in estimated_factors."
            )
    r_true = true_factors[0].shape[1]
    r_est = estimated_factors[0].shape[1]

    congruence = np.ones((r_true, r_est))
    norm_true = np.ones(r_true)
    norm_est = np.ones(r_est)
    for a, b in zip(true_factors, estimated_factors):
        a_unit, a_norm = _normalize_columns(a)
        b_unit, b_norm = _normalize_columns(b)
        congruence *= np.abs(a_unit.T @ b_unit)
        norm_true *= a_norm
        norm_est *= b_norm

    if weight_penalty:
        for weights, norms, r, name in (
            (true_weights, norm_true, r_true, "true_weights"),
            (estimated_weights, norm_est, r_est, "estimated_weights"),
        ):
            if weights is not None:
                weights = np.asarray(weights, dtype=float).ravel()
                if weights.shape != (r,):
                    raise ValueError(
                        f"{name} must have shape ({r},); got {weights.shape}."
                    )
                norms *= np.abs(weights)
        largest = np.maximum(norm_true[:, None], norm_est[None, :])
        gap = np.abs(norm_true[:, None] - norm_est[None, :])
        congruence *= 1.0 - np.divide(
            gap, largest, out=np.zeros_like(gap), where=largest > 0
        )

    rows, cols = linear_sum_assignment(congruence, maximize=True)
    score = float(congruence[rows, cols].sum() / r_true)
    if not return_matching:
        return score
    matching = np.full(r_true, -1, dtype=np.intp)
    matching[rows] = cols
    return score, matching


def _contingency(labels_true, labels_pred):
    labels_true = np.asarray(labels_true).ravel()
    labels_pred = np.asarray(labels_pred).ravel()
    if labels_true.shape != labels_pred.shape:
        raise ValueError(
            f"labels_true and labels_pred must have the same length; got "
            f"{labels_true.shape[0]} and {labels_pred.shape[0]}."
        )
    if labels_true.size == 0:
        raise ValueError("labels_true and labels_pred are empty.")
    classes_true, idx_true = np.unique(labels_true, return_inverse=True)
    classes_pred, idx_pred = np.unique(labels_pred, return_inverse=True)
    table = np.zeros((classes_true.size, classes_pred.size), dtype=np.int64)
    np.add.at(table, (idx_true, idx_pred), 1)
    return classes_true, classes_pred, table


@validate_params(
    {"labels_true": ["array-like"], "labels_pred": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def match_regimes(labels_true, labels_pred):
    """Best one-to-one matching of predicted regimes to true regimes.

    The matching maximizes the number of samples whose predicted regime is
    mapped to their true regime (Hungarian algorithm on the contingency
    table). Predicted regimes left over when there are more predicted than
    true regimes are not in the mapping.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        True regime of each sample.
    labels_pred : array-like of shape (n_samples,)
        Predicted regime of each sample, with arbitrary label values.

    Returns
    -------
    mapping : dict
        ``{predicted label: true label}``.

    Examples
    --------
    >>> from skfactor.metrics import match_regimes
    >>> match_regimes([0, 0, 1, 2], [5, 5, 3, 4])
    {3: 1, 4: 2, 5: 0}
    """
    classes_true, classes_pred, table = _contingency(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {
        classes_pred[c].item(): classes_true[r].item()
        for r, c in sorted(zip(rows, cols), key=lambda rc: rc[1])
    }


@validate_params(
    {"labels_true": ["array-like"], "labels_pred": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def regime_accuracy(labels_true, labels_pred):
    """Fraction of samples in the right regime after optimal label matching.

    Regime labels of a latent factor model are arbitrary: the accuracy is
    computed after the permutation of :func:`match_regimes`, so it is
    invariant to relabelling either argument.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        True regime of each sample.
    labels_pred : array-like of shape (n_samples,)
        Predicted regime of each sample.

    Returns
    -------
    accuracy : float
        In [0, 1].

    Examples
    --------
    >>> from skfactor.metrics import regime_accuracy
    >>> regime_accuracy([0, 0, 1, 1, 2], [2, 2, 0, 0, 0])
    0.8
    """
    _, _, table = _contingency(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


@validate_params(
    {
        "params_true": ["array-like"],
        "params_pred": ["array-like"],
        "labels_true": ["array-like", None],
        "labels_pred": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def regime_parameter_error(
    params_true, params_pred, *, labels_true=None, labels_pred=None
):
    r"""Relative parameter error of regimes after optimal matching.

    .. math::

        \frac{\|\Theta - \hat\Theta_{\pi}\|_F}{\|\Theta\|_F}

    where row :math:`k` of :math:`\Theta` holds the (flattened) parameters of
    regime :math:`k` and :math:`\pi` is the matching of estimated to true
    regimes. With ``labels_true`` and ``labels_pred`` (integer regime
    indices ``0..K-1``), :math:`\pi` is the label matching of
    :func:`match_regimes`, the one that matters for prediction; otherwise it
    minimizes the summed squared parameter distance.

    Parameters
    ----------
    params_true : array-like of shape (K, ...)
        True parameters, regimes along the first axis.
    params_pred : array-like of shape (K, ...)
        Estimated parameters, same shape.
    labels_true, labels_pred : array-like of shape (n_samples,), default=None
        Regime indices used for the matching; both or neither.

    Returns
    -------
    error : float
        Relative Frobenius error (0 for a perfect recovery).

    Examples
    --------
    >>> import numpy as np
    >>> from skfactor.metrics import regime_parameter_error
    >>> theta = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> regime_parameter_error(theta, theta[::-1])
    0.0
    """
    params_true = np.asarray(params_true, dtype=float)
    params_pred = np.asarray(params_pred, dtype=float)
    if params_true.shape != params_pred.shape or params_true.ndim == 0:
        raise ValueError(
            f"params_true and params_pred must have the same shape (K, ...); got "
            f"{params_true.shape} and {params_pred.shape}."
        )
    K = params_true.shape[0]
    flat_true = params_true.reshape(K, -1)
    flat_pred = params_pred.reshape(K, -1)
    if (labels_true is None) != (labels_pred is None):
        raise ValueError("Pass both labels_true and labels_pred, or neither.")
    if labels_true is None:
        cost = ((flat_true[:, None, :] - flat_pred[None, :, :]) ** 2).sum(axis=2)
        rows, cols = linear_sum_assignment(cost)
        order = cols[np.argsort(rows)]
    else:
        mapping = match_regimes(labels_true, labels_pred)
        order = np.full(K, -1)
        for pred, true in mapping.items():
            if not (isinstance(pred, Integral) and isinstance(true, Integral)):
                raise ValueError("Regime labels must be integers 0..K-1.")
            if not (0 <= pred < K and 0 <= true < K):
                raise ValueError(f"Regime labels must lie in 0..{K - 1}.")
            order[true] = pred
        # Regimes absent from the labels are paired in index order.
        unused = [k for k in range(K) if k not in set(order)]
        order[order < 0] = unused[: np.count_nonzero(order < 0)]
    denominator = np.linalg.norm(flat_true)
    error = np.linalg.norm(flat_true - flat_pred[order])
    return float(error / denominator) if denominator > 0 else float(error)
