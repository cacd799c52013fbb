"""Session-wide reporting for the test suite.

The suite runs on two processes (pytest-xdist, ``-n 2`` in pyproject.toml);
each worker counts its own robustness cases and hands them to the
controller, which prints the total.
"""

import pytest


def _counts():
    try:
        from _cases import COUNTS
    except ImportError:  # pragma: no cover
        return None
    return COUNTS


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    counts = _counts()
    if workeroutput is not None and counts:  # an xdist worker
        workeroutput["robustness_counts"] = {
            name: dict(outcomes) for name, outcomes in counts.items()
        }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist controller: add a finished worker's counts to this process's."""
    counts = _counts()
    if counts is None:  # pragma: no cover
        return
    received = getattr(node, "workeroutput", {}).get("robustness_counts", {})
    for name, outcomes in received.items():
        counts[name].update(outcomes)


def pytest_terminal_summary(terminalreporter):
    counts = _counts()
    if not counts:
        return
    terminalreporter.section("robustness cases tried")
    total = 0
    for name in sorted(counts):
        outcomes = counts[name]
        total += sum(outcomes.values())
        detail = ", ".join(f"{outcome} {n}" for outcome, n in sorted(outcomes.items()))
        terminalreporter.write_line(
            f"{name}: {sum(outcomes.values())} cases ({detail})"
        )
    terminalreporter.write_line(f"total: {total} bad-input cases")


def pytest_configure(config):
    # CI runs hypothesis derandomized so a red build is reproducible;
    # HYPOTHESIS_PROFILE=explore searches fresh examples on every run.
    import os

    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.register_profile("explore", derandomize=False, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
