"""Measure how far the golden commands' numbers move across CPU kernel sets and thread counts, and derive
the tolerances `gwapbench check` applies to the golden files.

`python -m tests.golden.spread [--kernels NAME ...] [--threads 1 2] [--repeats 1] [--tables T ...]
[--observed DIR ...] [--write-tolerances] [-- EXTRA TABLE ARGS]`

A trial runs the golden commands (all, or the tables named) into a fresh run store under one kernel
set: oneDNN capped at an instruction set (`ONEDNN_MAX_CPU_ISA`), MKL capped at one
(`MKL_ENABLE_INSTRUCTIONS`), or neither ("default"). Every kernel set runs at golden.THREADS threads;
the default kernels also run at each of `--threads`. The spread of a row is max - min of its value over
all trials; a metric's spread is the largest over its rows. `--observed DIR` adds the golden tables
another machine wrote (DIR/<table>.csv, e.g. a checkout's tests/golden before regeneration) as one more
trial: a measured difference between real CPUs, which emulated kernel sets may not cover. The tolerance of a metric is
TOLERANCE_FACTOR x its spread, rounded up to two significant digits (at least MIN_TOLERANCE), and
`--write-tolerances` writes it with the spread it came from into tests/golden/<table>.tolerances.csv,
which `gwapbench check --reference tests/golden/<table>.csv` applies by itself.

Kernel choice moves a trained model's numbers because the ci schedule trains the tiny net from scratch:
a last-bit difference in one convolution's sum grows over the iterations into another model. The
instruction set of a CI machine is not known in advance, so the golden files can only hold within a
tolerance that covers the kernels this machine can emulate (README.md here records a measurement).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from gwapbench.regression import RowKey, load_table, write_tolerance_file
from tests.golden.golden import GOLDEN_TABLES, THREADS, GoldenTable, produce

# Environment of each kernel set. oneDNN (convolutions, some matmuls) picks its kernels by the CPU's
# instruction set and can be capped with ONEDNN_MAX_CPU_ISA; MKL (BLAS) with MKL_ENABLE_INSTRUCTIONS.
KERNEL_SETS: dict[str, dict[str, str]] = {
    "default": {},
    "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn-avx512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "mkl-avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
TOLERANCE_FACTOR = 2.0
MIN_TOLERANCE = 1e-6  # a metric no trial moved still gets room for the last digit of its mean

Trial = tuple[str, int, int]  # (kernel set, threads, repeat)


def trial_label(trial: Trial) -> str:
    kernels, threads, repeat = trial
    if kernels.startswith("observed:"):
        return kernels
    return f"{kernels}@{threads}t" + (f"#{repeat + 1}" if repeat else "")


def planned_trials(kernel_sets: Sequence[str], thread_counts: Sequence[int], repeats: int) -> list[Trial]:
    """Every kernel set at golden.THREADS, the default kernels also at each other thread count."""
    configs = [(name, THREADS) for name in kernel_sets]
    configs += [("default", threads) for threads in thread_counts if ("default", threads) not in configs]
    return [(name, threads, repeat) for name, threads in configs for repeat in range(repeats)]


def run_trials(tables: Sequence[GoldenTable], trials: Sequence[Trial], extra: Sequence[str],
               base: Path) -> dict[Trial, Path]:
    """Produce the golden tables once per trial, each into a fresh run store; return each trial's folder."""
    folders = {}
    for trial in trials:
        kernels, threads, _ = trial
        folder = base / trial_label(trial).replace("@", "-").replace("#", "-")
        produce(tables, folder / "runs", folder / "out", threads, extra, kernels=KERNEL_SETS[kernels])
        folders[trial] = folder
        print(f"done: {trial_label(trial)}", flush=True)
    return folders


def table_values(tables: Sequence[GoldenTable], folder: Path) -> dict[RowKey, float]:
    """{row: value} of the tables' CSVs in `folder`."""
    values: dict[RowKey, float] = {}
    for table in tables:
        values |= load_table(folder / f"{table.name}.csv", table.name)
    return values


