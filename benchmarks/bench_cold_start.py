"""Cold start: the first fit of each estimator in a fresh environment.

skfactor's kernels are numba functions. The build backend compiles them when
the package is installed (``_build/backend.py`` runs ``skfactor._precompile``)
and ships the cache with the package, so the first fit after ``pip install``
loads compiled code. This script checks that from scratch:

1. extracts the repository's last commit (``git archive HEAD``: no
   ``__pycache__``, no cache) to a temporary folder, makes a new virtual
   environment and runs the README's ``pip install <source>`` in it (the
   install time is reported);
2. for every row of the ``python -m skfactor`` tour, in a new Python process
   each, times the import, the first fit and a second fit (*installed*);
3. times the same first fit with numba's cache pointed at an empty folder
   (``NUMBA_CACHE_DIR``): *just-in-time*, what a user gets with
   ``SKFACTOR_NO_PRECOMPILE=1`` or with a wheel built on another CPU, whose
   cached kernels numba does not load.

Rows run one after the other so they do not compete for the CPU.

    python benchmarks/bench_cold_start.py
    python benchmarks/bench_cold_start.py --python /path/to/venv/bin/python
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, sys, time, warnings
start = time.perf_counter()
import skfactor
from skfactor._tour import collect_cases, fit_arguments
imported = time.perf_counter() - start
cases = collect_cases()
if sys.argv[1] == "count":
    print(len(cases))
    sys.exit()
case = cases[int(sys.argv[1])]
data = case.make_data()
times = []
for _ in range(2):
    estimator = case.make_estimator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(*fit_arguments(data))
        times.append(time.perf_counter() - start)
print(json.dumps({"name": case.estimator, "data": case.description,
                  "import": imported, "first": times[0], "second": times[1]}))
"""


def _run_child(python, argument, cache_dir=None):
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run(
        [python, "-c", _CHILD, str(argument)],
        env=env,
        cwd=tempfile.gettempdir(),  # import the installed package, not the source
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"tour case {argument} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fresh_install(workdir):
    """New venv with ``pip install <git archive HEAD>``; (python, seconds)."""
    source = Path(workdir) / "source"
    source.mkdir()
    archive = subprocess.run(
        ["git", "archive", "HEAD"], cwd=REPOSITORY, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    subprocess.run(
        [sys.executable, "-m", "venv", str(Path(workdir) / "venv")], check=True
    )
    python = str(Path(workdir) / "venv" / "bin" / "python")
    start = time.perf_counter()
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(source)],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"},
    )
    return python, time.perf_counter() - start


def run(quick=False, python=None):
    """Markdown table of installed, just-in-time and in-process fit times."""
    with tempfile.TemporaryDirectory() as workdir:
        install = None
        if python is None:
            python, install = _fresh_install(workdir)
        rows = [
            "| estimator | tour data | import (s) | first fit, installed (s) "
            "| first fit, just-in-time (s) | second fit (s) |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        worst = worst_jit = 0.0
        for index in range(
            int(subprocess.check_output([python, "-c", _CHILD, "count"]))
        ):
            installed = _run_child(python, index)
            with tempfile.TemporaryDirectory() as cache_dir:
                jit = _run_child(python, index, cache_dir)
            worst = max(worst, installed["first"])
            worst_jit = max(worst_jit, jit["first"])
            rows.append(
                f"| {installed['name']} | {installed['data']} "
                f"| {installed['import']:.2f} | {installed['first']:.2f} "
                f"| {jit['first']:.2f} | {installed['second']:.3f} |"
            )
    rows.append("")
    where = (
        f"a new virtual environment, `pip install` of the last commit "
        f"({install:.0f} s, kernels compiled included)"
        if install is not None
        else f"the environment of `{python}`"
    )
    rows.append(
        f"Installed in {where}. Worst first fit: **{worst:.2f} s** (target: under "
        f"2 s); with an empty numba cache (just-in-time compilation) "
        f"{worst_jit:.2f} s."
    )
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", help="time this interpreter's installed skfactor (no new venv)"
    )
    print(run(python=parser.parse_args().python))
