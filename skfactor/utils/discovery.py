"""Discovery of the public estimators of skfactor."""

import inspect
import pkgutil
from importlib import import_module
from operator import itemgetter

from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClusterMixin,
    RegressorMixin,
    TransformerMixin,
)

__all__ = ["all_estimators"]

_TYPE_FILTERS = {
    "classifier": ClassifierMixin,
    "regressor": RegressorMixin,
    "transformer": TransformerMixin,
    "cluster": ClusterMixin,
}


def _public_classes():
    """Yield ``(name, class)`` for every public class defined in skfactor."""
    import skfactor

    modules = [skfactor]
    for info in pkgutil.walk_packages(skfactor.__path__, prefix="skfactor."):
        parts = info.name.split(".")
        if "tests" in parts or parts[-1] == "__main__":
            continue
        modules.append(import_module(info.name))
    for module in modules:
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if name.startswith("_") or not cls.__module__.startswith("skfactor"):
                continue
            yield name, cls


def all_estimators(type_filter=None):
    """List the public estimators of skfactor.

    Every module of the package is imported and searched for public classes
    deriving from :class:`sklearn.base.BaseEstimator`, so an estimator is
    listed as soon as its module exists: the common tests in
    ``tests/test_common.py`` pick it up without further wiring.

    Parameters
    ----------
    type_filter : {"classifier", "regressor", "transformer", "cluster"} or \
            list of those, default=None
        Keep only estimators of these types. ``None`` keeps all.

    Returns
    -------
    estimators : list of (str, type)
        ``(name, class)`` pairs sorted by name, each estimator once.

    Examples
    --------
    >>> from skfactor.utils.discovery import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> names == sorted(names)
    True
    """
    estimators = {
        name: cls
        for name, cls in _public_classes()
        if issubclass(cls, BaseEstimator) and not inspect.isabstract(cls)
    }
    if type_filter is not None:
        filters = [type_filter] if isinstance(type_filter, str) else list(type_filter)
        unknown = set(filters) - set(_TYPE_FILTERS)
        if unknown:
            raise ValueError(
                f"type_filter must be None or among {sorted(_TYPE_FILTERS)}; "
                f"got {sorted(unknown)}."
            )
        mixins = tuple(_TYPE_FILTERS[f] for f in filters)
        estimators = {n: c for n, c in estimators.items() if issubclass(c, mixins)}
    return sorted(estimators.items(), key=itemgetter(0))
