"""gwapbench's golden tables: the commands that produce them and the thread count they run with.

Every golden table is `gwapbench <table> --net tiny --data synthetic --schedule ci` on CPU (plus the
table's own arguments), run in a fresh process with OMP_NUM_THREADS=1 (torch's CPU kernels are
bit-reproducible for a fixed thread count, not across thread counts; see README.md here). All
tables write into one run store. A table that evaluates another's runs (`reuses`: table2 uses
table1's, table4 table3's) runs after it in the same chain; independent chains (the VOC tables,
the ILSVRC tables) run side by side, one process each. To add a table, append a GoldenTable and
run `python -m tests.golden.regenerate TABLE`. Each golden CSV's tolerances live beside it in
`<table>.tolerances.csv`, written by `python -m tests.golden.spread --write-tolerances` from the spread
measured across CPU kernel sets and thread counts; `gwapbench check` applies them by itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gwapbench.regression import read_tolerance_file, tolerance_file

GOLDEN_DIR = Path(__file__).resolve().parent
REPO = GOLDEN_DIR.parents[1]
THREADS = 1
COMMON_ARGS = ("--net", "tiny", "--data", "synthetic", "--schedule", "ci", "--device", "cpu", "--workers", "0")
# Tables III-IV: only the trained rows. The rows `original` and `backprop` evaluate torchvision's
# ImageNet weights, which an offline CI machine does not have (and which know only the 1000 ILSVRC
# classes, not the synthetic set's).
ILSVRC_TRAINED_ROWS = ("--methods", "gap,gmp,gwap")


@dataclass(frozen=True)
class GoldenTable:
    """One golden CSV: `name` is the table command and the file stem; `extra_args` follow COMMON_ARGS;
    `reuses` names the golden table whose runs this one evaluates."""

    name: str
    extra_args: tuple[str, ...] = field(default=())
    reuses: str | None = None

    @property
    def reference(self) -> Path:
        return GOLDEN_DIR / f"{self.name}.csv"

    def tolerances(self) -> dict[str, float]:
        """{metric: tolerance} of the golden file's tolerance file (what `gwapbench check` applies)."""
        return read_tolerance_file(tolerance_file(self.reference))

    def table_args(self, runs_dir: Path, out_dir: Path, *more: str) -> list[str]:
        """The table command's arguments (after `gwapbench`)."""
        return [self.name, *COMMON_ARGS, *self.extra_args, "--runs-dir", str(runs_dir), "--out", str(out_dir), *more]

    def check_args(self, produced: Path) -> list[str]:
        """`gwapbench check` arguments comparing `produced` with the golden file under its tolerance file."""
        return ["check", str(produced), "--reference", str(self.reference)]


GOLDEN_TABLES: tuple[GoldenTable, ...] = (
    GoldenTable("table1"),
    GoldenTable("table2", reuses="table1"),
    GoldenTable("table3", extra_args=ILSVRC_TRAINED_ROWS),
    # Multi-scale maps at the ci schedule's 64 px and twice that (the paper's 224,448,672 would predict
    # every val image at up to 10x the training size, for no more coverage of the code).
    GoldenTable("table4", extra_args=(*ILSVRC_TRAINED_ROWS, "--scales", "64,128"), reuses="table3"),
)


def golden_table(name: str) -> GoldenTable:
    return next(table for table in GOLDEN_TABLES if table.name == name)


def environment(threads: int = THREADS, kernels: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the thread count pinned, `kernels` (e.g. {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    set, and this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), **(kernels or {}))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def run_gwapbench(args: Sequence[str], threads: int = THREADS, preamble: str = "",
                  kernels: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m gwapbench ARGS` in a fresh process; with `preamble`, that Python code runs first in the
    same process (a test's deliberate change to the code). Output captured; no check of the exit code."""
    if preamble:
        command = [sys.executable, "-c", f"{preamble}\nfrom gwapbench.cli import main\nmain()", *args]
    else:
        command = [sys.executable, "-m", "gwapbench", *args]
    return subprocess.run(command, env=environment(threads, kernels), cwd=REPO, capture_output=True, text=True)


def chains(tables: Sequence[GoldenTable]) -> list[list[GoldenTable]]:
    """`tables` split into chains that can run side by side: a table joins the chain of the table it
    reuses (when that one is among `tables`), in the given order."""
    chain_of: dict[str, list[GoldenTable]] = {}
    result: list[list[GoldenTable]] = []
    for table in tables:
        chain = chain_of.get(table.reuses or "")
        if chain is None:
            chain = []
            result.append(chain)
        chain.append(table)
        chain_of[table.name] = chain
    return result


def produce(tables: Sequence[GoldenTable], runs_dir: Path, out_dir: Path, threads: int = THREADS,
            more_args: Sequence[str] = (), kernels: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Run the tables' commands into `runs_dir`/`out_dir`, each chain in order, independent chains side by
    side (one process per core), with `kernels` in their environment; return each table's CSV path.
    Raises RuntimeError with the output of a command that failed."""

    def run_chain(chain: list[GoldenTable]) -> None:
        for table in chain:
            result = run_gwapbench(table.table_args(runs_dir, out_dir, *more_args), threads, kernels=kernels)
            if result.returncode != 0:
                raise RuntimeError(
                    f"gwapbench {table.name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")

    groups = chains(tables)
    with ThreadPoolExecutor(max_workers=max(1, min(len(groups), os.cpu_count() or 1))) as pool:
        for finished in [pool.submit(run_chain, chain) for chain in groups]:
            finished.result()
    return {table.name: out_dir / f"{table.name}.csv" for table in tables}


MUTATION_MARGINS: list[str] = []  # filled by test_golden.py, printed by conftest.py in pytest's summary


def record_margin(mutation: str, row: str, delta: float, tolerance: float) -> None:
    """Remember one mutation's margin, |delta| / tolerance of the row it moved most, for the summary."""
    MUTATION_MARGINS.append(f"{mutation}: {row} moved {delta:+.4g}, tolerance {tolerance:g}, "
                            f"margin {abs(delta) / tolerance:.1f}x")
