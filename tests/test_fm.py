"""ProxFMClassifier: learning, stability, estimator surface and bad input."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss, roc_auc_score

from skfactor import ProxFMClassifier
from skfactor.datasets import load_movielens_100k, make_fm_classification
from skfactor.datasets._movielens import locate_movielens_100k


@pytest.fixture(scope="module")
def fm_data():
    X, y, truth = make_fm_classification(
        n_samples=8000, n_fields=5, n_categories=12, random_state=0
    )
    return X[:6000], y[:6000], X[6000:], y[6000:], truth.decision[6000:]


def _dense_proba(clf, X):
    """Reference forward pass: explicit double loop over feature pairs."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    out = []
    for x in X:
        s = clf.intercept_ + x @ clf.coef_
        for i in range(x.size):
            for j in range(i + 1, x.size):
                s += x[i] * x[j] * (clf.components_[i] @ clf.components_[j])
        out.append(s)
    return expit(np.array(out))


def test_learns_pairwise_term_close_to_oracle(fm_data):
    X, y, X_test, y_test, true_decision = fm_data
    fm = ProxFMClassifier(n_components=3, random_state=0).fit(X, y)
    linear = ProxFMClassifier(n_components=0, random_state=0).fit(X, y)
    auc_fm = roc_auc_score(y_test, fm.decision_function(X_test))
    auc_linear = roc_auc_score(y_test, linear.decision_function(X_test))
    auc_oracle = roc_auc_score(y_test, true_decision)
    assert auc_fm >= auc_oracle - 0.02
    assert auc_fm >= auc_linear + 0.05  # the pairwise term is learned
    p = fm.predict_proba(X_test)[:, 1]
    assert (
        log_loss(y_test, p)
        < log_loss(y_test, linear.predict_proba(X_test)[:, 1]) - 0.03
    )
    # the learned interactions correlate with the true ones
    _, _, truth = make_fm_classification(
        n_samples=8000, n_fields=5, n_categories=12, random_state=0
    )
    true_inter = truth.components @ truth.components.T
    learned = fm.components_ @ fm.components_.T
    iu = np.triu_indices_from(true_inter, k=1)
    assert np.corrcoef(true_inter[iu], learned[iu])[0, 1] > 0.6


def test_seed_step_diverges_and_default_is_stable(fm_data):
    """The seed's fixed step 1/(2d+1) without penalty diverges; the default does not."""
    X, y = fm_data[0], fm_data[1]
    d = 5
    seed = ProxFMClassifier(
        n_components=3,
        step_size=1 / (2 * d + 1),
        alpha=0.0,
        schedule="constant",
        bias_step_scale=1.0,
        average=False,
        init_std=0.01,
        max_iter=15,
        random_state=0,
    ).fit(X, y)
    ours = ProxFMClassifier(n_components=3, max_iter=15, random_state=0).fit(X, y)
    seed_curve, our_curve = np.array(seed.loss_curve_), np.array(ours.loss_curve_)
    assert seed_curve[-1] > seed_curve.min() + 0.1  # the loss climbs back up
    assert np.abs(seed.components_).max() > 2 * np.abs(ours.components_).max()
    # ours: decreasing apart from small noise, ending near its minimum
    assert our_curve[-1] < our_curve[0] - 0.1
    assert np.all(np.diff(our_curve[3:]) < 0.01)
    assert our_curve[-1] <= our_curve.min() + 0.005


def test_probabilities_match_dense_forward_pass(fm_data):
    X, y = fm_data[0][:500], fm_data[1][:500]
    clf = ProxFMClassifier(n_components=2, max_iter=3, random_state=0).fit(X, y)
    proba = clf.predict_proba(X[:20])
    np.testing.assert_allclose(proba[:, 1], _dense_proba(clf, X[:20]), rtol=1e-10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X[:20])), proba, rtol=1e-12)
    np.testing.assert_array_equal(
        clf.predict(X[:20]), clf.classes_[(proba[:, 1] > 0.5).astype(int)]
    )


