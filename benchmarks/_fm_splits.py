"""Seeded validation splits of MovieLens-100k ``ua.base`` for the FM benchmarks.

``ua.test`` is never used here: the splits cut the training ratings only.

- ``per_user_split(ratings, seed)``: for every user, 10 ratings drawn at
  random (at most half of the user's) are held out, like ``ua.test``;
- ``time_split(ratings, fraction)``: the latest ``fraction`` of the ratings
  by timestamp are held out (train on the past, predict the future; users
  and movies first seen in the future are cold-start rows, which the side
  features serve).

Each returns boolean masks ``(train, test)`` over the rows of ``ratings``
(columns user, movie, rating, timestamp). ``per_user_folds`` cuts a training
part into K folds for cross-validation inside it, and ``load_ua_base`` loads
the data as every FM benchmark does.
"""

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from skfactor.datasets import load_movielens_100k
from skfactor.datasets._movielens import locate_movielens_100k

REPO = Path(__file__).resolve().parent.parent

# Splits used to choose settings (search_fm_defaults.py) and the disjoint
# ones that judge them (bench_fm.py).
SEARCH_SEEDS = (100, 101)
JUDGE_SEEDS = (0, 1, 2)


def load_ua_base():
    """MovieLens-100k ``ua`` (features and targets), or None when not found.

    Looked up in ``SKFACTOR_DATA``, the default data home and the
    repository-relative ``../shared/data``.
    """
    home = locate_movielens_100k(REPO / ".." / "shared" / "data")
    if home is None:
        return None
    return load_movielens_100k(home, split="ua", download_if_missing=False)


def report_header(title, quick):
    """First line of an FM benchmark's markdown report (title, time, machine)."""
    return (
        f"### {title}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
        f"{' (quick)' if quick else ''}\n"
    )


#: The report of an FM benchmark without the data.
MISSING = "\nSkipped: MovieLens-100k not found (set SKFACTOR_DATA).\n"


def per_user_split(ratings, seed, n_test=10):
    rng = np.random.default_rng(seed)
    test = np.zeros(len(ratings), dtype=bool)
    users = ratings[:, 0]
    order = np.argsort(users, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(users[order]) != 0])
    for rows in np.split(order, starts[1:]):
        take = min(n_test, rows.size // 2)
        test[rng.choice(rows, take, replace=False)] = True
    return ~test, test


def time_split(ratings, fraction=0.1):
    order = np.argsort(ratings[:, 3], kind="stable")
    test = np.zeros(len(ratings), dtype=bool)
    test[order[int(round((1 - fraction) * len(ratings))) :]] = True
    return ~test, test


def judging_splits(ratings):
    """``[(name, train, test)]``: three per-user splits and the time-ordered one."""
    splits = [(f"per-user seed {s}", *per_user_split(ratings, s)) for s in JUDGE_SEEDS]
    return splits + [("time-ordered, last 10%", *time_split(ratings))]


def search_splits(ratings):
    """``[(name, train, test)]`` for choosing settings (disjoint seeds)."""
    return [(f"per-user seed {s}", *per_user_split(ratings, s)) for s in SEARCH_SEEDS]


def per_user_folds(ratings, n_folds, seed):
    """Fold index in ``range(n_folds)`` of every row, balanced within each user.

    Each user's ratings are shuffled and dealt to the folds in turn, so every
    fold holds about ``1 / n_folds`` of every user's ratings.
    """
    rng = np.random.default_rng(seed)
    fold = np.empty(len(ratings), dtype=np.int64)
    users = ratings[:, 0]
    order = np.argsort(users, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(users[order]) != 0])
    offset = rng.integers(n_folds, size=starts.size)
    for rows, first in zip(np.split(order, starts[1:]), offset):
        fold[rng.permutation(rows)] = (first + np.arange(rows.size)) % n_folds
    return fold
