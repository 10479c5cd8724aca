"""Fixtures of the fuzz tests (one stack per test module: see fuzz_stack)."""

from fuzz_stack import CASES, target

__all__ = ["target"]


def pytest_terminal_summary(terminalreporter) -> None:
    if CASES:
        counts = ", ".join(f"{family}: {count}" for family, count in sorted(CASES.items()))
        terminalreporter.write_line(f"fuzz cases sent: {sum(CASES.values())} ({counts})")