def test_real_valued_features(fm_data):
    X, y, truth = make_fm_classification(
        n_samples=6000, n_fields=2, n_categories=5, n_numeric=3, random_state=1
    )
    clf = ProxFMClassifier(n_components=3, random_state=0).fit(X[:4500], y[:4500])
    auc = roc_auc_score(y[4500:], clf.decision_function(X[4500:]))
    assert auc >= roc_auc_score(y[4500:], truth.decision[4500:]) - 0.03
    np.testing.assert_allclose(
        clf.predict_proba(X[:10])[:, 1], _dense_proba(clf, X[:10]), rtol=1e-10
    )


def test_input_formats_give_identical_fits(fm_data):
    X, y = fm_data[0][:400], fm_data[1][:400]
    params = dict(n_components=2, max_iter=2, random_state=3)
    ref = ProxFMClassifier(**params).fit(X, y)
    for Xf in (X.tocsc(), X.toarray(), X.astype(np.float32), sp.csr_array(X)):
        other = ProxFMClassifier(**params).fit(Xf, y)
        np.testing.assert_array_equal(other.components_, ref.components_)
        np.testing.assert_array_equal(other.coef_, ref.coef_)
        np.testing.assert_allclose(
            other.predict_proba(Xf), ref.predict_proba(X), rtol=1e-6
        )
    again = ProxFMClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(again.components_, ref.components_)


def test_any_binary_labels_and_classes(fm_data):
    X, y = fm_data[0][:300], fm_data[1][:300]
    labels = np.where(y == 1, "like", "dislike")
    clf = ProxFMClassifier(max_iter=2, random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["dislike", "like"]
    assert set(clf.predict(X)) <= {"like", "dislike"}
    num = ProxFMClassifier(max_iter=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.components_, num.components_)


def test_partial_fit_is_one_epoch_and_learns_online(fm_data):
    X, y, X_test, y_test, _ = fm_data
    one = ProxFMClassifier(
        n_components=3, max_iter=1, shuffle=False, random_state=0
    ).fit(X, y)
    online = ProxFMClassifier(n_components=3, shuffle=False, random_state=0)
    online.partial_fit(X, y, classes=[0, 1])
    np.testing.assert_allclose(online.components_, one.components_)
    assert online.t_ == 1 and len(online.loss_curve_) == 1
    # a stream of small batches: a constant step (the user guide's advice),
    # since "invscaling" decays the step at every call
    stream = ProxFMClassifier(n_components=3, schedule="constant", random_state=0)
    for start in range(0, 6000, 500):
        stream.partial_fit(
            X[start : start + 500], y[start : start + 500], classes=[0, 1]
        )
    assert stream.t_ == 12
    assert roc_auc_score(y_test, stream.decision_function(X_test)) > 0.75


def test_partial_fit_over_chunks_equals_one_epoch_of_fit(fm_data):
    """Chunks fed in order to partial_fit make the same steps as one epoch of fit.

    With a constant step schedule (``"invscaling"`` advances at every call),
    no shuffling and averaging on: the iterate, its average and the averaging
    clock carry over between calls.
    """
    X, y = fm_data[0][:900], fm_data[1][:900]
    params = dict(n_components=3, schedule="constant", shuffle=False, random_state=0)
    one = ProxFMClassifier(max_iter=1, **params).fit(X, y)
    online = ProxFMClassifier(**params)
    for chunk in np.array_split(np.arange(900), 4):
        online.partial_fit(X[chunk], y[chunk], classes=[0, 1])
    np.testing.assert_allclose(online.components_, one.components_, rtol=1e-12)
    np.testing.assert_allclose(online.coef_, one.coef_, rtol=1e-12, atol=1e-15)
    assert online.intercept_ == pytest.approx(one.intercept_, rel=1e-12)
    assert np.mean(online.loss_curve_) == pytest.approx(one.loss_curve_[0], rel=1e-12)


def test_average_changes_only_the_published_parameters(fm_data):
    """Averaging does not alter training; it continues across partial_fit calls."""
    X, y = fm_data[0][:1000], fm_data[1][:1000]
    params = dict(n_components=3, max_iter=4, random_state=0)
    last = ProxFMClassifier(average=False, **params).fit(X, y)
    avg = ProxFMClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(last.loss_curve_, avg.loss_curve_)
    np.testing.assert_array_equal(last._iterate[2], avg._iterate[2])
    np.testing.assert_array_equal(last.components_, last._iterate[2])
    assert np.abs(avg.components_ - avg._iterate[2]).max() > 1e-3
    np.testing.assert_allclose(
        avg.predict_proba(X[:20])[:, 1], _dense_proba(avg, X[:20]), rtol=1e-10
    )
    # two partial_fit halves with a constant step are one epoch of fit, average included
    one = dict(n_components=3, schedule="constant", shuffle=False, random_state=0)
    whole = ProxFMClassifier(max_iter=1, **one).fit(X, y)
    halves = ProxFMClassifier(**one)
    halves.partial_fit(X[:500], y[:500], classes=[0, 1])
    halves.partial_fit(X[500:], y[500:])
    np.testing.assert_allclose(
        halves.components_, whole.components_, rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(halves.coef_, whole.coef_, rtol=1e-12, atol=1e-14)
    assert halves.intercept_ == pytest.approx(whole.intercept_, rel=1e-12)


def test_partial_fit_errors(fm_data):
    X, y = fm_data[0][:100], fm_data[1][:100]
    clf = ProxFMClassifier()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="Only binary classification.*3 class"):
        ProxFMClassifier().partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels \[7\]"):
        clf.partial_fit(X, np.full(100, 7))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :10], y)


