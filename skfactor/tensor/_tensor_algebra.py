r"""Dense-tensor algebra for CP and Tucker models.

A CP (CANDECOMP/PARAFAC) model of an :math:`N`-way array is given by its
factor matrices :math:`A_k \in \mathbb{R}^{I_k \times r}`,

.. math::

    [\![A_0, \dots, A_{N-1}]\!] = \sum_{q=1}^{r} A_0[:, q] \circ \dots
        \circ A_{N-1}[:, q].

Everything an alternating solver needs (the MTTKRP, the Gram matrices, the
inner product with the data and the squared norm of the model) is computed
here from the factors and the data, in C order (the last mode varies
fastest), and the full model is formed only by :func:`cp_to_tensor`.

A Tucker model has a core :math:`G \in \mathbb{R}^{r_0 \times \dots \times
r_{N-1}}` and factors :math:`A_k \in \mathbb{R}^{I_k \times r_k}`,

.. math::

    G \times_0 A_0 \times_1 \dots \times_{N-1} A_{N-1},
    \qquad (G \times_k A)[\dots, i, \dots] = \sum_j A[i, j]\,
        G[\dots, j, \dots],

built by :func:`mode_dot` and :func:`multi_mode_dot`; its mode-:math:`n`
unfolding is :math:`A_n G_{(n)} (\bigotimes_{k \ne n} A_k)^T`, so the
projections of the data on the factors (:func:`multi_mode_dot` with
``transpose=True``) give every update of a Tucker solver without Kronecker
products.

All functions are pure: they return new arrays and never modify their input.
"""

import math

import numpy as np

__all__ = [
    "component_norms",
    "contraction_order",
    "cp_to_tensor",
    "gram_hadamard",
    "khatri_rao",
    "mode_dot",
    "mttkrp",
    "multi_mode_dot",
    "tucker_to_tensor",
    "unfold",
]


def unfold(tensor, mode):
    """Mode-``mode`` unfolding: the fibres along ``mode`` as rows.

    Returns an array of shape ``(I_mode, prod(other sizes))`` whose columns
    run over the other modes in C order.

    >>> import numpy as np
    >>> unfold(np.arange(8).reshape(2, 2, 2), 1)
    array([[0, 1, 4, 5],
           [2, 3, 6, 7]])
    """
    tensor = np.asarray(tensor)
    axes = (mode, *(k for k in range(tensor.ndim) if k != mode))
    return tensor.transpose(axes).reshape(tensor.shape[mode], -1)


def khatri_rao(matrices, n_columns=None):
    r"""Column-wise Kronecker product of matrices, in C order.

    Row :math:`(i_1, \dots, i_m)` (flattened in C order, the last matrix
    varying fastest) of the result is
    :math:`\prod_j A_j[i_j, :]`, so that the C-order unfolding of a CP model
    is :math:`A_0 \, \mathrm{KR}(A_1, \dots, A_{N-1})^T`.

    Parameters
    ----------
    matrices : sequence of ndarray of shape (I_j, r)
    n_columns : int, default=None
        Number of columns ``r``; needed only when ``matrices`` is empty (the
        product of no matrix is a single row of ones).

    Returns
    -------
    product : ndarray of shape (prod(I_j), r)

    Examples
    --------
    >>> import numpy as np
    >>> khatri_rao([np.array([[1.0], [2.0]]), np.array([[1.0], [10.0]])]).ravel()
    array([ 1., 10.,  2., 20.])
    """
    matrices = list(matrices)
    if not matrices:
        return np.ones((1, n_columns))
    product = np.asarray(matrices[0])
    rank = product.shape[1]
    for matrix in matrices[1:]:
        product = (product[:, None, :] * matrix[None, :, :]).reshape(-1, rank)
    return product


def mttkrp(tensor, factors, mode):
    r"""Matricized tensor times Khatri-Rao product for one mode.

    .. math::

        M = T_{(n)} \, \mathrm{KR}(A_k, k \ne n),
        \qquad M[i, q] = \sum_{i_k, k \ne n} T[\dots, i, \dots]
            \prod_{k \ne n} A_k[i_k, q],

    the right-hand side of the least-squares problem of mode ``n``. The
    tensor is viewed (without copying) as ``(P, I_n, S)`` with ``P`` and
    ``S`` the sizes of the modes before and after ``n``; one matrix product
    contracts the modes after ``n`` and a batched reduction those before, so
    no unfolding is copied and the Khatri-Rao products are those of the
    smaller sides only.

    Parameters
    ----------
    tensor : ndarray of shape (I_0, ..., I_{N-1})
    factors : sequence of N ndarray of shape (I_k, r)
        ``factors[mode]`` is not used (it may be ``None``).
    mode : int

    Returns
    -------
    M : ndarray of shape (I_mode, r)

    Examples
    --------
    >>> import numpy as np
    >>> T = np.arange(24.0).reshape(2, 3, 4)
    >>> A = [np.ones((2, 1)), np.ones((3, 1)), np.ones((4, 1))]
    >>> mttkrp(T, A, 1).ravel()  # sums over modes 0 and 2
    array([ 60.,  92., 124.])
    """
    shape = tensor.shape
    rank = factors[1 if mode == 0 else 0].shape[1]
    before = int(np.prod(shape[:mode], dtype=np.int64))
    after = int(np.prod(shape[mode + 1 :], dtype=np.int64))
    size = shape[mode]
    if mode == len(shape) - 1:
        left = khatri_rao(factors[:mode], rank)
        return tensor.reshape(before, size).T @ left
    right = khatri_rao(factors[mode + 1 :], rank)
    partial = tensor.reshape(before * size, after) @ right
    if mode == 0:
        return partial
    left = khatri_rao(factors[:mode], rank)
    return np.einsum("pir,pr->ir", partial.reshape(before, size, rank), left)


