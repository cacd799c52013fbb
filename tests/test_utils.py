import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skfactor import BalancedSparseNMF, MultilevelFactorModel, RidgeCPD
from skfactor.utils._docstrings import fill_doc
from skfactor.utils._linalg import (
    column_signs,
    gram_svd,
    low_rank_projection,
    ridge_solve,
    truncated_svd,
)
from skfactor.utils._scaling import row_scale_exponents, scale_exponent
from skfactor.utils._monitor import ConvergenceMonitor
from skfactor.utils.validation import check_finite_scale, check_nonnegative


def test_monitor_stops_on_relative_change():
    monitor = ConvergenceMonitor(tol=1e-2, max_iter=50)
    monitor.start(100.0)
    assert not monitor.update(50.0)
    assert not monitor.update(40.0)
    assert monitor.update(39.9)  # relative change 2.5e-3
    assert monitor.converged and monitor.n_iter == 3
    assert monitor.history == [100.0, 50.0, 40.0, 39.9]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitor.warn_if_not_converged()


def test_monitor_max_iter_and_warning():
    monitor = ConvergenceMonitor(tol=1e-12, max_iter=3, name="Solver")
    monitor.start(10.0)
    stops = [monitor.update(10.0 - k) for k in range(1, 4)]
    assert stops == [False, False, True] and not monitor.converged
    with pytest.warns(
        ConvergenceWarning, match="Solver did not converge in max_iter=3"
    ):
        monitor.warn_if_not_converged()


@pytest.mark.parametrize(
    "estimator",
    [
        BalancedSparseNMF(n_components=2, max_iter=1, random_state=0),
        RidgeCPD(n_components=2, max_iter=1, random_state=0),
        MultilevelFactorModel(max_iter=1),
    ],
    ids=lambda estimator: type(estimator).__name__,
)
def test_convergence_warning_points_at_the_callers_line(estimator):
    """The warning names this file, not a module of skfactor or scikit-learn
    (``fit`` is wrapped by scikit-learn's ``_fit_context``)."""
    X = np.random.default_rng(0).uniform(size=(30, 8))
    with pytest.warns(ConvergenceWarning) as record:
        estimator.fit(X)
    assert {w.filename for w in record} == {__file__}


def test_monitor_verbose_prints_a_tenth_at_level_one(capsys):
    for verbose, expected in [(1, 1 + 10), (2, 1 + 95)]:
        monitor = ConvergenceMonitor(tol=0, max_iter=95, verbose=verbose, name="S")
        monitor.start(1.0)
        for k in range(95):
            monitor.update(1.0 / (k + 2))
        lines = capsys.readouterr().out.splitlines()
        # initialization, iterations 10, 20, ..., 90 and the last one (95)
        assert len(lines) == expected, lines
        assert "iteration   95" in lines[-1]


