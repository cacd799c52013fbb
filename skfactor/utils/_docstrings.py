"""Parameter descriptions shared by several estimators.

Write ``{{random_state}}`` (for example) on a line of its own in a numpydoc
``Parameters`` section and decorate the class with :func:`fill_doc`; the
placeholder is replaced by the shared description, indented like the
placeholder. Curly braces elsewhere (LaTeX in ``.. math::``) are left alone.
"""

import re

_SHARED = {
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seed of the random initialization. Pass an int for reproducible results
    across calls. See the `scikit-learn glossary
    <https://scikit-learn.org/stable/glossary.html#term-random_state>`__.""",
    "verbose": """\
verbose : int, default=0
    Progress output: ``1`` prints the objective about every tenth of
    ``max_iter`` and at the last iteration, ``2`` at every iteration.""",
    "max_iter": """\
max_iter : int, default={default}
    Maximum number of iterations of the solver.""",
    "tol": """\
tol : float, default={default}
    Tolerance on the relative change of the objective between two
    iterations; the solver stops at the first iteration below it.""",
    "n_jobs": """\
n_jobs : int, default=None
    Number of jobs to run in parallel through :mod:`joblib`. ``None`` means 1
    unless in a :obj:`joblib.parallel_backend` context; ``-1`` uses all
    processors. See the `scikit-learn glossary
    <https://scikit-learn.org/stable/glossary.html#term-n_jobs>`__.""",
}

_PLACEHOLDER = re.compile(
    r"^(?P<indent>[ \t]*)\{\{(?P<key>\w+)(?:=(?P<default>[^}]*))?\}\}$", re.M
)


def fill_doc(obj=None, *, fragments=None):
    """Replace ``{{name}}`` / ``{{name=default}}`` lines of ``obj.__doc__``.

    ``fill_doc(fragments={...})`` returns a decorator that also knows the
    given fragments (for parameters shared only within one model family).

    Examples
    --------
    >>> from skfactor.utils._docstrings import fill_doc
    >>> @fill_doc
    ... class A:
    ...     '''Doc.
    ...
    ...     Parameters
    ...     ----------
    ...     {{max_iter=200}}
    ...     '''
    >>> print(A.__doc__.splitlines()[4])
        max_iter : int, default=200
    """

    if obj is None:
        return lambda cls: fill_doc(cls, fragments=fragments)
    table = {**_SHARED, **(fragments or {})}

    def substitute(match):
        key = match["key"]
        if key not in table:
            raise KeyError(f"No shared docstring fragment named {key!r}.")
        text = table[key].replace("{default}", match["default"] or "")
        indent = match["indent"]
        return "\n".join(indent + line if line else line for line in text.splitlines())

    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(substitute, obj.__doc__)
    return obj
