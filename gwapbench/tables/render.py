"""A produced table as files: `<name>.csv` (columns `COLUMNS`), `<name>.md`, and for tables with
per-class values `<name>_per_class.csv`. Numbers are written in full precision (Python's shortest
round-trip form); a missing paper value and its delta are empty cells."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gwapbench.atomic import write_text_atomic
from gwapbench.tables.table import COLUMNS, PER_CLASS_COLUMNS, Table, TableResult

def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(row[c]) for c in columns] for row in rows)
    return buffer.getvalue()


def _short(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table's lines: the header, its rule, one line per row ("|" inside a cell escaped)."""
    escape = lambda cell: str(cell).replace("|", "\\|")  # noqa: E731
    return (["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
            + ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows])


def to_markdown(title: str, rows: Sequence[dict[str, Any]]) -> str:
    columns = ("method", "setting", "metric", "reproduced", "paper", "delta", "run_id")
    if any(row.get("paper_ref_source") for row in rows):  # the paper's number on its own net and data
        columns += ("paper_ref_value", "paper_ref_source")
    lines = [f"**{title}** (net {rows[0]['net']})" if rows else f"**{title}**", ""]
    lines += markdown_table(columns, [[_short(row[c]) for c in columns] for row in rows])
    return "\n".join(lines) + "\n"


def write_table(table: Table, result: TableResult, out: Path) -> list[Path]:
    """Write the table's files (`table.output_files()`) atomically into `out` (already prepared); their paths."""
    paths = [out / name for name in table.output_files()]
    write_text_atomic(paths[0], to_csv(result.rows, COLUMNS))
    write_text_atomic(paths[1], to_markdown(table.title, result.rows))
    if table.per_class:
        write_text_atomic(paths[2], to_csv(result.per_class, PER_CLASS_COLUMNS))
    return paths
