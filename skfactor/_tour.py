"""The ``python -m skfactor`` tour: every estimator on data with a known truth.

Each model family registers its cases in a ``_tour`` module of its
subpackage (``skfactor/<family>/_tour.py``) as a list named ``TOUR_CASES``;
the tour finds them by itself, so it grows as estimators land. A case builds
synthetic (or bundled) data, fits the estimator and scores the fit against
the ground truth.
"""

import pkgutil
import time
import traceback
from dataclasses import dataclass
from importlib import import_module
from typing import Callable, Optional

__all__ = ["TourCase", "collect_cases", "fit_arguments", "run_tour"]


@dataclass(frozen=True)
class TourCase:
    """One row of the tour.

    Parameters
    ----------
    estimator : str
        Name of the estimator class shown in the table.
    description : str
        What the data is, e.g. ``"500 x 10, 3 regimes"``.
    make_data : callable
        ``() -> dict`` with key ``"X"`` and optionally ``"y"`` plus whatever
        :attr:`quality` needs (the truth).
    make_estimator : callable
        ``() -> estimator`` (unfitted).
    quality : callable
        ``(fitted_estimator, data) -> float``.
    quality_name : str
        What :attr:`quality` measures, e.g. ``"regime accuracy"``.
    min_quality : float, default=None
        The row fails when the quality is below it (or above it when
        ``higher_is_better`` is False).
    higher_is_better : bool, default=True
    """

    estimator: str
    description: str
    make_data: Callable[[], dict]
    make_estimator: Callable[[], object]
    quality: Callable[[object, dict], float]
    quality_name: str
    min_quality: Optional[float] = None
    higher_is_better: bool = True


def collect_cases():
    """All ``TOUR_CASES`` of the ``skfactor.<family>._tour`` modules."""
    import skfactor

    cases = []
    for info in pkgutil.walk_packages(skfactor.__path__, prefix="skfactor."):
        if info.name.rsplit(".", 1)[-1] == "_tour" and info.name != __name__:
            cases.extend(import_module(info.name).TOUR_CASES)
    return cases


def fit_arguments(data):
    """``(X,)`` or ``(X, y)``: the arguments of ``fit`` for a case's data."""
    return (data["X"],) if data.get("y") is None else (data["X"], data["y"])


def _run_case(case):
    row = {"estimator": case.estimator, "data": case.description}
    try:
        data = case.make_data()
        estimator = case.make_estimator()
        start = time.perf_counter()
        estimator.fit(*fit_arguments(data))
        row["time"] = time.perf_counter() - start
        value = float(case.quality(estimator, data))
    except Exception as exc:  # the tour reports every failure and goes on
        row.update(quality="-", status=f"FAILED: {type(exc).__name__}: {exc}")
        row["traceback"] = traceback.format_exc()
        return row, False
    ok = True
    if case.min_quality is not None:
        ok = (
            value >= case.min_quality
            if case.higher_is_better
            else value <= case.min_quality
        )
    bound = (
        ""
        if case.min_quality is None
        else (f" ({'>=' if case.higher_is_better else '<='} {case.min_quality:g})")
    )
    row["quality"] = f"{case.quality_name} {value:.4g}"
    row["status"] = ("ok" if ok else "BELOW TARGET") + bound
    return row, ok


def run_tour(cases=None, out=print):
    """Fit every case and print a markdown table; return True if all passed."""
    cases = collect_cases() if cases is None else cases
    if not cases:
        out("No estimator registered a tour case yet.")
        return True
    out("| estimator | data | fit time (s) | quality vs truth | status |")
    out("| --- | --- | ---: | --- | --- |")
    all_ok = True
    failures = []
    for case in cases:
        row, ok = _run_case(case)
        all_ok &= ok
        seconds = f"{row['time']:.3f}" if "time" in row else "-"
        out(
            f"| {row['estimator']} | {row['data']} | {seconds} | {row['quality']} "
            f"| {row['status']} |"
        )
        if "traceback" in row:
            failures.append(row["traceback"])
    for tb in failures:
        out("")
        out(tb.rstrip())
    return all_ok