def test_monitor_zero_tol_never_warns():
    monitor = ConvergenceMonitor(tol=0, max_iter=2)
    monitor.start(1.0)
    monitor.update(0.5)
    assert monitor.update(0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitor.warn_if_not_converged()


def test_monitor_zero_objective_converges():
    monitor = ConvergenceMonitor(tol=1e-4, max_iter=10)
    monitor.start(0.0)
    assert monitor.update(0.0) and monitor.converged


def test_monitor_non_finite_raises():
    monitor = ConvergenceMonitor(tol=1e-4, max_iter=10, name="MU")
    monitor.start(1.0)
    with pytest.raises(
        ValueError, match="MU: the objective became nan at iteration 1"
    ) as exc:
        monitor.update(np.nan)
    assert isinstance(exc.value, FloatingPointError)


def test_monitor_verbose(capsys):
    monitor = ConvergenceMonitor(
        tol=1e-4, max_iter=10, verbose=1, name="EM", objective_name="log-likelihood"
    )
    monitor.start(-3.0)
    monitor.update(-2.0)
    out = capsys.readouterr().out
    assert "[EM] initialization: log-likelihood -3.0" in out
    assert "[EM] iteration    1: log-likelihood -2.0" in out
    assert "relative change 3.333e-01" in out


def test_fill_doc():
    @fill_doc
    class A:
        """Summary.

        Parameters
        ----------
        {{tol=1e-4}}
        {{random_state}}

        Notes
        -----
        .. math:: x^{2}
        """

    doc = A.__doc__
    assert "    tol : float, default=1e-4\n" in doc
    assert "random_state : int, RandomState instance or None" in doc
    assert "x^{2}" in doc and "{{" not in doc

    with pytest.raises(KeyError, match="nope"):
        fill_doc(type("B", (), {"__doc__": "    {{nope}}"}))


@pytest.mark.parametrize("to_matrix", [np.asarray, sp.csr_matrix])
def test_check_nonnegative(to_matrix):
    check_nonnegative(to_matrix(np.array([[0.0, 1.0], [2.0, 0.0]])), "fit")
    with pytest.raises(ValueError, match=r"Est.fit: 1 negative entry \(minimum -2\)"):
        check_nonnegative(to_matrix(np.array([[0.0, 1.0], [-2.0, 0.0]])), "Est.fit")


def test_fill_doc_with_family_fragments():
    @fill_doc(fragments={"n_regimes": "n_regimes : int, default=2\n    Regimes."})
    class A:
        """Summary.

        Parameters
        ----------
        {{n_regimes}}
        {{max_iter=100}}
        """

    assert "        n_regimes : int, default=2\n            Regimes." in A.__doc__
    assert "max_iter : int, default=100" in A.__doc__


@pytest.mark.parametrize("to_matrix", [np.asarray, sp.csr_matrix])
def test_check_finite_scale(to_matrix):
    check_finite_scale(to_matrix(np.array([[0.0, 1e100], [-1e150, 0.0]])), "fit")
    check_finite_scale(np.zeros((0, 3)), "fit")
    with pytest.raises(
        ValueError, match=r"y passed to Est.fit has values up to 1e\+200"
    ):
        check_finite_scale(to_matrix(np.array([[0.0, -1e200]])), "Est.fit", name="y")


@pytest.mark.parametrize("shape, k", [((30, 20), 3), ((400, 300), 5), ((50, 2), 2)])
def test_truncated_svd_matches_the_dense_svd(shape, k):
    """Exact path (small) and randomized path (large, decaying spectrum)."""
    rng = np.random.default_rng(0)
    m, n = shape
    r = min(m, n)
    A = (rng.standard_normal((m, r)) * 0.7 ** np.arange(r)) @ np.linalg.qr(
        rng.standard_normal((n, r))
    )[0].T
    U, S, Vt = truncated_svd(A, k, random_state=0)
    S_exact = np.linalg.svd(A, compute_uv=False)[:k]
    np.testing.assert_allclose(S, S_exact, rtol=1e-6)
    np.testing.assert_allclose(U.T @ U, np.eye(k), atol=1e-8)
    np.testing.assert_allclose(U.T @ A, S[:, None] * Vt, atol=1e-6 * S[0])
    np.testing.assert_array_equal(column_signs(U), np.ones(k))
    assert truncated_svd(A, 0)[0].shape == (m, 0)
    with pytest.raises(ValueError, match="k must be in"):
        truncated_svd(A, r + 1)


@pytest.mark.parametrize("sparse", [False, True])
def test_low_rank_projection_is_exact_on_its_range(sparse):
    """Q has orthonormal columns, B = Q^T A, and Q B is A itself when A's
    rank is at most the size; sparse and dense A of full rank give the same
    sketch."""
    rng = np.random.default_rng(0)
    A = rng.uniform(size=(40, 3)) @ rng.uniform(size=(3, 25))
    data = sp.csr_matrix(A) if sparse else A
    Q, B = low_rank_projection(data, 5, n_iter=2, random_state=0)
    assert Q.shape == (40, 5) and B.shape == (5, 25)
    np.testing.assert_allclose(Q.T @ Q, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(B, Q.T @ A, atol=1e-12)
    np.testing.assert_allclose(Q @ B, A, atol=1e-12)
    left = np.linalg.qr(rng.standard_normal((40, 25)))[0]
    right = np.linalg.qr(rng.standard_normal((25, 25)))[0]
    A = (left * 0.5 ** np.arange(25)) @ right.T
    data = sp.csr_matrix(A) if sparse else A
    Q, B = low_rank_projection(data, 5, n_iter=2, random_state=0)
    Q_dense, B_dense = low_rank_projection(A, 5, n_iter=2, random_state=0)
    np.testing.assert_allclose(Q, Q_dense, atol=1e-10)
    np.testing.assert_allclose(B, B_dense, atol=1e-10)


def _with_spectrum(m, n, values, seed=0):
    """An m x n matrix with the given nonzero singular values."""
    rng = np.random.default_rng(seed)
    r = len(values)
    left = np.linalg.qr(rng.standard_normal((m, r)))[0]
    right = np.linalg.qr(rng.standard_normal((n, r)))[0]
    return (left * np.asarray(values, dtype=float)) @ right.T


@pytest.mark.parametrize("shape, k", [((20, 600), 3), ((6, 50), 6), ((300, 8), 4)])
def test_gram_svd_is_the_dense_svd(shape, k):
    # wide, square-in-k and tall: the triplets of the full SVD, in the sign
    # convention of truncated_svd, to rounding
    m, n = shape
    r = min(m, n)
    A = _with_spectrum(m, n, 10.0 * 0.6 ** np.arange(r), seed=m)
    U, S, Vt = gram_svd(A, k)
    # entries whose squares would overflow or underflow: the same vectors
    for scale in (2.0**600, 2.0**-600):
        big = gram_svd(A * scale, k)
        np.testing.assert_array_equal(big[0], U)
        np.testing.assert_array_equal(big[1], S * scale)
        np.testing.assert_array_equal(big[2], Vt)
    U0, S0, Vt0 = np.linalg.svd(A, full_matrices=False)
    signs = column_signs(U0[:, :k])
    np.testing.assert_allclose(S, S0[:k], rtol=1e-12)
    np.testing.assert_allclose(U, U0[:, :k] * signs, atol=1e-12)
    np.testing.assert_allclose(Vt, Vt0[:k] * signs[:, None], atol=1e-12)


def test_gram_svd_declines_close_or_missing_singular_values():
    # a repeated pair among the first k (its vectors are not determined):
    # no answer; repeated just below the k + 1-th: the first k are
    repeated = _with_spectrum(6, 80, [3.0, 2.0, 2.0, 1.0])
    assert gram_svd(repeated, 2) is None
    assert gram_svd(repeated, 3) is None
    for got, exact in zip(gram_svd(repeated, 1), truncated_svd(repeated, 1)):
        np.testing.assert_allclose(got, exact, atol=1e-12)
    tail = _with_spectrum(6, 80, [3.0, 2.0, 1.0, 1.0])
    np.testing.assert_allclose(gram_svd(tail, 2)[1], [3.0, 2.0], rtol=1e-12)
    # rank 2 asked for 3 triplets; a third singular value whose vectors the
    # bound leaves above rtol (at s_3 = 2e-3, 4e-8 for u_3 and s_1 / s_3 =
    # 1500 times that for v_3), and one whose vectors it does not (1e-2)
    assert gram_svd(_with_spectrum(6, 80, [3.0, 2.0]), 3) is None
    assert gram_svd(_with_spectrum(6, 80, [3.0, 2.0, 2e-3]), 3) is None
    assert gram_svd(_with_spectrum(6, 80, [3.0, 2.0, 1e-2]), 3) is not None
    assert gram_svd(np.zeros((3, 5)), 1) is None
    with pytest.raises(ValueError, match="k must be in"):
        gram_svd(np.ones((3, 5)), 4)


@settings(max_examples=60, deadline=None)
@given(
    log2=st.floats(-1000, 1000),
    multiple=st.integers(1, 4),
)
def test_scale_exponent_is_exact_and_brings_data_near_one(log2, multiple):
    max_abs = 2.0**log2 if abs(log2) < 1020 else 1.0
    e = scale_exponent(max_abs, multiple)
    assert e % multiple == 0
    if abs(log2) <= 20:
        assert e == 0
    else:
        # the rescaled maximum is within a factor 2**(multiple/2 + 1) of one
        assert abs(np.log2(np.ldexp(max_abs, -e))) <= multiple / 2 + 1
        x = np.array([max_abs, max_abs / 3])
        np.testing.assert_array_equal(np.ldexp(np.ldexp(x, -e), e), x)


def test_row_scale_exponents_put_rows_in_half_open_unit_interval():
    rows = np.array([1e300, 3.0, 1e-300, 0.0])
    scaled = np.ldexp(rows, -row_scale_exponents(rows))
    assert np.all((scaled[:3] >= 0.5) & (scaled[:3] < 1.0)) and scaled[3] == 0


@pytest.mark.parametrize("alpha", [0.0, 1e-3, 10.0])
def test_ridge_solve_against_the_normal_equations(alpha):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((20, 4))
    A[:, 3] = A[:, 2]  # rank-deficient Gram matrix when alpha = 0
    b = rng.standard_normal((20, 2))
    x = ridge_solve(A.T @ A, A.T @ b, alpha)
    if alpha > 0:
        expected = np.linalg.solve(A.T @ A + alpha * np.eye(4), A.T @ b)
    else:
        expected = np.linalg.pinv(A) @ b  # the minimum-norm solution
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-8)


def test_ridge_solve_falls_back_to_least_squares_when_ill_posed():
    # Positive definite, but the pivots are 1e-14 apart: a direct solve would
    # amplify the right-hand side by 1e14; the least-squares solution drops
    # the direction below its cutoff.
    gram = np.diag([1.0, 1e-14])
    np.testing.assert_allclose(ridge_solve(gram, np.ones(2), 0.0), [1.0, 0.0])
    # a well-posed system is solved directly, whatever alpha
    np.testing.assert_allclose(
        ridge_solve(np.diag([2.0, 4.0]), np.ones(2), 0.0), [0.5, 0.25]
    )


def test_cholesky_solve_in_place_against_numpy():
    from skfactor.utils._small_linalg import cholesky_solve_in_place

    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 6))
    S = A @ A.T + 0.1 * np.eye(6)
    B = rng.standard_normal((6, 3))
    out = B.copy()
    cholesky_solve_in_place(S.copy(), out)
    np.testing.assert_allclose(out, np.linalg.solve(S, B), rtol=1e-10, atol=1e-12)
    vector = B[:, 0].copy()  # a 1-D right-hand side through a (d, 1) view
    cholesky_solve_in_place(S.copy(), vector.reshape((6, 1)))
    np.testing.assert_allclose(vector, np.linalg.solve(S, B[:, 0]), rtol=1e-10)