def test_sample_weight_zero_equals_dropping_and_scales_step(fm_data):
    X, y = fm_data[0][:300], fm_data[1][:300]
    params = dict(n_components=2, max_iter=3, shuffle=False, random_state=0)
    weights = np.ones(300)
    weights[::3] = 0.0
    weighted = ProxFMClassifier(**params).fit(X, y, sample_weight=weights)
    keep = weights > 0
    dropped = ProxFMClassifier(**params).fit(X[keep], y[keep])
    np.testing.assert_allclose(weighted.components_, dropped.components_, atol=1e-12)
    np.testing.assert_allclose(weighted.coef_, dropped.coef_, atol=1e-12)
    # a uniform weight w is the same as a step w times larger
    w2 = ProxFMClassifier(step_size=0.05, **params).fit(
        X, y, sample_weight=np.full(300, 2.0)
    )
    s2 = ProxFMClassifier(step_size=0.1, **params).fit(X, y)
    np.testing.assert_allclose(w2.components_, s2.components_, atol=1e-12)


def test_empty_rows_only_move_the_global_bias():
    X = sp.csr_matrix((4, 6))
    y = np.array([0, 1, 1, 1])
    clf = ProxFMClassifier(n_components=2, max_iter=5, random_state=0, init_std=0.1)
    clf.fit(X, y)
    assert np.all(clf.coef_ == 0)
    init = ProxFMClassifier(n_components=2, random_state=0, init_std=0.1, max_iter=1)
    init._initialize(6, np.random.RandomState(0))
    np.testing.assert_array_equal(clf.components_, init.components_)
    assert clf.intercept_ > 0  # three positives out of four
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expit(clf.intercept_))


def test_step_size_above_convexity_bound_is_rejected(fm_data):
    X, y = fm_data[0][:50], fm_data[1][:50]  # 5 indicators a row: L = 4
    with pytest.raises(ValueError, match=r"step_size < .*0\.25.*L = .*4"):
        ProxFMClassifier(step_size=0.3, alpha=0.0).fit(X, y)
    ProxFMClassifier(step_size=0.24, alpha=0.0, max_iter=1).fit(X, y)
    # the penalty relaxes the bound: eta (L - alpha) < 1
    ProxFMClassifier(step_size=0.26, alpha=0.2, max_iter=1).fit(X, y)
    # the bias step has no bound: only the latent-vector step is checked
    ProxFMClassifier(step_size=0.24, alpha=0.0, bias_step_scale=50.0, max_iter=1).fit(
        X, y
    )
    with pytest.raises(ValueError, match="sample_weight"):
        ProxFMClassifier(step_size=0.2, alpha=0.0).fit(
            X, y, sample_weight=np.full(50, 2.0)
        )
    auto = ProxFMClassifier(max_iter=1).fit(X, y)
    assert auto.step_size_ == pytest.approx(0.25 / 4)


