"""MLR matrix algebra against dense numpy on random small cases."""

import tracemalloc

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skfactor.multilevel import MLRMatrix
from skfactor.multilevel._hierarchy import check_hierarchy, check_ranks

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def random_hierarchy(rng, n_features, n_levels, one_root=True):
    """Nested labels: every group of a level splits into 1-3 random parts."""
    if one_root:
        top = np.zeros(n_features, dtype=int)
    else:
        top = rng.integers(0, 2, n_features)
    levels = [top]
    for _ in range(1, n_levels):
        levels.append(levels[-1] * 3 + rng.integers(0, 3, n_features))
    # Arbitrary label values: relabel every level by a random injective map.
    relabelled = []
    for labels in levels:
        values = np.unique(labels)
        codes = rng.permutation(1000)[: values.size] - 500
        relabelled.append(codes[np.searchsorted(values, labels)])
    return relabelled


@st.composite
def mlr_cases(draw, max_features=12, max_levels=4, max_rank=3):
    n_features = draw(st.integers(1, max_features))
    n_levels = draw(st.integers(1, max_levels))
    ranks = [draw(st.integers(0, max_rank)) for _ in range(n_levels)]
    one_root = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    hierarchy = random_hierarchy(rng, n_features, n_levels, one_root)
    factors = [rng.standard_normal((n_features, r)) for r in ranks]
    diagonal = rng.uniform(0.1, 2.0, n_features)
    return hierarchy, factors, diagonal, rng


def dense_reference(hierarchy, factors, diagonal, sign=1):
    """The definition: D + s sum_l (same group at level l) * F_l F_l^T."""
    dense = np.diag(diagonal).astype(float)
    for labels, F in zip(hierarchy, factors):
        labels = np.asarray(labels)
        same = labels[:, None] == labels[None, :]
        dense += sign * same * (F @ F.T)
    return dense


def rel_error(A, B):
    return np.linalg.norm(A - B) / max(np.linalg.norm(B), 1e-300)


@SETTINGS
@given(mlr_cases())
def test_to_dense_and_matvec_match_the_definition(case):
    hierarchy, factors, diagonal, rng = case
    A = MLRMatrix(hierarchy, factors, diagonal)
    dense = dense_reference(hierarchy, factors, diagonal)
    assert rel_error(A.to_dense(), dense) <= 1e-12
    x = rng.standard_normal(A.shape[0])
    X = rng.standard_normal((A.shape[0], 3))
    assert rel_error(A.matvec(x), dense @ x) <= 1e-12
    assert rel_error(A @ X, dense @ X) <= 1e-12
    assert (A @ x).shape == x.shape
    np.testing.assert_allclose(A.diag(), np.diag(dense), rtol=1e-12)


@SETTINGS
@given(mlr_cases())
def test_inverse_is_mlr_with_the_same_structure(case):
    hierarchy, factors, diagonal, _ = case
    A = MLRMatrix(hierarchy, factors, diagonal)
    dense = dense_reference(hierarchy, factors, diagonal)
    inverse = A.inv()
    assert inverse.sign == -1 and inverse.ranks == A.ranks
    for mine, theirs in zip(inverse.hierarchy, A.hierarchy):
        np.testing.assert_array_equal(mine, theirs)
    # D^-1 - H H^T with H on the same groups: rebuild it from its parts.
    rebuilt = dense_reference(hierarchy, inverse.factors, inverse.diagonal, sign=-1)
    expected = np.linalg.inv(dense)
    assert rel_error(rebuilt, expected) <= 1e-10
    assert rel_error(inverse.to_dense(), expected) <= 1e-10
    np.testing.assert_allclose(inverse.diagonal, 1 / diagonal, rtol=1e-14)


