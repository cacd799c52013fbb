"""Seeded validation splits of MovieLens-100k ``ua.base`` for the FM benchmarks.

``ua.test`` is never used here: the splits cut the training ratings only.

- ``per_user_split(ratings, seed)``: for every user, 10 ratings drawn at
  random (at most half of the user's) are held out, like ``ua.test``;
- ``time_split(ratings, fraction)``: the latest ``fraction`` of the ratings
  by timestamp are held out (train on the past, predict the future; users
  and movies first seen in the future are cold-start rows, which the side
  features serve).

Each returns boolean masks ``(train, test)`` over the rows of ``ratings``
(columns user, movie, rating, timestamp).
"""

import numpy as np

# Splits used to choose settings (search_fm_defaults.py) and the disjoint
# ones that judge them (bench_fm.py).
SEARCH_SEEDS = (100, 101)
JUDGE_SEEDS = (0, 1, 2)


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