def test_without_latent_vectors_every_step_is_accepted(fm_data):
    # no latent vectors, no bilinear term: the proximal subproblem is a
    # logistic loss plus a quadratic, convex for every step
    X, y = fm_data[0][:200], fm_data[1][:200]
    curves = {}
    for step in (0.3, 100.0):  # above the bound 1 / L = 0.25 of k > 0
        clf = ProxFMClassifier(
            n_components=0, step_size=step, alpha=0.0, schedule="constant", max_iter=3
        ).fit(X, y)
        assert clf.step_size_ == step
        assert np.all(np.isfinite(clf.coef_)) and np.isfinite(clf.intercept_)
        curves[step] = clf.loss_curve_
    assert curves[0.3][-1] < np.log(2.0)  # it learns
    # a huge step chases each sample, but every step is a bounded proximal
    # move (the dual variable lies in [0, 1]): no overflow, no divergence
    assert np.all(np.isfinite(curves[100.0]))


def test_bad_input_gives_clear_errors(fm_data):
    X, y = fm_data[0][:50].toarray(), fm_data[1][:50]
    with pytest.raises(ValueError, match="Only binary classification.*3 class"):
        ProxFMClassifier().fit(X, np.arange(50) % 3)
    with pytest.raises(ValueError, match="class"):
        ProxFMClassifier().fit(X, np.zeros(50))
    with pytest.raises(ValueError, match="Unknown label type"):
        ProxFMClassifier().fit(X, np.linspace(0, 1, 50))
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[0, 0] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            ProxFMClassifier().fit(Xb, y)
    with pytest.raises(ValueError, match="too large"):
        ProxFMClassifier().fit(X * 1e300, y)
    with pytest.raises(ValueError, match="Complex"):
        ProxFMClassifier().fit(X + 1j, y)
    with pytest.raises(ValueError, match="n_components"):
        ProxFMClassifier(n_components=-1).fit(X, y)
    with pytest.raises(ValueError, match="step_size"):
        ProxFMClassifier(step_size=-0.1).fit(X, y)
    clf = ProxFMClassifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5])
    with pytest.raises(ValueError, match="overflows"):
        clf.predict_proba(X * 1e200)


def test_tiny_and_negative_values_are_fine(fm_data):
    """Negative values do not affect the step bound (it involves squares only)."""
    X, y, X_test, y_test, _ = fm_data
    signs = np.where(np.arange(X.shape[1]) % 2, -1.0, 1.0)
    flip = sp.diags(signs)
    neg = ProxFMClassifier(n_components=3, random_state=0).fit(X @ flip, y)
    pos = ProxFMClassifier(n_components=3, random_state=0).fit(X, y)
    # flipping a feature's sign is absorbed by its parameters: same quality
    auc_neg = roc_auc_score(y_test, neg.decision_function(X_test @ flip))
    auc_pos = roc_auc_score(y_test, pos.decision_function(X_test))
    assert auc_neg == pytest.approx(auc_pos, abs=0.02)
    X, y = X[:200].toarray(), y[:200]
    tiny = ProxFMClassifier(max_iter=3, random_state=0).fit(X * 1e-300, y)
    assert np.all(np.isfinite(tiny.predict_proba(X * 1e-300)))