def gram_hadamard(grams, skip=None):
    """Elementwise product of Gram matrices, optionally skipping one mode.

    ``gram_hadamard(grams, n)`` is the Gram matrix of the Khatri-Rao product
    of the factors other than ``n`` (the normal matrix of mode ``n``), and
    ``gram_hadamard(grams).sum()`` the squared Frobenius norm of the model.

    >>> import numpy as np
    >>> gram_hadamard([np.full((2, 2), 2.0), np.eye(2), np.full((2, 2), 3.0)], skip=1)
    array([[6., 6.],
           [6., 6.]])
    """
    rank = grams[0].shape[0]
    product = np.ones((rank, rank))
    for k, gram in enumerate(grams):
        if k != skip:
            product = product * gram
    return product


def cp_to_tensor(factors):
    """Dense array of a CP model, of shape ``(I_0, ..., I_{N-1})``.

    >>> import numpy as np
    >>> cp_to_tensor([np.array([[1.0], [2.0]]), np.array([[3.0], [4.0]])])
    array([[3., 4.],
           [6., 8.]])
    """
    factors = [np.asarray(f) for f in factors]
    shape = tuple(f.shape[0] for f in factors)
    rank = factors[0].shape[1]
    return (factors[0] @ khatri_rao(factors[1:], rank).T).reshape(shape)


def component_norms(factors):
    r"""Frobenius norm of every rank-one component, :math:`\prod_k \|A_k[:, q]\|_2`.

    >>> import numpy as np
    >>> component_norms([np.array([[3.0, 0.0], [4.0, 1.0]]), np.array([[2.0, 1.0]])])
    array([10.,  1.])
    """
    return np.prod([np.linalg.norm(f, axis=0) for f in factors], axis=0)


def mode_dot(tensor, matrix, mode):
    r"""Mode-``mode`` product :math:`T \times_n A`, of shape ``(..., J, ...)``.

    ``matrix`` has shape ``(J, I_mode)``; the result replaces axis ``mode``
    of size ``I_mode`` by one of size ``J``.

    >>> import numpy as np
    >>> mode_dot(np.ones((2, 3)), np.array([[1.0, 2.0, 3.0]]), 1)
    array([[6.],
           [6.]])
    """
    tensor = np.asarray(tensor)
    shape = tensor.shape
    new_shape = (*shape[:mode], matrix.shape[0], *shape[mode + 1 :])
    if mode == tensor.ndim - 1:
        # one matrix product, where the batched one below would be a batch
        # of matrix-vector products
        return (tensor.reshape(-1, shape[mode]) @ matrix.T).reshape(new_shape)
    before = math.prod(shape[:mode])
    # (before, I, after) viewed without copying; a batched matrix product
    product = np.matmul(matrix, tensor.reshape(before, shape[mode], -1))
    return product.reshape(new_shape)


def multi_mode_dot(tensor, matrices, *, skip=None, transpose=False):
    r"""Product of a tensor with one matrix per mode, optionally skipping one.

    :math:`T \times_0 A_0 \dots \times_{N-1} A_{N-1}` (or with every
    :math:`A_k^T` when ``transpose``), mode ``skip`` left as it is. The
    modes are contracted in increasing order of the ratio of their new to
    their old size, so the intermediate arrays stay as small as possible.

    Parameters
    ----------
    tensor : ndarray of shape (I_0, ..., I_{N-1})
    matrices : sequence of N ndarray
        ``matrices[k]`` of shape ``(J_k, I_k)`` (``(I_k, J_k)`` when
        ``transpose``); ``matrices[skip]`` is not used (it may be ``None``).
    skip : int, default=None
    transpose : bool, default=False

    Returns
    -------
    product : ndarray of shape (J_0, ..., J_{N-1}), with ``I_skip`` at ``skip``

    Examples
    --------
    >>> import numpy as np
    >>> A = [np.ones((2, 1)), np.full((3, 1), 2.0)]
    >>> multi_mode_dot(np.ones((1, 1)), A)  # the Tucker model G x0 A0 x1 A1
    array([[2., 2., 2.],
           [2., 2., 2.]])
    >>> multi_mode_dot(np.ones((2, 3)), A, skip=0, transpose=True).ravel()
    array([6., 6.])
    """
    result = np.asarray(tensor)
    mats = [
        None if k == skip else (m.T if transpose else m) for k, m in enumerate(matrices)
    ]
    for k in contraction_order(mats, skip=skip):
        result = mode_dot(result, mats[k], k)
    return result


def contraction_order(matrices, skip=None):
    """The order in which :func:`multi_mode_dot` contracts the modes.

    Increasing ratio of the new to the old size of a mode (``matrices[k]``
    of shape ``(J_k, I_k)``), ties in increasing mode; ``skip`` left out.

    >>> import numpy as np
    >>> contraction_order([np.ones((2, 4)), None, np.ones((1, 4))], skip=1)
    [2, 0]
    """
    modes = [k for k in range(len(matrices)) if k != skip]
    return sorted(modes, key=lambda k: matrices[k].shape[0] / matrices[k].shape[1])


def tucker_to_tensor(core, factors):
    r"""Dense array of a Tucker model, :math:`G \times_0 A_0 \dots`.

    >>> import numpy as np
    >>> tucker_to_tensor(np.eye(2), [np.eye(2), np.array([[1.0, 2.0]])])
    array([[1.],
           [2.]])
    """
    return multi_mode_dot(core, factors)