def test_a_matrix_and_its_inverse_are_freed_without_the_garbage_collector():
    import gc
    import pickle
    import weakref

    rng = np.random.default_rng(0)
    hierarchy = [np.zeros(8, dtype=int), np.repeat([0, 1], 4)]
    factors = [rng.standard_normal((8, 2)), rng.standard_normal((8, 1))]
    A = MLRMatrix(hierarchy, factors, np.ones(8))
    inverse = A.inv()
    assert A.inv() is inverse and inverse.inv() is A  # cached both ways
    assert inverse.logdet() == -A.logdet()
    restored = pickle.loads(pickle.dumps(A))  # the weak back-reference is dropped
    np.testing.assert_allclose(restored.inv().to_dense(), inverse.to_dense())
    probe = weakref.ref(A)
    gc.disable()
    try:
        del A, inverse, restored
        assert probe() is None  # no reference cycle keeps the pair alive
    finally:
        gc.enable()


@SETTINGS
@given(mlr_cases())
def test_inverse_of_the_inverse_and_of_negative_sign(case):
    hierarchy, factors, diagonal, _ = case
    inverse = MLRMatrix(hierarchy, factors, diagonal).inv()
    # A fresh sign=-1 matrix (no cached inverse) goes through the recursion
    # with s = -1.
    negative = MLRMatrix(hierarchy, inverse.factors, inverse.diagonal, sign=-1)
    dense = dense_reference(hierarchy, factors, diagonal)
    assert rel_error(negative.inv().to_dense(), dense) <= 1e-10
    assert negative.inv().sign == 1
    expected = np.linalg.slogdet(dense)[1]
    assert abs(negative.logdet() + expected) <= 1e-10 * max(1.0, abs(expected))


@SETTINGS
@given(mlr_cases())
def test_solve_and_logdet(case):
    hierarchy, factors, diagonal, rng = case
    A = MLRMatrix(hierarchy, factors, diagonal)
    dense = dense_reference(hierarchy, factors, diagonal)
    B = rng.standard_normal((A.shape[0], 4))
    assert rel_error(A.solve(B), np.linalg.solve(dense, B)) <= 1e-10
    b = B[:, 0]
    assert rel_error(A.solve(b), np.linalg.solve(dense, b)) <= 1e-10
    sign, expected = np.linalg.slogdet(dense)
    assert sign == 1
    assert abs(A.logdet() - expected) <= 1e-10 * max(1.0, abs(expected))
    assert abs(A.inv().logdet() + expected) <= 1e-10 * max(1.0, abs(expected))


@SETTINGS
@given(mlr_cases())
def test_logpdf_is_the_gaussian_log_density(case):
    hierarchy, factors, diagonal, rng = case
    A = MLRMatrix(hierarchy, factors, diagonal)
    dense = dense_reference(hierarchy, factors, diagonal)
    mean = rng.standard_normal(A.shape[0])
    X = rng.standard_normal((5, A.shape[0])) * 2 + mean
    expected = multivariate_normal(mean, dense).logpdf(X)
    np.testing.assert_allclose(A.logpdf(X, mean), np.atleast_1d(expected), rtol=1e-10)
    np.testing.assert_allclose(A.logpdf(X - mean), np.atleast_1d(expected), rtol=1e-10)


@SETTINGS
@given(mlr_cases())
def test_canonical_order_makes_every_group_contiguous(case):
    hierarchy = case[0]
    h = check_hierarchy(hierarchy)
    for level, labels in enumerate(hierarchy):
        sorted_labels = np.asarray(labels)[h.perm]
        bounds = h.bounds[level]
        assert len(bounds) - 1 == np.unique(labels).size
        for k in range(len(bounds) - 1):
            block = sorted_labels[bounds[k] : bounds[k + 1]]
            assert np.all(block == block[0])
        expected = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
        np.testing.assert_array_equal(h.labels[level][h.perm], expected)
        if level:
            # every group lies inside its parent
            parent_of_rows = h.labels[level - 1][h.perm]
            assert np.all(parent_of_rows == np.repeat(h.parent[level], np.diff(bounds)))


