"""MovieLens-100k as a sparse indicator design matrix for factorization machines."""

import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch

from ._base import DATA_HOME_ENV, fetch_file, get_data_home

__all__ = ["load_movielens_100k"]

ARCHIVE_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
_SPLITS = {
    None: ("u.data", None),
    "ua": ("ua.base", "ua.test"),
    "ub": ("ub.base", "ub.test"),
}
_SIDE_FILES = ("u.user", "u.item", "u.genre", "u.occupation")
_DESCR = """\
MovieLens-100k (GroupLens Research, University of Minnesota): 100,000
ratings (1-5) of 1,682 movies by 943 users, September 1997 - April 1998.

Each rating is one row of a sparse 0/1 design matrix with the one-hot user id,
one-hot movie id, one-hot integer age, gender and occupation of the user, and
the multi-hot genres of the movie (side features joined on the user and movie
ids). The target is 1 for a rating of 5 and 0 otherwise.

Research use only; the data may not be redistributed. Cite F. M. Harper and
J. A. Konstan (2015), The MovieLens Datasets: History and Context, ACM TiiS 5(4).
"""


def locate_movielens_100k(*extra_homes):
    """First data home holding ``ml-100k/u.data``, or None.

    Looks in ``SKFACTOR_DATA``, the default data home, then ``extra_homes``
    (tests, examples and benchmarks add the repository-relative
    ``../shared/data``).
    """
    import os

    for home in (os.environ.get(DATA_HOME_ENV), get_data_home(), *extra_homes):
        if home and (Path(home) / "ml-100k" / "u.data").exists():
            return Path(home)
    return None


def _read_table(path, sep):
    with open(path, encoding="latin-1") as handle:
        return [line.rstrip("\n").split(sep) for line in handle if line.strip()]


def _ensure_files(directory, data_home, download):
    needed = {name for pair in _SPLITS.values() for name in pair if name}
    needed |= set(_SIDE_FILES)
    missing = sorted(name for name in needed if not (directory / name).exists())
    if not missing:
        return
    if not download:
        raise OSError(
            f"MovieLens-100k files {missing} not found in {directory}. Pass "
            "download_if_missing=True, or put the extracted ml-100k folder in "
            f"data_home (or the {DATA_HOME_ENV} environment variable)."
        )
    archive = fetch_file(
        ARCHIVE_URL, Path(data_home) / "ml-100k.zip", name="MovieLens-100k"
    )
    with zipfile.ZipFile(archive) as zipped:
        members = [m for m in zipped.namelist() if m.startswith("ml-100k/")]
        zipped.extractall(Path(data_home), members=members)
    still_missing = [name for name in missing if not (directory / name).exists()]
    if still_missing:
        raise OSError(f"The MovieLens-100k archive {archive} lacks {still_missing}.")


def _side_features(directory):
    """Feature names and the sparse feature rows of every user and movie.

    Returns ``names``, ``users`` and ``movies`` where ``users[u]`` (CSR row)
    holds the columns of user id ``u`` and ``movies[i]`` those of movie id
    ``i``; rows are indexed by the id read from the file, so the side
    features are joined on the id column, never on the row position.
    """
    users = _read_table(directory / "u.user", "|")
    items = _read_table(directory / "u.item", "|")
    genres = [row[0] for row in _read_table(directory / "u.genre", "|")]
    occupations = [row[0] for row in _read_table(directory / "u.occupation", "|")]

    user_ids = [int(row[0]) for row in users]
    item_ids = [int(row[0]) for row in items]
    ages = sorted({int(row[1]) for row in users})
    genders = sorted({row[2] for row in users})
    blocks = [
        ("user", user_ids),
        ("movie", item_ids),
        ("age", ages),
        ("gender", genders),
        ("occupation", occupations),
        ("genre", genres),
    ]
    names, column = [], {}
    for field, values in blocks:
        for value in values:
            column[field, value] = len(names)
            names.append(f"{field}={value}")

    def rows(table, ids, columns_of):
        entries = [
            (row_id, col) for row_id, row in zip(ids, table) for col in columns_of(row)
        ]
        r, c = np.array(entries).T
        return sp.csr_matrix(
            (np.ones(len(r)), (r, c)), shape=(max(ids) + 1, len(names))
        )

    user_rows = rows(
        users,
        user_ids,
        lambda row: [
            column["user", int(row[0])],
            column["age", int(row[1])],
            column["gender", row[2]],
            column["occupation", row[3]],
        ],
    )
    movie_rows = rows(
        items,
        item_ids,
        lambda row: (
            [column["movie", int(row[0])]]
            + [
                column["genre", g]
                for g, flag in zip(genres, row[-len(genres) :])
                if flag == "1"
            ]
        ),
    )
    return names, user_rows, movie_rows


