"""``python -m skfactor``: a one-minute tour of every estimator."""

import argparse
import platform
import sys
import time


def main(argv=None):
    """Run the tour and return the process exit code (0 when every fit passed)."""
    parser = argparse.ArgumentParser(
        prog="skfactor",
        description=(
            "Fit every skfactor estimator on data with a known ground truth and "
            "print one table row per estimator."
        ),
    )
    parser.add_argument(
        "--estimator",
        action="append",
        metavar="NAME",
        help="only run the cases of this estimator (repeatable)",
    )
    parser.add_argument(
        "--precompile",
        action="store_true",
        help=(
            "compile and cache the numba kernels of every estimator, then exit "
            "(done at install; needed again only for a wheel built on another CPU)"
        ),
    )
    args = parser.parse_args(argv)
    if args.precompile:
        from skfactor._precompile import precompile

        return 1 if precompile() else 0

    import skfactor
    from skfactor._tour import collect_cases, run_tour

    cases = collect_cases()
    if args.estimator:
        unknown = set(args.estimator) - {c.estimator for c in cases}
        if unknown:
            parser.error(f"no tour case for {sorted(unknown)}")
        cases = [c for c in cases if c.estimator in args.estimator]
    print(
        f"skfactor {skfactor.__version__} tour on Python "
        f"{platform.python_version()}, {platform.machine()}\n"
    )
    start = time.perf_counter()
    ok = run_tour(cases)
    print(f"\nTotal {time.perf_counter() - start:.1f} s.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
