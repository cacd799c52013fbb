import subprocess
import sys

import numpy as np
import pytest

from skfactor.__main__ import main
from skfactor._tour import TourCase, collect_cases, run_tour
from skfactor.utils.discovery import all_estimators


class _Mean:
    def fit(self, X, y=None):
        self.mean_ = X.mean()
        return self


def _case(quality=1.0, fail=False, **kwargs):
    def make_estimator():
        if fail:
            raise RuntimeError("boom")
        return _Mean()

    return TourCase(
        estimator="Mean",
        description="3 x 1",
        make_data=lambda: {"X": np.ones((3, 1))},
        make_estimator=make_estimator,
        quality=lambda est, data: quality,
        quality_name="score",
        **kwargs,
    )


def test_every_estimator_has_a_tour_row():
    toured = {case.estimator for case in collect_cases()}
    missing = {name for name, _ in all_estimators()} - toured
    assert not missing, f"estimators without a tour case: {sorted(missing)}"


def test_run_tour_reports_failures():
    lines = []
    assert run_tour([_case(0.9, min_quality=0.5)], out=lines.append)
    assert lines[2].startswith("| Mean | 3 x 1 |") and "score 0.9" in lines[2]
    lines = []
    assert not run_tour([_case(0.1, min_quality=0.5)], out=lines.append)
    assert "BELOW TARGET (>= 0.5)" in lines[2]
    lines = []
    assert not run_tour([_case(fail=True)], out=lines.append)
    assert "FAILED: RuntimeError: boom" in lines[2]
    assert any("Traceback" in line for line in lines)
    lines = []
    assert run_tour(
        [_case(0.2, min_quality=0.5, higher_is_better=False)], out=lines.append
    )


def test_main_rejects_unknown_estimator(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--estimator", "NoSuchEstimator"])
    assert exc.value.code == 2
    assert "no tour case for ['NoSuchEstimator']" in capsys.readouterr().err


def test_python_dash_m_runs_the_whole_tour():
    result = subprocess.run(
        [sys.executable, "-m", "skfactor"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for case in collect_cases():
        assert f"| {case.estimator} |" in result.stdout