def test_sample_has_the_matrix_as_covariance():
    rng = np.random.default_rng(0)
    hierarchy = random_hierarchy(rng, 8, 3)
    factors = [rng.standard_normal((8, r)) for r in (2, 1, 1)]
    A = MLRMatrix(hierarchy, factors, rng.uniform(0.5, 1.0, 8))
    X = A.sample(100_000, random_state=0)
    assert X.shape == (100_000, 8)
    dense = A.to_dense()
    assert rel_error(X.T @ X / X.shape[0], dense) < 0.02
    np.testing.assert_array_equal(X[:5], A.sample(100_000, random_state=0)[:5])
    with pytest.raises(ValueError, match="sign=-1"):
        A.inv().sample(3)
    with pytest.raises(ValueError, match="sign=1"):
        A.inv().logpdf(X[:2])
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 8\)"):
        A.logpdf(X[:2, :3])
    with pytest.raises(ValueError, match="n_samples"):
        A.sample(0)


def test_non_positive_definite_negative_matrix_is_rejected():
    hierarchy = [np.zeros(3)]
    A = MLRMatrix(hierarchy, [np.ones((3, 1))], np.ones(3), sign=-1)  # I - 1 1^T
    with pytest.raises(ValueError, match="not positive definite"):
        A.logdet()
    with pytest.raises(ValueError, match="not positive definite"):
        A.inv()


def test_non_nested_hierarchy_is_rejected_naming_the_level():
    with pytest.raises(ValueError, match="not nested: group 'b' of level 2 spans"):
        check_hierarchy([[0, 0, 0, 0], [0, 0, 1, 1], ["a", "b", "b", "c"]])
    with pytest.raises(ValueError, match="not nested"):
        MLRMatrix([[0, 0, 1, 1], [0, 1, 1, 2]], [np.ones((4, 1))] * 2, np.ones(4))


def test_non_nested_error_names_the_parent_groups_by_their_labels():
    # The parent groups are named with the labels of the level just above
    # (not of the top level, nor of the offending level).
    hierarchy = [["all"] * 4, ["x", "x", "y", "y"], [7, 8, 8, 9]]
    with pytest.raises(ValueError, match="group 8 of level 2 spans groups 'x' and 'y'"):
        check_hierarchy(hierarchy)
    with pytest.raises(ValueError, match="group 'p' of level 1 spans groups 1 and 2"):
        check_hierarchy([[1, 1, 2, 2], ["p", "p", "p", "q"]])


@pytest.mark.parametrize(
    "hierarchy, message",
    [
        ([], "at least one level"),
        ([0, 0, 1], r"one per level .* pass \[labels\]"),
        ([[0, 0], [0, 0, 1]], "Level 1 of the hierarchy has 3 labels but there are 2"),
        ([[[0, 0]]], "Level 0 of the hierarchy must be a 1-d array"),
        ([[0.0, np.nan]], "Level 0 of the hierarchy has NaN"),
        ([np.array([None, 1], dtype=object)], "missing labels"),
        ([np.array(["a", 1], dtype=object)], "cannot be compared"),
    ],
)
def test_bad_hierarchies(hierarchy, message):
    with pytest.raises(ValueError, match=message):
        check_hierarchy(hierarchy)


def test_hierarchy_type_and_size_checks():
    with pytest.raises(TypeError, match="sequence of per-level label arrays"):
        check_hierarchy("auto")
    h = check_hierarchy([[0, 0, 1]])
    assert check_hierarchy(h) is h
    with pytest.raises(ValueError, match="covers 3 features but there are 4"):
        check_hierarchy(h, n_features=4)


@pytest.mark.parametrize(
    "ranks, n_levels, message",
    [
        ([], None, "non-empty 1-d"),
        (3, None, "non-empty 1-d"),
        ([[1, 2]], None, "non-empty 1-d"),
        ([1, -1], None, r"ranks\[1\] must be a non-negative integer"),
        ([1, 2.5], None, r"ranks\[1\]"),
        ([True], None, r"ranks\[0\]"),
        (
            [1, 2],
            3,
            "ranks has 2 entries but the hierarchy has 3 levels.*level 2 is missing",
        ),
        ([1, 2, 3], 2, "level 2 is missing from the hierarchy"),
    ],
)
def test_bad_ranks(ranks, n_levels, message):
    with pytest.raises(ValueError, match=message):
        check_ranks(ranks, n_levels)


