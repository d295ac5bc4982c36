"""gwapbench's golden tables: the commands that produce them, the thread count they run with, their tolerances.

Every golden table is `gwapbench <table> --net tiny --data synthetic --schedule ci` on CPU, run in a
fresh process with OMP_NUM_THREADS=1 (torch's CPU kernels are bit-reproducible for a fixed thread
count, not across thread counts; see README.md here). The tables run in GOLDEN_TABLES order into
one run store, so table2 evaluates table1's runs without training them again. To add a table
(table3, table4), append a GoldenTable and run `python -m tests.golden.regenerate TABLE`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent
REPO = GOLDEN_DIR.parents[1]
THREADS = 1
COMMON_ARGS = ("--net", "tiny", "--data", "synthetic", "--schedule", "ci", "--device", "cpu", "--workers", "0")


@dataclass(frozen=True)
class GoldenTable:
    """One golden CSV: `name` is the table command and the file stem; `tolerances` maps each metric of
    the table to the absolute tolerance `gwapbench check` allows (from the spread in README.md)."""

    name: str
    tolerances: Mapping[str, float]
    extra_args: tuple[str, ...] = field(default=())

    @property
    def reference(self) -> Path:
        return GOLDEN_DIR / f"{self.name}.csv"

    def table_args(self, runs_dir: Path, out_dir: Path, *more: str) -> list[str]:
        """The table command's arguments (after `gwapbench`)."""
        return [self.name, *COMMON_ARGS, *self.extra_args, "--runs-dir", str(runs_dir), "--out", str(out_dir), *more]

    def check_args(self, produced: Path, reference: Path | None = None) -> list[str]:
        """`gwapbench check` arguments comparing `produced` with the golden file (or `reference`)."""
        tolerances = [arg for metric, tol in sorted(self.tolerances.items()) for arg in ("--tol", f"{metric}={tol}")]
        return ["check", str(produced), "--reference", str(reference or self.reference), *tolerances,
                "--default-tol", "0"]


GOLDEN_TABLES: tuple[GoldenTable, ...] = (
    # 5x the 1-vs-2-thread difference measured on the ci schedule (README.md): CI machines may differ
    # from the development machine in the CPU instruction set, which moves results by that order.
    GoldenTable("table1", {"synthetic_cls_map": 0.25}),
    GoldenTable("table2", {"synthetic_otsu_fmeasure": 0.0025}),
)


def golden_table(name: str) -> GoldenTable:
    return next(table for table in GOLDEN_TABLES if table.name == name)


def environment(threads: int = THREADS) -> dict[str, str]:
    """This process's environment with the thread count pinned and this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def run_gwapbench(args: Sequence[str], threads: int = THREADS, preamble: str = "") -> subprocess.CompletedProcess:
    """`python -m gwapbench ARGS` in a fresh process; with `preamble`, that Python code runs first in the
    same process (a test's deliberate change to the code). Output captured; no check of the exit code."""
    if preamble:
        command = [sys.executable, "-c", f"{preamble}\nfrom gwapbench.cli import main\nmain()", *args]
    else:
        command = [sys.executable, "-m", "gwapbench", *args]
    return subprocess.run(command, env=environment(threads), cwd=REPO, capture_output=True, text=True)


def produce(tables: Sequence[GoldenTable], runs_dir: Path, out_dir: Path, threads: int = THREADS,
            more_args: Sequence[str] = ()) -> dict[str, Path]:
    """Run each table's command in order into `runs_dir`/`out_dir`; return each table's CSV path.
    Raises RuntimeError with the command's output when one fails."""
    produced = {}
    for table in tables:
        result = run_gwapbench(table.table_args(runs_dir, out_dir, *more_args), threads)
        if result.returncode != 0:
            raise RuntimeError(f"gwapbench {table.name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        produced[table.name] = out_dir / f"{table.name}.csv"
    return produced
