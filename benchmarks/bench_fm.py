"""ProxFMClassifier on MovieLens-100k: throughput and quality against its peers.

1. Throughput of the defaults for k in {4, 8, 16, 32} against the Adagrad FM
   reference (same epochs, same data), median of 5 interleaved runs, one
   BLAS thread. ProxFM is timed end to end (``fit``, with validation and the
   initial loss); Adagrad's time is its epochs only.
2. Quality on four seeded splits of ``ua.base`` (three per-user hold-outs of
   10 ratings, and the latest 10% of the ratings by time), never used to
   choose anything (``search_fm_defaults.py`` chooses on other seeds):
   ProxFM defaults, the Adagrad FM with its validated setting,
   scikit-learn's LogisticRegression and myFM's Bayesian FM (Gibbs sampling,
   when installed). Mean and worst over the splits, the fraction of the
   LogisticRegression -> myFM log-loss gap each method closes, and the
   recommender view: each user's held-out movies ranked by the predicted
   probability (NDCG@10 with graded gains, per-user AUC).
3. Online learning on the time-ordered ratings: each of the last weeks is
   predicted from the ratings before it, by ``partial_fit`` on each new
   week against refitting from scratch on all the past.
4. ``ua.test``, looked at only here, at the end.

    python benchmarks/bench_fm.py [--quick]

The data is looked up in ``SKFACTOR_DATA``, the default data home and the
repository-relative ``../shared/data``; see
:func:`skfactor.datasets.load_movielens_100k`.
"""

import argparse
import contextlib
import os
import pickle
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))  # the reference trainers of the tests
sys.path.insert(0, str(HERE))
from _fm_reference import sgd_fit  # noqa: E402
from _fm_splits import MISSING, judging_splits, load_ua_base, report_header  # noqa: E402
from search_fm_defaults import _scores, adagrad, prox  # noqa: E402

from skfactor import ProxFMClassifier  # noqa: E402

# The Adagrad reference's setting chosen by search_fm_defaults.py.
ADAGRAD = dict(lr=0.1, lam_b=0.003, lam_v=0.05, epochs=15)


def throughput(X, y, ks, reps, epochs):
    """``{k: (prox samples/s, adagrad samples/s)}``, medians of interleaved runs."""
    ProxFMClassifier(max_iter=1).fit(X[:50], y[:50])  # compile outside the timings
    sgd_fit(X[:50], y[:50], 4, 1, 0.1)
    out = {}
    for k in ks:
        ours, peer = [], []
        for rep in range(reps):
            clf = ProxFMClassifier(n_components=k, max_iter=epochs, random_state=rep)
            start = time.perf_counter()
            clf.fit(X, y)
            ours.append(epochs * X.shape[0] / (time.perf_counter() - start))
            _, _, seconds = sgd_fit(
                X, y, k, epochs, lr=0.1, lam_b=0.003, lam_v=0.05, random_state=rep
            )
            peer.append(epochs * X.shape[0] / seconds)
        out[k] = float(np.median(ours)), float(np.median(peer))
    return out


def ranking(ratings, p, k=10):
    """Mean over users of NDCG@k and of the per-user AUC of the scores ``p``.

    ``ratings``: the test rows (user, movie, rating, ...). NDCG uses the
    graded gain ``2^rating - 1``; the AUC counts users with both 5-star and
    other test ratings.
    """
    from sklearn.metrics import ndcg_score, roc_auc_score

    ndcg, auc = [], []
    users = ratings[:, 0]
    for user in np.unique(users):
        rows = users == user
        if rows.sum() < 2:
            continue
        gains = 2.0 ** ratings[rows, 2] - 1.0
        ndcg.append(ndcg_score(gains[None], p[rows][None], k=k))
        liked = ratings[rows, 2] >= 5
        if 0 < liked.sum() < liked.size:
            auc.append(roc_auc_score(liked, p[rows]))
    return float(np.mean(ndcg)), float(np.mean(auc))


def logistic(X, y, X_test, C=3.0):
    lr = LogisticRegression(C=C, max_iter=2000).fit(X, y)
    return lr.predict_proba(X_test)[:, 1]


