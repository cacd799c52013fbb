"""Local data directory and downloads for the real-data loaders."""

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["get_data_home", "fetch_file"]

DATA_HOME_ENV = "SKFACTOR_DATA"


def get_data_home(data_home=None):
    """Directory where the real-data loaders look for and store data sets.

    In order of precedence: the ``data_home`` argument, the
    ``SKFACTOR_DATA`` environment variable, ``~/skfactor_data``. ``~`` is
    expanded; the directory is not created.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit directory.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> from skfactor.datasets import get_data_home
    >>> str(get_data_home("/tmp/data"))
    '/tmp/data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV, "~/skfactor_data")
    return Path(data_home).expanduser()


def fetch_file(url, destination, *, sha256=None, name=None, timeout=30):
    """Return ``destination``, downloading it from ``url`` if it is absent.

    Without network access (or if the download fails) a ``OSError`` says
    where to put the file by hand, so offline machines get an actionable
    message instead of a traceback from :mod:`urllib`.

    Parameters
    ----------
    url : str
        Official source of the file.
    destination : path-like
        Where the file is expected (parents are created on download).
    sha256 : str, default=None
        Expected SHA-256 of the download; a mismatch raises ``OSError``.
    name : str, default=None
        Data set name for messages.
    timeout : float, default=30
        Seconds before the download gives up.

    Returns
    -------
    path : pathlib.Path
    """
    destination = Path(destination)
    if destination.exists():
        return destination
    name = name or destination.name
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, tmp)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            tmp.close()
            os.unlink(tmp.name)
            raise OSError(
                f"Could not download {name} from {url} ({exc}). Without network "
                f"access, download it elsewhere and place it at {destination} "
                f"(or point data_home / the {DATA_HOME_ENV} environment variable "
                "at a directory that holds it)."
            ) from exc
    if sha256 is not None:
        digest = hashlib.sha256(Path(tmp.name).read_bytes()).hexdigest()
        if digest != sha256:
            os.unlink(tmp.name)
            raise OSError(
                f"The download of {name} from {url} is corrupt (sha256 {digest}, "
                f"expected {sha256})."
            )
    os.replace(tmp.name, destination)
    return destination
