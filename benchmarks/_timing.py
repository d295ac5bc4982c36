"""Timing helpers shared by the benchmark scripts: best-of-n wall time, CPU and wall time of one call,
a ratio row, the command line."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any


def best_time(
    fn: Callable[[], Any], repeat: int = 3, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, Any]:
    """Run `fn` `repeat` times; return the fastest time in seconds (wall, or `clock`) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = clock()
        result = fn()
        best = min(best, clock() - start)
    return best, result


def cpu_and_wall(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(process CPU seconds, all threads; wall seconds; result) of one call of `fn`."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def print_header() -> None:
    print(f"{'benchmark':<52} {'ours (s)':>10} {'reference (s)':>14} {'ratio':>8}  reference")


def print_row(name: str, ours_s: float, reference_s: float, reference_name: str) -> None:
    """One line: our time, the reference time measured in the same run, and reference / ours."""
    print(f"{name:<52} {ours_s:>10.3f} {reference_s:>14.3f} {reference_s / ours_s:>7.1f}x  {reference_name}")


def run_script(run: Callable[..., None], description: str | None, quick_help: str, full_help: str | None = None
               ) -> None:
    """Command-line entry of a benchmark module: parse `--quick` (and `--full` when `full_help` is given:
    passed to `run` as `full_run`), print the header, run."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if full_help is not None:
        parser.add_argument("--full", action="store_true", help=full_help)
    args = parser.parse_args()
    print_header()
    if full_help is None:
        run(quick=args.quick)
    else:
        run(quick=args.quick, full_run=args.full)


def optional_reference(module: str, row: str) -> ModuleType | None:
    """Import a reference that comes with the bench extra; None, with a one-line note, when it is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        print(f"note: skipped {row}: the reference needs {err.name}, not installed (pip install '.[bench]')")
        return None
