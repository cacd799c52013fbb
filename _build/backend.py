"""Build backend of skfactor: setuptools, plus the numba kernels compiled at install.

Every hook is setuptools' own (``setuptools.build_meta``), except that building
a wheel or an editable install first runs ``skfactor._precompile`` in the
build environment on this machine. It fits each estimator on small data, so
numba compiles its kernels and caches them next to their source files
(``skfactor/**/__pycache__/*.nbi, *.nbc``): the first fit after installing
loads compiled code instead of spending seconds compiling it.

- An editable install (``pip install -e .``) imports the source tree, where
  the cache was written.
- A wheel (``pip install .``) gets the cache files added, with the RECORD
  rewritten. numba keys each entry on the source file's content, the numba
  version and the CPU, so a wheel installed on another CPU or next to another
  numba version falls back to compiling on first use, as without this step.

The build environment needs the runtime dependencies to run the warm-up; they
are requested from the build frontend next to setuptools. Set
``SKFACTOR_NO_PRECOMPILE=1`` to skip all of it (a plain setuptools build).
A failed warm-up never fails the build: it prints why and installs anyway.
"""

import base64
import hashlib
import os
import subprocess
import sys
import zipfile

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401 (re-exported hooks)
    build_sdist,
    get_requires_for_build_sdist,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

_SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMEOUT_SECONDS = 900


def _enabled():
    return os.environ.get("SKFACTOR_NO_PRECOMPILE", "").lower() in ("", "0", "false")


def _runtime_dependencies():
    """``[project] dependencies`` of pyproject.toml (needed to run the warm-up)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: tomli, from [build-system] requires
        try:
            import tomli as tomllib
        except ImportError:
            return []
    with open(os.path.join(_SOURCE_DIR, "pyproject.toml"), "rb") as file:
        return tomllib.load(file)["project"]["dependencies"]


def _warm_up_requires():
    return _runtime_dependencies() if _enabled() else []


def get_requires_for_build_wheel(config_settings=None):
    requires = _setuptools.get_requires_for_build_wheel(config_settings)
    return requires + _warm_up_requires()


def get_requires_for_build_editable(config_settings=None):
    requires = _setuptools.get_requires_for_build_editable(config_settings)
    return requires + _warm_up_requires()


def _precompile():
    """Run the warm-up in a child process; the cache files it wrote (relative)."""
    if not _enabled():
        return []
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("NUMBA_CACHE_DIR", None)  # the cache must go next to the sources
    env["PYTHONPATH"] = os.pathsep.join(
        [_SOURCE_DIR] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    print("skfactor: compiling the numba kernels (about a minute)", file=sys.stderr)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "skfactor._precompile"],
            cwd=_SOURCE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            timeout=_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"skfactor: precompilation skipped ({exc})", file=sys.stderr)
        return []
    if result.returncode != 0:
        print(
            "skfactor: some kernels were not precompiled (exit code "
            f"{result.returncode}); they compile on first use",
            file=sys.stderr,
        )
    files = []
    for line in result.stdout.splitlines():
        path = os.path.relpath(line.strip(), _SOURCE_DIR)
        if line.strip() and not path.startswith(os.pardir) and os.path.isfile(line):
            files.append(path)
    return files


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{arcname},sha256={digest.decode()},{len(data)}"


def _add_to_wheel(wheel_path, files):
    """Rewrite the wheel with *files* (paths relative to the source) added."""
    if not files:
        return
    with zipfile.ZipFile(wheel_path) as wheel:
        entries = [(info, wheel.read(info)) for info in wheel.infolist()]
    record = next(
        info.filename
        for info, _ in entries
        if info.filename.endswith(".dist-info/RECORD")
    )
    temporary = wheel_path + ".tmp"
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        lines = []
        for info, data in entries:
            if info.filename == record:
                lines = data.decode().splitlines()
                continue
            wheel.writestr(info, data)
        added = []
        present = {info.filename for info, _ in entries}
        for path in files:
            arcname = path.replace(os.sep, "/")
            if arcname in present:
                continue
            with open(os.path.join(_SOURCE_DIR, path), "rb") as file:
                data = file.read()
            wheel.writestr(arcname, data)
            added.append(_record_line(arcname, data))
        lines = [line for line in lines if not line.startswith(record + ",")]
        wheel.writestr(record, "\n".join(lines + added + [f"{record},,"]) + "\n")
    os.replace(temporary, wheel_path)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _precompile()
    name = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    _add_to_wheel(os.path.join(wheel_directory, name), files)
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _precompile()
    return _setuptools.build_editable(
        wheel_directory, config_settings, metadata_directory
    )