def test_warm_start_continues_schedule(fm_data):
    X, y = fm_data[0][:500], fm_data[1][:500]
    clf = ProxFMClassifier(max_iter=2, warm_start=True, random_state=0).fit(X, y)
    first = clf.components_.copy()
    clf.fit(X, y)
    assert clf.t_ == 4 and len(clf.loss_curve_) == 4
    assert not np.array_equal(first, clf.components_)
    cold = ProxFMClassifier(max_iter=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(cold.components_, first)


def test_verbose_tol_and_pickle(fm_data, capsys):
    X, y = fm_data[0][:500], fm_data[1][:500]
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        clf = ProxFMClassifier(max_iter=2, tol=1e-12, verbose=1, random_state=0).fit(
            X, y
        )
    out = capsys.readouterr().out
    assert "training loss" in out and out.count("iteration") == 2
    assert clf.n_iter_ == 2 and len(clf.objective_) == 3
    assert clf.objective_[1:] == clf.loss_curve_
    stopped = ProxFMClassifier(max_iter=50, tol=0.05, random_state=0).fit(X, y)
    assert stopped.n_iter_ < 50
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


# ------------------------------------------------------------------ datasets
def test_make_fm_classification_truth():
    X, y, truth = make_fm_classification(
        n_samples=300, n_fields=3, n_categories=4, n_numeric=2, random_state=0
    )
    assert X.shape == (300, 14) and set(np.unique(y)) <= {0, 1}
    assert np.all(X[:, :12].getnnz(axis=1) == 3)
    proba = _dense_proba(
        type(
            "T",
            (),
            dict(
                intercept_=truth.intercept,
                coef_=truth.coef,
                components_=truth.components,
            ),
        ),
        X[:20],
    )
    np.testing.assert_allclose(truth.proba[:20], proba)
    X2, y2, _ = make_fm_classification(
        n_samples=300, n_fields=3, n_categories=4, n_numeric=2, random_state=0
    )
    assert (X2 != X).nnz == 0 and np.array_equal(y, y2)
    with pytest.raises(ValueError, match="n_fields"):
        make_fm_classification(n_fields=0)


def _movielens_home():
    home = locate_movielens_100k(
        Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
    if home is not None:
        return home
    pytest.skip(
        "MovieLens-100k not found (set SKFACTOR_DATA to the folder holding ml-100k)"
    )


@pytest.fixture(scope="module")
def movielens():
    return load_movielens_100k(_movielens_home(), split="ua", download_if_missing=False)


def test_movielens_loader_joins_side_features_on_ids(movielens):
    ml = movielens
    assert ml.data_train.shape == (90570, 2728) and ml.data_test.shape == (9430, 2728)
    nnz = ml.data_train.getnnz(axis=1)
    assert nnz.min() == 6 and nnz.max() == 11
    assert np.all(ml.data_train.data == 1.0)
    np.testing.assert_array_equal(ml.target_train, ml.ratings_train[:, 2] >= 5)
    names = ml.feature_names
    # u.user: "1|24|M|technician", u.item: movie 1 is Toy Story (Animation,
    # Children's, Comedy); ua.base starts with user 1 rating movie 1.
    assert list(ml.ratings_train[0, :3]) == [1, 1, 5]
    assert ml.ratings_train[0, 3] == 874965758  # ua.base's first timestamp
    assert set(names[ml.data_train[0].indices]) == {
        "user=1",
        "movie=1",
        "age=24",
        "gender=M",
        "occupation=technician",
        "genre=Animation",
        "genre=Children's",
        "genre=Comedy",
    }
    # every row has exactly one user, movie, age, gender and occupation
    for field in ("user=", "movie=", "age=", "gender=", "occupation="):
        cols = np.flatnonzero([n.startswith(field) for n in names])
        assert np.all(ml.data_test[:, cols].getnnz(axis=1) == 1)
    full = load_movielens_100k(_movielens_home(), download_if_missing=False)
    assert full.data.shape == (100000, 2728)
    with pytest.raises(ValueError, match="split"):
        load_movielens_100k(_movielens_home(), split="u1")


def test_movielens_missing_files_give_actionable_error(tmp_path):
    with pytest.raises(OSError, match="not found.*SKFACTOR_DATA"):
        load_movielens_100k(tmp_path, download_if_missing=False)


def test_movielens_defaults_beat_logistic_regression_and_match_adagrad(movielens):
    """ua.test with the defaults (chosen on ua.base only; about 5 s).

    Measured: 0.4437 / 0.7849 (random_state=0), against LogisticRegression
    0.4484 / 0.7797 and the validated Adagrad FM 0.4437 / 0.7846. The old
    targets (0.436 / 0.79) are not reached: see the user guide for the
    measured ceiling.
    """
    ml = movielens
    clf = ProxFMClassifier(random_state=0).fit(ml.data_train, ml.target_train)
    p = clf.predict_proba(ml.data_test)[:, 1]
    assert roc_auc_score(ml.target_test, p) > 0.783
    assert log_loss(ml.target_test, p) < 0.446
    assert np.all(np.diff(clf.loss_curve_[2:]) < 0)


def test_movielens_best_documented_setting(movielens):
    """The user guide's best setting on ua.test (about 5 s).

    Measured 0.4431 / 0.7880 (random_state=0).
    """
    ml = movielens
    clf = ProxFMClassifier(
        n_components=20, max_iter=60, bias_step_scale=4.0, random_state=0
    )
    p = clf.fit(ml.data_train, ml.target_train).predict_proba(ml.data_test)[:, 1]
    assert roc_auc_score(ml.target_test, p) > 0.787
    assert log_loss(ml.target_test, p) < 0.4445
