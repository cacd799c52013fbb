"""Run every benchmark and write the report ``doc/benchmarks.md``.

Each ``benchmarks/bench_*.py`` script exposes ``run(quick=False) -> str``
returning its markdown tables; this script runs them one after the other (so
they do not compete for the CPU), and writes one section per estimator family
with the machine and the date into ``doc/benchmarks.md``, which the
documentation includes.

    python benchmarks/run_all.py            # full benchmarks
    python benchmarks/run_all.py --quick    # about a minute each
    python benchmarks/run_all.py --only nmf --update   # rerun one section

With ``--update``, the sections that are not rerun are kept as they are in
the existing report (each section names the date of its own run), and
sections can also be taken from reports written elsewhere with ``--output``
(``--merge FILE``, repeatable).
"""

import os

# One BLAS thread for every library, ours and the peers: the comparisons are
# per core, and threaded BLAS oversubscribes a shared or loaded machine.
# Override by setting the variables before running.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
REPORT = HERE.parent / "doc" / "benchmarks.md"


def _machine():
    try:
        import numpy
        import scipy
        import sklearn

        versions = (
            f"numpy {numpy.__version__}, scipy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}"
        )
    except ImportError:  # pragma: no cover
        versions = ""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    return (
        f"{cpu}, {os.cpu_count()} logical cores, BLAS threads {threads}, Python "
        f"{platform.python_version()} on {platform.system()}; {versions}"
    )


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sections(report):
    """``{script name: section text}`` of a report written by this script."""
    found, name = {}, None
    for line in Path(report).read_text().splitlines(keepends=True):
        if line.startswith("## `bench_"):
            name = line.split("`")[1]
            found[name] = ""
        if name is not None:
            found[name] += line
    return {key: text.rstrip() + "\n" for key, text in found.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only bench_NAME.py (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=REPORT)
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the sections of the existing report that are not rerun",
    )
    parser.add_argument(
        "--merge",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="with --update: take the sections of another report (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.merge and not args.update:
        parser.error("--merge goes with --update")

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only or args.merge:
        scripts = [s for s in scripts if s.stem[len("bench_") :] in (args.only or [])]
    sys.path.insert(0, str(HERE))
    sections, failed = {}, []
    for script in scripts:
        print(f"running {script.name} ...", flush=True)
        start = time.perf_counter()
        try:
            body = _load(script).run(quick=args.quick)
        except Exception:
            failed.append(script.name)
            body = "```\n" + traceback.format_exc() + "```\n"
        elapsed = time.perf_counter() - start
        print(f"  done in {elapsed:.0f} s", flush=True)
        sections[script.name] = (
            f"## `{script.name}`\n\n{body.strip()}\n\n_Run time: {elapsed:.0f} s._\n"
        )
    if args.update:
        kept = _sections(args.output) if args.output.exists() else {}
        for other in args.merge:
            kept.update(_sections(other))
        kept.update(sections)
        sections = dict(sorted(kept.items()))

    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    mode = "quick sizes (`--quick`)" if args.quick else "full sizes"
    flag = " --quick" if args.quick else ""
    if args.update:
        provenance = (
            "Assembled by `python benchmarks/run_all.py --update` on "
            f"{now}: each section was generated by its own run (its heading or "
            "first lines give the date and sizes), on this machine"
        )
    else:
        provenance = (
            f"Generated by `python benchmarks/run_all.py{flag}` on {now}, {mode}"
        )
    report = (
        "# Benchmarks\n\n"
        f"{provenance}.\n\n"
        f"Machine: {_machine()}.\n\n"
        "Each section times skfactor against its peer or reference implementation "
        "in one run on the same data; ratios compare within a run. Nothing here is "
        "part of the test suite.\n\n" + "\n".join(sections.values())
    )
    args.output.write_text(report)
    print(f"wrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
