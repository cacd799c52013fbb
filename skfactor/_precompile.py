"""Compile the numba kernels once, ahead of the first fit.

skfactor's inner loops are numba kernels compiled on first call and cached on
disk next to their source (numba's ``cache=True``; the cache is keyed on the
source file's content, the numba version and the CPU). Without a cache the
first fit of an estimator in a new environment spends seconds compiling.

:func:`precompile` fits every estimator on small data, in the variants a user
meets first (the ``python -m skfactor`` tour, both NMF losses and solvers,
dense, CSR and float32 input, ``transform``/``predict``/``partial_fit``), so
that every kernel they call is compiled and cached; with two CPUs, in two
processes side by side (91 s to 60 s on a cold cache). The build backend runs it
when the package is installed (``_build/backend.py``); a user can run it by
hand with ``python -m skfactor --precompile`` (e.g. after installing a wheel
built on another machine, whose cached kernels do not match this CPU).
"""

import os
import sys
import time
import traceback
import warnings

__all__ = ["precompile", "cache_files"]


def _tour_case(case):
    from ._tour import fit_arguments

    def run():
        data = case.make_data()
        case.quality(case.make_estimator().fit(*fit_arguments(data)), data)

    return run


def _nmf_variants():
    import numpy as np
    import scipy.sparse as sp

    from .datasets import make_sparse_nmf
    from .decomposition import BalancedSparseNMF
    from .decomposition._newton_step import _BLAS_ROW

    X, _, _ = make_sparse_nmf(24, 16, 3, sparsity=0.3, random_state=0)
    inputs = [X, sp.csr_matrix(X), X.astype(np.float32)]
    for loss in ("kullback-leibler", "frobenius"):
        for solver in ("mu", "cd"):
            for data in inputs:
                model = BalancedSparseNMF(
                    3,
                    beta_loss=loss,
                    solver=solver,
                    alpha_W=0.1,
                    alpha_H=0.1,
                    max_iter=5,
                    random_state=0,
                )
                model.fit(data)
                model.transform(data)
                model.inverse_transform(model.transform(data))
    # dense rows of _BLAS_ROW entries: the BLAS paths of the Kullback-Leibler
    # updates (KLDenseUpdates) and of the exact W-step (_kl_blas_pass)
    X, _, _ = make_sparse_nmf(500, _BLAS_ROW, 3, random_state=0)
    BalancedSparseNMF(3, beta_loss="kullback-leibler", max_iter=2).fit(X)


def _fm_variants():
    from .datasets import make_fm_classification
    from .fm import ProxFMClassifier

    X, y, _ = make_fm_classification(
        n_samples=300, n_fields=3, n_categories=5, random_state=0
    )
    model = ProxFMClassifier(n_components=4, max_iter=2, random_state=0).fit(X, y)
    model.predict_proba(X)
    model.partial_fit(X[:50], y[:50])
    ProxFMClassifier(n_components=4, max_iter=2, random_state=0).fit(X.toarray(), y)


def _multilevel_variants():
    from .datasets import make_multilevel_factor
    from .multilevel import MultilevelFactorModel

    X, truth = make_multilevel_factor(
        n_samples=60, n_features=24, ranks=(2, 1, 1), random_state=0
    )
    for ranks, hierarchy in (((2, 1, 1), truth.hierarchy), ("auto", None)):
        model = MultilevelFactorModel(
            ranks=ranks, hierarchy=hierarchy, n_factors=4, max_iter=3, random_state=0
        ).fit(X)
        model.score(X)
        model.transform(X)


def _tensor_variants():
    import numpy as np

    from .datasets import make_cp_tensor
    from .tensor import RidgeCPD, SparseNTD

    X, _ = make_cp_tensor((8, 7, 6), n_components=2, random_state=0)
    for nonnegative in (False, True):
        for data in (X, X.astype(np.float32)):
            RidgeCPD(2, nonnegative=nonnegative, max_iter=5, random_state=0).fit(
                np.abs(data)
            ).transform(np.abs(data))
    for loss in ("kullback-leibler", "frobenius"):
        for balance in ("sinkhorn", "scalar"):
            model = SparseNTD(
                (2, 2, 2), loss=loss, balance=balance, max_iter=5, random_state=0
            )
            model.fit(np.abs(X)).transform(np.abs(X))


