"""Session-wide reporting for the test suite."""


def pytest_terminal_summary(terminalreporter):
    try:
        from _cases import COUNTS
    except ImportError:  # pragma: no cover
        return
    if not COUNTS:
        return
    terminalreporter.section("robustness cases tried")
    total = 0
    for name in sorted(COUNTS):
        counts = COUNTS[name]
        total += sum(counts.values())
        detail = ", ".join(f"{outcome} {n}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(f"{name}: {sum(counts.values())} cases ({detail})")
    terminalreporter.write_line(f"total: {total} bad-input cases")


def pytest_configure(config):
    # CI runs hypothesis derandomized so a red build is reproducible;
    # HYPOTHESIS_PROFILE=explore searches fresh examples on every run.
    import os

    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.register_profile("explore", derandomize=False, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