def test_bad_factors_and_diagonal():
    hierarchy = [[0, 0, 1]]
    with pytest.raises(ValueError, match="factors has 2 arrays but the hierarchy has"):
        MLRMatrix(hierarchy, [np.ones((3, 1))] * 2, np.ones(3))
    with pytest.raises(ValueError, match=r"factors\[0\] must have shape \(3, rank\)"):
        MLRMatrix(hierarchy, [np.ones((4, 1))], np.ones(3))
    with pytest.raises(ValueError, match=r"factors\[0\] has NaN"):
        MLRMatrix(hierarchy, [np.full((3, 1), np.nan)], np.ones(3))
    with pytest.raises(TypeError, match="one \\(n_features, rank\\) array per level"):
        MLRMatrix(hierarchy, np.ones((3, 1)), np.ones(3))
    with pytest.raises(ValueError, match="positive"):
        MLRMatrix(hierarchy, [np.ones((3, 1))], np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="diagonal must have shape"):
        MLRMatrix(hierarchy, [np.ones((3, 1))], np.ones(2))
    with pytest.raises(ValueError, match="sign"):
        MLRMatrix(hierarchy, [np.ones((3, 1))], np.ones(3), sign=2)
    A = MLRMatrix(hierarchy, [np.ones(3)], np.ones(3))  # 1-d factor = rank 1
    assert A.ranks == (1,)
    with pytest.raises(ValueError, match=r"x must have shape \(3,\)"):
        A @ np.ones(4)
    with pytest.raises(ValueError, match="NaN or inf"):
        A @ np.array([1.0, np.inf, 0.0])
    with pytest.raises(TypeError, match="real numbers"):
        A @ np.ones(3, dtype=complex)