def row_spreads(values: Mapping[Trial, Mapping[RowKey, float]]) -> dict[RowKey, float]:
    """{row: max - min of its value over the trials}."""
    trials = list(values.values())
    return {key: max(t[key] for t in trials) - min(t[key] for t in trials) for key in trials[0]}


def metric_spreads(rows: Mapping[RowKey, float]) -> dict[tuple[str, str], float]:
    """{(table, metric): the largest row spread}."""
    spreads: dict[tuple[str, str], float] = defaultdict(float)
    for key, spread in rows.items():
        spreads[key.table, key.metric] = max(spreads[key.table, key.metric], spread)
    return dict(spreads)


def tolerance_for(spread: float) -> float:
    """TOLERANCE_FACTOR x spread, rounded up to two significant digits, at least MIN_TOLERANCE."""
    value = TOLERANCE_FACTOR * spread
    if value <= MIN_TOLERANCE:
        return MIN_TOLERANCE
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / step - 1e-9) * step, 12)


def report(values: Mapping[Trial, Mapping[RowKey, float]]) -> list[str]:
    """A Markdown table: each row's value under each trial and its spread, then each metric's tolerance."""
    trials = list(values)
    first = values[trials[0]]
    spreads = row_spreads(values)
    lines = ["| row | " + " | ".join(trial_label(t) for t in trials) + " | spread |",
             "| --- |" + " ---: |" * (len(trials) + 1)]
    for key in first:
        cells = " | ".join(f"{values[t][key]:.6g}" for t in trials)
        lines.append(f"| {key.label()} | {cells} | {spreads[key]:.3g} |")
    lines += ["", "| table | metric | largest spread | tolerance |", "| --- | --- | ---: | ---: |"]
    for (table, metric), spread in metric_spreads(spreads).items():
        lines.append(f"| {table} | {metric} | {spread:.3g} | {tolerance_for(spread):g} |")
    return lines


def write_tolerances(tables: Sequence[GoldenTable], values: Mapping[Trial, Mapping[RowKey, float]]) -> None:
    """tests/golden/<table>.tolerances.csv of each table: its metrics' tolerances and measured spreads."""
    spreads = metric_spreads(row_spreads(values))
    basis = "max-min over " + ", ".join(trial_label(t) for t in values)
    for table in tables:
        rows = [(metric, tolerance_for(spread), spread, basis)
                for (name, metric), spread in spreads.items() if name == table.name]
        write_tolerance_file(table.reference, rows)
        print(f"wrote tests/golden/{table.name}.tolerances.csv")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.golden.spread", description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", nargs="+", choices=list(KERNEL_SETS), default=list(KERNEL_SETS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="Thread counts of the default kernel set (the others run at golden.THREADS).")
    parser.add_argument("--repeats", type=int, default=1,
                        help="Runs of each configuration (repeats at one configuration were bit-identical).")
    parser.add_argument("--tables", nargs="+", choices=[t.name for t in GOLDEN_TABLES], default=None,
                        help="Measure these golden tables only (a table whose runs another one reuses must be listed "
                             "with it: table1 for table2, table3 for table4). Default: all.")
    parser.add_argument("--write-tolerances", action="store_true",
                        help="Write tests/golden/<table>.tolerances.csv from the measured spreads.")
    parser.add_argument("--work", type=Path, default=None, help="Keep the trials' run stores in this folder.")
    parser.add_argument("--observed", type=Path, nargs="*", default=[],
                        help="Folders of golden tables written elsewhere (DIR/<table>.csv), each one more trial.")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="-- then extra table arguments")
    args = parser.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    tables = [t for t in GOLDEN_TABLES if args.tables is None or t.name in args.tables]
    trials = planned_trials(args.kernels, args.threads, args.repeats)
    with tempfile.TemporaryDirectory(prefix="gwapbench-spread-") as tmp:
        folders = run_trials(tables, trials, extra, args.work or Path(tmp))
        values = {trial: table_values(tables, folder / "out") for trial, folder in folders.items()}
    values |= {(f"observed:{folder.name}", 0, 0): table_values(tables, folder) for folder in args.observed}
    for line in report(values):
        print(line)
    if args.write_tolerances:
        write_tolerances(tables, values)


if __name__ == "__main__":
    main()
