"""Kernels compiled at install: the warm-up and the build backend's wheel step."""

import base64
import hashlib
import importlib.util
import os
import zipfile
from pathlib import Path

import pytest

from skfactor.__main__ import main
from skfactor._precompile import _FIRST_PART, _n_cpus, _warm_ups, cache_files

BACKEND = Path(__file__).resolve().parent.parent / "_build" / "backend.py"


def _backend():
    pytest.importorskip("setuptools")
    spec = importlib.util.spec_from_file_location("skfactor_build_backend", BACKEND)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_warm_up_runs_and_leaves_its_kernels_cached(capsys):
    # the warm-ups call the public estimators: an API change that breaks one
    # would silently leave its kernels to compile at the user's first fit
    assert main(["--precompile"]) == 0
    progress = capsys.readouterr().err
    assert progress.count("skfactor precompile: ") >= 10  # one line per warm-up
    # with two CPUs the parts compiled side by side first (the last pass then
    # only loads), so the joblib stage ran without raising
    assert ("two processes" in progress) == (_n_cpus() >= 2)
    files = cache_files()
    names = {os.path.basename(path) for path in files}
    # the FM epoch, the NMF Newton W-step and the multilevel kernels are among them
    assert any(name.startswith("_epoch.run_epoch-") for name in names)
    assert any(name.startswith("_newton.") for name in names)
    assert any(name.startswith("_kernels.") for name in names)
    indexes = [path for path in files if path.endswith(".nbi")]
    assert indexes and all(os.path.isfile(path) for path in files)
    # every index comes with at least one data file beside it
    for index in indexes:
        stem = os.path.basename(index)[: -len(".nbi")]
        assert any(
            os.path.basename(p).startswith(stem + ".") for p in files if p != index
        )


def test_the_two_parts_split_the_warm_ups():
    names = [name for name, _ in _warm_ups()]
    assert set(_FIRST_PART) < set(names)  # both parts non-empty, names current
    assert len(set(names)) == len(names)


def test_wheel_gets_the_cache_files_with_their_record_lines(tmp_path, monkeypatch):
    backend = _backend()
    source = tmp_path / "source"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    payload = b"compiled kernel bytes"
    (source / "pkg" / "__pycache__" / "mod.f-3.py311.1.nbc").write_bytes(payload)
    monkeypatch.setattr(backend, "_SOURCE_DIR", str(source))
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    record = "pkg-1.0.dist-info/RECORD"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        archive.writestr(record, "pkg/__init__.py,sha256=x,0\n" + record + ",,\n")

    backend._add_to_wheel(
        str(wheel), [os.path.join("pkg", "__pycache__", "mod.f-3.py311.1.nbc")]
    )

    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("pkg/__pycache__/mod.f-3.py311.1.nbc") == payload
        assert archive.read("pkg/__init__.py") == b""
        lines = archive.read(record).decode().splitlines()
    digest = base64.urlsafe_b64encode(hashlib.sha256(payload).digest()).rstrip(b"=")
    assert (
        f"pkg/__pycache__/mod.f-3.py311.1.nbc,sha256={digest.decode()},{len(payload)}"
        in lines
    )
    assert lines[-1] == record + ",,"
    assert lines.count(record + ",,") == 1
    assert "pkg/__init__.py,sha256=x,0" in lines


def test_precompile_can_be_switched_off(monkeypatch):
    backend = _backend()
    monkeypatch.setenv("SKFACTOR_NO_PRECOMPILE", "1")
    assert backend._precompile() == []
    assert backend._warm_up_requires() == []
    monkeypatch.setenv("SKFACTOR_NO_PRECOMPILE", "0")
    if backend._runtime_dependencies():  # Python >= 3.11 reads pyproject.toml
        assert any(r.startswith("numba") for r in backend._warm_up_requires())