def _design(directory, filename, user_rows, movie_rows):
    ratings = np.loadtxt(
        directory / filename, dtype=np.int64, usecols=(0, 1, 2, 3), ndmin=2
    )
    unknown_users = np.setdiff1d(
        ratings[:, 0], np.flatnonzero(user_rows.getnnz(axis=1))
    )
    unknown_movies = np.setdiff1d(
        ratings[:, 1], np.flatnonzero(movie_rows.getnnz(axis=1))
    )
    if unknown_users.size or unknown_movies.size:
        raise ValueError(
            f"{filename} rates unknown user ids {unknown_users[:5].tolist()} or movie "
            f"ids {unknown_movies[:5].tolist()}: the ml-100k folder is inconsistent."
        )
    X = (user_rows[ratings[:, 0]] + movie_rows[ratings[:, 1]]).tocsr()
    X.sort_indices()
    y = (ratings[:, 2] >= 5).astype(np.int64)
    return X, y, ratings


def load_movielens_100k(data_home=None, split=None, *, download_if_missing=True):
    """Load MovieLens-100k as a sparse factorization-machine design matrix.

    Every rating becomes one row with the one-hot user id, the one-hot movie
    id, the user's one-hot integer age, gender and occupation, and the movie's
    multi-hot genres (side features are joined on the user and movie ids).
    The binary target is ``rating >= 5``. Rows have between 6 and 11
    nonzeros, all equal to 1.

    The files are looked up in ``<data_home>/ml-100k/`` (see
    :func:`get_data_home`) and the official GroupLens archive is downloaded
    and extracted there when they are absent. The data is for research use
    only and may not be redistributed; see its README.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Directory holding (or receiving) the ``ml-100k`` folder.
    split : {None, "ua", "ub"}, default=None
        ``None`` loads all 100,000 ratings (``u.data``) as ``data`` /
        ``target``. ``"ua"`` or ``"ub"`` load the official split with exactly
        10 test ratings per user: ``data_train`` / ``target_train`` from
        ``<split>.base`` and ``data_test`` / ``target_test`` from
        ``<split>.test``, on the same columns.
    download_if_missing : bool, default=True
        Download the archive when the files are absent; otherwise raise
        ``OSError``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (CSR, float64, shape (n_ratings, 2,728)), ``target`` (int 0/1),
        ``ratings`` (int array with columns user id, movie id, rating and
        Unix timestamp), or the
        same keys suffixed ``_train`` / ``_test`` when ``split`` is given;
        ``feature_names`` (``"user=1"``, ``"movie=1"``, ``"age=24"``,
        ``"gender=M"``, ``"occupation=doctor"``, ``"genre=Action"``, ...) and
        ``DESCR``.

    Examples
    --------
    >>> from skfactor.datasets import load_movielens_100k
    >>> ml = load_movielens_100k(split="ua")  # doctest: +SKIP
    >>> ml.data_train.shape, ml.data_test.shape  # doctest: +SKIP
    ((90570, 2728), (9430, 2728))
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of None, 'ua', 'ub'; got {split!r}.")
    data_home = get_data_home(data_home)
    directory = data_home / "ml-100k"
    _ensure_files(directory, data_home, download_if_missing)
    names, user_rows, movie_rows = _side_features(directory)
    bunch = Bunch(feature_names=np.asarray(names, dtype=object), DESCR=_DESCR)
    first, second = _SPLITS[split]
    if second is None:
        bunch.data, bunch.target, bunch.ratings = _design(
            directory, first, user_rows, movie_rows
        )
    else:
        for suffix, filename in (("_train", first), ("_test", second)):
            X, y, ratings = _design(directory, filename, user_rows, movie_rows)
            bunch["data" + suffix], bunch["target" + suffix] = X, y
            bunch["ratings" + suffix] = ratings
    return bunch
