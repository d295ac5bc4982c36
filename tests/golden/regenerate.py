"""Regenerate the golden CSVs: `python -m tests.golden.regenerate [TABLE ...]` (default: all of them).

Runs the golden commands (golden.GOLDEN_TABLES, pinned to golden.THREADS threads) into a temporary
run store and replaces tests/golden/<table>.csv with what they wrote. Run it after a deliberate
change that moves a golden number (a retuned `ci` schedule, a fixed bug), and say why in the commit.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from gwapbench.atomic import write_text_atomic
from tests.golden.golden import GOLDEN_TABLES, produce


def main(argv: list[str] | None = None) -> None:
    names = [table.name for table in GOLDEN_TABLES]
    parser = argparse.ArgumentParser(prog="python -m tests.golden.regenerate", description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", metavar="TABLE", help=f"{', '.join(names)} (default: all)")
    parser.add_argument("--work", type=Path, default=None,
                        help="Keep the run store and outputs in this folder (an interrupted regeneration resumes "
                             "from it; use a fresh one after a code change) instead of a temporary folder.")
    args = parser.parse_args(argv)
    asked = args.tables or names
    unknown = sorted(set(asked) - set(names))
    if unknown:
        parser.error(f"no golden table {', '.join(unknown)} (choose from {', '.join(names)})")
    chosen = [table for table in GOLDEN_TABLES if table.name in asked]
    with tempfile.TemporaryDirectory(prefix="gwapbench-golden-") as tmp:
        work = args.work or Path(tmp)
        produced = produce(chosen, work / "runs", work / "out")  # one store: later tables reuse earlier runs
        for table in chosen:
            write_text_atomic(table.reference, produced[table.name].read_text())
            print(f"wrote tests/golden/{table.reference.name}")


if __name__ == "__main__":
    main()
