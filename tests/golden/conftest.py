"""Prints each golden mutation's margin (|delta| / tolerance of the row it moves most) in pytest's summary."""

from __future__ import annotations

from tests.golden.golden import MUTATION_MARGINS


def pytest_terminal_summary(terminalreporter) -> None:
    if MUTATION_MARGINS:
        terminalreporter.section("golden mutations: margin = |delta| / tolerance")
        for line in MUTATION_MARGINS:
            terminalreporter.write_line(line)
