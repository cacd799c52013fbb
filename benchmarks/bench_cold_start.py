"""Cold start: the first fit of each estimator in a fresh environment.

A fresh ``pip install`` has no compiled numba kernels: the first fit of an
estimator compiles the kernels it calls (and caches them on disk), later fits
and later processes reuse the cache. This script times, for every row of the
``python -m skfactor`` tour and in a new Python process each:

- *cold*: the first fit with an empty numba cache (``NUMBA_CACHE_DIR``
  pointing at a new empty folder), which is what a user sees right after
  installing;
- *warm*: the first fit of a second process sharing that cache (every later
  session);
- *in-process*: a second fit in the warm process (the steady state).

The import of ``skfactor`` is timed apart. Rows run one after the other so
they do not compete for the CPU.

    python benchmarks/bench_cold_start.py
"""

import json
import os
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys, time, warnings
start = time.perf_counter()
import skfactor
from skfactor._tour import collect_cases
imported = time.perf_counter() - start
case = collect_cases()[int(sys.argv[1])]
data = case.make_data()
times = []
for _ in range(2):
    estimator = case.make_estimator()
    args = (data["X"],) if data.get("y") is None else (data["X"], data["y"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(*args)
        times.append(time.perf_counter() - start)
print(json.dumps({"name": case.estimator, "data": case.description,
                  "import": imported, "first": times[0], "second": times[1]}))
"""


def _run_child(index, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(index)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _n_cases():
    from skfactor._tour import collect_cases

    return len(collect_cases())


def run(quick=False):
    """Markdown table of cold, warm and in-process fit times per tour row."""
    rows = [
        "| estimator | tour data | import (s) | first fit, cold cache (s) "
        "| first fit, warm cache (s) | second fit (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    worst = 0.0
    for index in range(_n_cases()):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold = _run_child(index, cache_dir)
            warm = _run_child(index, cache_dir)
        worst = max(worst, cold["first"])
        rows.append(
            f"| {cold['name']} | {cold['data']} | {cold['import']:.2f} "
            f"| {cold['first']:.2f} | {warm['first']:.2f} | {warm['second']:.3f} |"
        )
    rows.append("")
    rows.append(
        f"Worst first fit with a cold cache: {worst:.2f} s (target: under 2 s). "
        "The cold column is dominated by numba compilation, paid once per "
        "environment; the warm column is what every later process pays."
    )
    return "\n".join(rows)


if __name__ == "__main__":
    print(run())
