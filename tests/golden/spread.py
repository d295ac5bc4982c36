"""Measure how far the golden commands' numbers move between repeated runs and between thread counts.

`python -m tests.golden.spread [--repeats 3] [--threads 1 2] [--tables T ...] [-- EXTRA TABLE ARGS]`
runs the golden commands (all, or the tables named) `repeats` times for each thread count, each
time into a fresh run store, and prints for every thread count the largest spread (max - min) of
each metric over the repeats, the largest spread between thread counts, and whether the stored
predictions (logits and maps of every run, at every scale) are bitwise identical. EXTRA TABLE
ARGS (e.g. `--override iterations=20`) go to every table command. The numbers set the tolerances
in golden.GOLDEN_TABLES (README.md here records them).
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from gwapbench.regression import RowKey, load_table
from tests.golden.golden import GOLDEN_TABLES, GoldenTable, produce

Trial = tuple[int, int]  # (threads, repeat)


def run_trials(tables: list[GoldenTable], repeats: int, thread_counts: list[int], extra: list[str],
               base: Path) -> dict[Trial, Path]:
    """Produce the golden tables once per (threads, repeat); return each trial's folder."""
    folders = {}
    for threads in thread_counts:
        for repeat in range(repeats):
            folder = base / f"threads{threads}-repeat{repeat}"
            produce(tables, folder / "runs", folder / "out", threads, extra)
            folders[threads, repeat] = folder
            print(f"done: {threads} thread(s), repeat {repeat + 1}", flush=True)
    return folders


def table_values(tables: list[GoldenTable], folder: Path) -> dict[RowKey, float]:
    values: dict[RowKey, float] = {}
    for table in tables:
        values |= load_table(folder / "out" / f"{table.name}.csv", table.name)
    return values


def predictions(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """{"<run id>/<file>": arrays} of every stored prediction file (every scale) in the trial's store."""
    stored = {}
    for path in sorted((folder / "runs").glob("*/predictions*.npz")):
        with np.load(path, allow_pickle=False) as arrays:
            stored[f"{path.parent.name}/{path.name}"] = {key: arrays[key] for key in arrays.files}
    return stored


def identical(a: dict[str, dict[str, np.ndarray]], b: dict[str, dict[str, np.ndarray]]) -> bool:
    return a.keys() == b.keys() and all(
        a[run].keys() == b[run].keys() and all(np.array_equal(a[run][k], b[run][k]) for k in a[run]) for run in a)


def metric_spreads(trials: list[dict[RowKey, float]]) -> dict[str, float]:
    """{metric: max over rows of (max - min) over the trials}."""
    spreads: dict[str, float] = defaultdict(float)
    for key in trials[0]:
        values = [trial[key] for trial in trials]
        spreads[key.metric] = max(spreads[key.metric], max(values) - min(values))
    return dict(spreads)


def report(tables: list[GoldenTable], folders: dict[Trial, Path]) -> list[str]:
    values = {trial: table_values(tables, folder) for trial, folder in folders.items()}
    stored = {trial: predictions(folder) for trial, folder in folders.items()}
    thread_counts = sorted({threads for threads, _ in folders})
    lines = []
    for threads in thread_counts:
        trials = [trial for trial in folders if trial[0] == threads]
        same = all(identical(stored[trials[0]], stored[t]) for t in trials[1:])
        spread = metric_spreads([values[t] for t in trials])
        lines.append(f"{threads} thread(s), {len(trials)} repeats: spread {spread}, "
                     f"predictions bitwise identical: {same}")
    if len(thread_counts) > 1:
        firsts = [(threads, 0) for threads in thread_counts]
        same = all(identical(stored[firsts[0]], stored[t]) for t in firsts[1:])
        lines.append(f"between {' and '.join(map(str, thread_counts))} threads: spread "
                     f"{metric_spreads([values[t] for t in folders])}, predictions bitwise identical: {same}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.golden.spread", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tables", nargs="+", choices=[t.name for t in GOLDEN_TABLES], default=None,
                        help="Measure these golden tables only (a table whose runs another one reuses must be listed "
                             "with it: table1 for table2, table3 for table4). Default: all.")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="-- then extra table arguments")
    args = parser.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    tables = [t for t in GOLDEN_TABLES if args.tables is None or t.name in args.tables]
    with tempfile.TemporaryDirectory(prefix="gwapbench-spread-") as tmp:
        for line in report(tables, run_trials(tables, args.repeats, args.threads, extra, Path(tmp))):
            print(line)


if __name__ == "__main__":
    main()