def myfm_gibbs(n_iter):
    import myfm

    def fit_predict(X, y, X_test):
        fm = myfm.MyFMClassifier(rank=8, random_seed=0)
        with warnings.catch_warnings(), open(os.devnull, "w") as devnull:
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(devnull):  # its progress bar
                fm.fit(X, y, n_iter=n_iter, n_kept_samples=n_iter * 3 // 4)
        return fm.predict_proba(X_test)

    return fit_predict


def online_rows(X, y, ratings, n_weeks, passes=(1, 3)):
    """``partial_fit`` on each new week against refitting on all the past.

    The ratings are cut into weeks by timestamp. For each of the last
    ``n_weeks`` weeks, every model predicts that week's ratings having seen
    only the earlier ones: *refit* is ``ProxFMClassifier().fit`` on all the
    past ratings; *partial_fit* starts as the first refit, then at each week
    calls ``partial_fit`` (``n`` passes) on the ratings of the week just
    ended only. Returns the markdown rows (mean and worst week).
    """
    week = ((ratings[:, 3] - ratings[:, 3].min()) // (7 * 86400)).astype(int)
    weeks = np.arange(week.max() - n_weeks + 1, week.max() + 1)
    results = {"refit on all the past": []}
    results.update({f"partial_fit, {n} pass(es) per week": [] for n in passes})
    online = {}
    for w in weeks:
        past, now = week < w, week == w
        start = time.perf_counter()
        refit = ProxFMClassifier(random_state=0).fit(X[past], y[past])
        elapsed = time.perf_counter() - start
        p = refit.predict_proba(X[now])[:, 1]
        results["refit on all the past"].append((*_scores(y[now], p), elapsed))
        if not online:  # the online models start from the first refit
            online = {n: pickle.loads(pickle.dumps(refit)) for n in passes}
            for n in passes:
                results[f"partial_fit, {n} pass(es) per week"].append(
                    results["refit on all the past"][-1]
                )
            continue
        new = week == w - 1
        for n in passes:
            start = time.perf_counter()
            for _ in range(n):
                online[n].partial_fit(X[new], y[new])
            elapsed = time.perf_counter() - start
            p = online[n].predict_proba(X[now])[:, 1]
            name = f"partial_fit, {n} pass(es) per week"
            results[name].append((*_scores(y[now], p), elapsed))
    rows = []
    for name, values in results.items():
        v = np.array(values[1:])  # week 1 is the same fit for every method
        rows.append(
            f"| {name} | {v[:, 0].mean():.4f} | {v[:, 0].max():.4f} | "
            f"{v[:, 1].mean():.4f} | {v[:, 1].min():.4f} | {v[:, 2].mean():.3f} |"
        )
    return rows


def methods(quick):
    out = [
        ("ProxFMClassifier defaults", prox({})),
        ("Adagrad FM (validated setting)", adagrad(ADAGRAD)),
        ("LogisticRegression(C=3)", logistic),
    ]
    try:
        import myfm  # noqa: F401
    except ImportError:
        return out
    n_iter = 50 if quick else 200
    return out + [(f"myFM Gibbs, rank 8, {n_iter} sweeps", myfm_gibbs(n_iter))]


def run(quick=False):
    """Run the benchmark and return its markdown report."""
    header = report_header("bench_fm: MovieLens-100k", quick)
    ml = load_ua_base()
    if ml is None:
        return header + MISSING
    X, y, X_test, y_test = ml.data_train, ml.target_train, ml.data_test, ml.target_test
    lines = [header]

    # 1. throughput
    reps, epochs = (2, 5) if quick else (5, 30)
    with threadpool_limits(1):
        rates = throughput(X, y, (4, 8, 16, 32), reps, epochs)
    lines += [
        f"#### Throughput ({X.shape[0]} ratings of ua.base, {epochs} epochs, median "
        f"of {reps}, one BLAS thread)\n",
        "| k | ProxFMClassifier (samples/s) | Adagrad FM (samples/s) | ratio |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for k, (ours, peer) in rates.items():
        lines.append(f"| {k} | {ours:,.0f} | {peer:,.0f} | {ours / peer:.2f} |")
    worst = min(rates.values(), key=lambda r: r[0] / r[1])
    k = ProxFMClassifier().n_components
    lines.append(
        f"\nTargets (defaults, k = {k}): >= 2.0 M samples/s and >= 1.1x Adagrad; "
        f"measured {rates[k][0] / 1e6:.2f} M and {rates[k][0] / rates[k][1]:.2f}x "
        f"(worst ratio over k {worst[0] / worst[1]:.2f}).\n"
    )

    # 2. seeded splits of ua.base
    splits = judging_splits(ml.ratings_train)[: 2 if quick else None]
    table, ranks = {}, {}
    ratings = ml.ratings_train
    with threadpool_limits(1):
        for name, fit_predict in methods(quick):
            start = time.perf_counter()
            scores, rank = [], []
            for split, train, test in splits:
                p = fit_predict(X[train], y[train], X[test])
                scores.append(_scores(y[test], p))
                if split.startswith("per-user"):
                    rank.append(ranking(ratings[test], p))
            table[name] = np.array(scores)
            ranks[name] = np.array(rank)
            table[name + " time"] = time.perf_counter() - start
    names = [n for n in table if not n.endswith(" time")]
    lr_name = "LogisticRegression(C=3)"
    ceiling = next((n for n in names if n.startswith("myFM")), None)
    lines += [
        f"#### Quality on {len(splits)} seeded splits of ua.base "
        f"({'; '.join(s[0] for s in splits)})\n",
        "| method | mean log-loss | worst log-loss | mean AUC | worst AUC "
        "| gap closed, mean | gap closed, worst split | fit time, all splits (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        s = table[name]
        if ceiling is not None:
            gap = (table[lr_name][:, 0] - s[:, 0]) / (
                table[lr_name][:, 0] - table[ceiling][:, 0]
            )
            closed = f"{gap.mean():.0%} | {gap.min():.0%}"
        else:
            closed = "- | -"
        lines.append(
            f"| {name} | {s[:, 0].mean():.4f} | {s[:, 0].max():.4f} | "
            f"{s[:, 1].mean():.4f} | {s[:, 1].min():.4f} | {closed} | "
            f"{table[name + ' time']:.1f} |"
        )
    per_split = [
        "\nPer split (log-loss / AUC):\n",
        "| method | " + " | ".join(s[0] for s in splits) + " |",
        "| --- |" + " ---: |" * len(splits),
    ]
    for name in names:
        per_split.append(
            f"| {name} | "
            + " | ".join(f"{a:.4f} / {b:.4f}" for a, b in table[name])
            + " |"
        )
    lines += per_split
    lines += [
        "\nRanking each user's held-out movies by the predicted probability "
        "(per-user splits; mean over users, then mean and worst over splits):\n",
        "| method | NDCG@10, mean | NDCG@10, worst | per-user AUC, mean "
        "| per-user AUC, worst |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        r = ranks[name]
        lines.append(
            f"| {name} | {r[:, 0].mean():.4f} | {r[:, 0].min():.4f} | "
            f"{r[:, 1].mean():.4f} | {r[:, 1].min():.4f} |"
        )

    # 3. online: the time-ordered ratings week by week
    n_weeks = 4 if quick else 10
    with threadpool_limits(1):
        online = online_rows(X, y, ratings, n_weeks)
    lines += [
        f"\n#### Online learning: the last {n_weeks} weeks of ua.base, each "
        "predicted from the ratings before it\n",
        "Refit: `ProxFMClassifier().fit` on all the past ratings every week. "
        "partial_fit: the first week's refit, then every week `partial_fit` on "
        "that week's new ratings only. Scores on the following week's ratings, "
        f"mean and worst over the last {n_weeks - 1} weeks (the first is the "
        "common starting fit); update time per week.\n",
        "| method | mean log-loss | worst log-loss | mean AUC | worst AUC "
        "| update time (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *online,
    ]

    # 4. ua.test, at the end
    lines += [
        "\n#### ua.test (train on all of ua.base)\n",
        "| method | test log-loss | test AUC |",
        "| --- | ---: | ---: |",
    ]
    with threadpool_limits(1):
        for name, fit_predict in methods(quick):
            loss, auc = _scores(y_test, fit_predict(X, y, X_test))
            lines.append(f"| {name} | {loss:.4f} | {auc:.4f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs (minutes)")
    print(run(quick=parser.parse_args().quick))