def _switching_variants():
    from .datasets import make_switching_classification, make_switching_regression
    from .switching import SwitchingClassifier, SwitchingRegression

    X, y, _, _ = make_switching_regression(
        n_samples=80, n_features=2, n_regimes=2, random_state=0
    )
    for latent in ("markov", "independent"):
        model = SwitchingRegression(2, latent=latent, n_init=1, max_iter=5).fit(X, y)
        model.predict(X)
    X, y, _, _ = make_switching_classification(
        n_samples=80, n_features=2, n_regimes=2, random_state=0
    )
    model = SwitchingClassifier(2, n_init=1, max_iter=5, random_state=0).fit(X, y)
    model.predict_proba(X)


def _warm_ups():
    from ._tour import collect_cases

    for case in collect_cases():
        yield f"tour: {case.estimator}", _tour_case(case)
    yield "BalancedSparseNMF variants", _nmf_variants
    yield "ProxFMClassifier variants", _fm_variants
    yield "MultilevelFactorModel variants", _multilevel_variants
    yield "tensor variants", _tensor_variants
    yield "switching variants", _switching_variants


# The warm-ups of the NMF estimators compile about half of the kernels (by
# time); with two CPUs they run in one process and the others in a second.
_FIRST_PART = (
    "tour: BalancedSparseNMF",
    "tour: ProximalMF",
    "BalancedSparseNMF variants",
)


def _run(warm_ups, verbose):
    """Run ``(name, run)`` warm-ups in turn; the names of those that raised."""
    failures = []
    for name, run in warm_ups:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run()
        except Exception:  # a failed warm-up only loses its cache
            failures.append(name)
            if verbose:
                traceback.print_exc()
        if verbose:
            print(
                f"skfactor precompile: {name}: {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
    return failures


def _compile_part(part):
    """Worker process: the warm-ups of one part (0: NMF, 1: the others)."""
    _run(
        [
            (name, run)
            for name, run in _warm_ups()
            if (name in _FIRST_PART) == (part == 0)
        ],
        verbose=False,
    )


def _n_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS, Windows)
        return os.cpu_count() or 1


def precompile(verbose=True, n_jobs=None):
    """Compile and cache the numba kernels of every estimator.

    With two processes, the two parts of the warm-ups first compile side by
    side (joblib); a last pass over every warm-up in this process then
    loads what they cached, compiles anything they missed (two processes
    that write the cache index of one kernel at the same time may lose an
    entry) and reports.

    Parameters
    ----------
    verbose : bool, default=True
        Print one line per warm-up with its time to standard error.
    n_jobs : int, default=None
        Processes for the first stage: 1 skips it; None uses two when this
        process may run on two CPUs or more.

    Returns
    -------
    failures : list of str
        The warm-ups that raised (their kernels compile on first use instead).
    """
    if n_jobs is None:
        n_jobs = min(2, _n_cpus())
    if n_jobs > 1:
        from joblib import Parallel, delayed

        start = time.perf_counter()
        Parallel(n_jobs=min(n_jobs, 2))(delayed(_compile_part)(part) for part in (0, 1))
        if verbose:
            print(
                "skfactor precompile: two processes: "
                f"{time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
    return _run(_warm_ups(), verbose)


def cache_files():
    """Paths of the fresh numba cache files of skfactor's loaded kernels.

    For every compiled skfactor kernel with an on-disk cache: its index file
    and the data files the index lists, when the index matches the current
    source and numba version (what numba itself would load).
    """
    from numba.core.dispatcher import Dispatcher

    paths = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("skfactor") or module is None:
            continue
        for value in vars(module).values():
            cache = (
                getattr(value, "_cache", None)
                if isinstance(value, Dispatcher)
                else None
            )
            cache_file = getattr(cache, "_cache_file", None)
            if cache_file is None:
                continue
            overloads = cache_file._load_index()
            if not overloads:
                continue
            paths.add(cache_file._index_path)
            paths.update(
                os.path.join(cache_file._cache_path, data)
                for data in overloads.values()
            )
    return sorted(paths)


def main():
    """Entry point of the build backend: precompile, then list the cache files."""
    failures = precompile()
    for path in cache_files():
        print(path)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
