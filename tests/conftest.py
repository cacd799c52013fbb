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