def test_large_matrix_never_forms_a_dense_square():
    """n = 200,000: an n x n float64 array would need 320 GB."""
    n = 200_000
    rng = np.random.default_rng(0)
    hierarchy = [np.zeros(n, dtype=int), rng.integers(0, 8, n)]
    hierarchy.append(hierarchy[1] * 16 + rng.integers(0, 16, n))
    factors = [rng.standard_normal((n, r)) for r in (3, 2, 1)]
    diagonal = rng.uniform(0.5, 1.5, n)
    tracemalloc.start()
    A = MLRMatrix(hierarchy, factors, diagonal)
    x = rng.standard_normal(n)
    y = A @ x
    z = A.solve(y)
    logdet = A.logdet()
    sample = A.sample(2, random_state=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(z, x, rtol=1e-8, atol=1e-8)
    assert np.isfinite(logdet) and sample.shape == (2, n)
    # inputs + a few O(n r) arrays (one n x r array is 9.6 MB here)
    assert peak < 250e6, peak


@pytest.mark.parametrize("blas_min_rows", [1, 10**9])
def test_blas_and_compiled_group_products_agree(monkeypatch, blas_min_rows):
    # Levels of few large groups use BLAS per group, levels of many small
    # groups one compiled loop: both give the definition.
    from skfactor.multilevel import _kernels

    monkeypatch.setattr(_kernels, "_BLAS_MIN_ROWS", blas_min_rows)
    rng = np.random.default_rng(3)
    bounds = np.array([0, 3, 4, 9, 15])
    A = rng.standard_normal((15, 2))
    B = rng.standard_normal((15, 5))
    T = _kernels.group_gram(A, B, bounds)
    for k in range(4):
        rows = slice(bounds[k], bounds[k + 1])
        np.testing.assert_allclose(T[k], A[rows].T @ B[rows], atol=1e-12)
    out = B.copy()
    _kernels.group_product(A, T, bounds, out, -1.0)
    for k in range(4):
        rows = slice(bounds[k], bounds[k + 1])
        np.testing.assert_allclose(out[rows], B[rows] - A[rows] @ T[k], atol=1e-12)


def test_path_kernels_match_per_group_products():
    # The fused one-pass kernels (all levels at once) against the level-by-level
    # products of the definition, on a 3-level hierarchy.
    from skfactor.multilevel import _kernels

    rng = np.random.default_rng(4)
    hierarchy = random_hierarchy(rng, 30, 3)
    h = check_hierarchy(hierarchy)
    ranks = (2, 1, 3)
    F = rng.standard_normal((30, 6))
    X = rng.standard_normal((30, 4))
    path, base = _kernels.path_index(h, ranks)
    T = np.zeros((base[-1], 4))
    _kernels.path_gram(F, X, h.bounds[-1], path, T)
    offsets = np.cumsum((0,) + ranks)
    expected = np.zeros_like(X)
    for level in range(3):
        cols = slice(offsets[level], offsets[level + 1])
        T_level = _kernels.group_gram(F[:, cols], X, h.bounds[level])
        stacked = T[base[level] : base[level + 1]].reshape(T_level.shape)
        np.testing.assert_allclose(stacked, T_level, atol=1e-12)
        _kernels.group_product(F[:, cols], T_level, h.bounds[level], expected)
    out = np.zeros_like(X)
    _kernels.path_product(F, T, h.bounds[-1], path, out, 1.0)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    dots = np.empty((30, 6))
    _kernels.path_dot(X, T, h.bounds[-1], path, dots)
    leaf_of_row = np.repeat(np.arange(h.n_groups[-1]), np.diff(h.bounds[-1]))
    np.testing.assert_allclose(
        dots, np.einsum("it,ijt->ij", X, T[path[leaf_of_row]]), atol=1e-12
    )


@SETTINGS
@given(mlr_cases(), st.sampled_from([1, -1]))
def test_smw_kernels_match_dense_schur_complements(case, sign):
    # The compiled recursion (smw_leaves / smw_level) against its definition
    # on dense blocks: for every group a of level l, Psi_a = E_a^T
    # (A^(l)_a)^{-1} E_a (own columns kept), and the rows of L_a^{-1} and of
    # Q_a = L_a^{-1} F_a^T (A^(l+1)_a)^{-1} E_a (ancestors' columns) in solve.
    hierarchy, factors, diagonal, _ = case
    if sign < 0:  # a sign=-1 matrix that is positive definite: an inverse
        inverse = MLRMatrix(hierarchy, factors, diagonal).inv()
        factors, diagonal = inverse.factors, inverse.diagonal
    A = MLRMatrix(hierarchy, factors, diagonal, sign=sign)
    h, F, d = A._h, A._F, A._d
    off = A._offsets
    path, base = A._paths()
    psi, solve, logdet = A._smw_recursion()
    leaf_of_row = np.repeat(np.arange(h.n_groups[-1]), np.diff(h.bounds[-1]))

    def partial(level, rows):
        """A^(level) on rows: D + s sum of the levels >= level, dense."""
        dense = np.diag(d[rows])
        for lev in range(level, len(A.ranks)):
            group = np.repeat(np.arange(h.n_groups[lev]), np.diff(h.bounds[lev]))[rows]
            block = F[rows, off[lev] : off[lev + 1]]
            dense += sign * (group[:, None] == group[None, :]) * (block @ block.T)
        return dense

    for level, rank in enumerate(A.ranks):
        R = off[level]
        for a in range(h.n_groups[level]):
            rows = np.arange(h.bounds[level][a], h.bounds[level][a + 1])
            E = F[rows, : off[level + 1]]
            expected = E.T @ np.linalg.solve(partial(level, rows), E)
            np.testing.assert_allclose(psi[level][a], expected[:, R:], atol=1e-9)
            if not rank:
                continue
            finer = np.linalg.inv(partial(level + 1, rows))
            own = E[:, R:]
            L = np.linalg.cholesky(np.eye(rank) + sign * own.T @ finer @ own)
            inverse_chol = np.linalg.inv(L)
            stacked = solve[path[leaf_of_row[rows[0]], R : R + rank]]
            np.testing.assert_allclose(
                stacked[:, R : R + rank], inverse_chol, atol=1e-9
            )
            Q = inverse_chol @ own.T @ finer @ E[:, :R]
            np.testing.assert_allclose(stacked[:, :R], Q, atol=1e-9)
    expected = np.linalg.slogdet(A.to_dense())[1]
    assert abs(logdet - expected) <= 1e-10 * max(1.0, abs(expected))
