"""Regression check of reproduced numbers: a produced table CSV against a reference CSV under tolerances.

Table CSVs (one format for every table) have the columns `table, net, method, setting, metric,
reproduced, paper, delta, run_id, schedule, precision`; the key columns, `reproduced`, `schedule`
and `precision` are read here. Rows are matched on the key (table, net, method, setting, metric);
`setting` may be empty. Rows of different schedules or precisions are never compared: a matched row
whose schedule or precision differs from the reference's is refused as bad input. A CSV without a
`schedule` column (older CSVs) is not checked for it; one without a `precision` column was made
before the column existed, when every run was fp32 (CPU: the CUDA path had never run), and counts
as fp32.

A reference CSV may have a tolerance file beside it, `<stem>.tolerances.csv` (columns `metric,
tolerance, measured_spread, basis`): its tolerances apply by default, so a golden file carries the
tolerances measured for it (tests/golden/spread.py writes them).

A reference row holds when the produced row exists, both values are finite, and
|produced - reference| <= tolerance, where the tolerance is `tolerances[metric]`, else `default_tol`.
The comparison is exact on the decimals the CSV shows: each float is taken as the shortest decimal
that rounds to it (Python's `repr`), so 0.4 against 0.3 holds under a tolerance of 0.1 and fails
under 0.0999. A row missing from the produced table, a NaN or an infinity fails; produced rows that
the reference lacks are listed as extra, not failures. Against the paper (`compare_with_paper`)
only the rows present in both are compared.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from gwapbench.atomic import write_text_atomic
from gwapbench.errors import InputError
from gwapbench.tables.paper import paper_values

KEY_COLUMNS = ("table", "net", "method", "setting", "metric")
VALUE_COLUMN = "reproduced"
SCHEDULE_COLUMN = "schedule"
# Columns naming how a row's runs were made: rows that differ in one are never compared. Value: what a CSV
# without the column means (None: unknown, not checked).
RUN_SETTING_COLUMNS: dict[str, str | None] = {SCHEDULE_COLUMN: None, "precision": "fp32"}
TOLERANCE_SUFFIX = ".tolerances.csv"
TOLERANCE_COLUMNS = ("metric", "tolerance", "measured_spread", "basis")


class RowKey(NamedTuple):
    """The identity of one number in a table CSV."""

    table: str
    net: str
    method: str
    setting: str
    metric: str

    def label(self) -> str:
        """`table1 tiny gap voc07_cls_map`, with ` [setting]` after the method when there is one."""
        method = f"{self.method} [{self.setting}]" if self.setting else self.method
        return f"{self.table} {self.net} {method} {self.metric}"


class Verdict(Enum):
    """The outcome for one reference row."""

    OK = "ok"
    OUTSIDE = "outside tolerance"
    MISSING = "missing from produced"
    NOT_FINITE = "not a finite number"


@dataclass(frozen=True)
class RowCheck:
    """One reference row compared: `delta` = produced - reference (NaN when missing or not finite)."""

    key: RowKey
    reference: float
    produced: float
    delta: float
    tolerance: float
    verdict: Verdict

    @property
    def holds(self) -> bool:
        return self.verdict is Verdict.OK


@dataclass(frozen=True)
class CheckResult:
    """Every compared row in reference order; produced rows the reference lacks; reference rows not compared."""

    rows: tuple[RowCheck, ...]
    extra: tuple[RowKey, ...]
    not_compared: tuple[RowKey, ...] = ()

    @property
    def failures(self) -> tuple[RowCheck, ...]:
        return tuple(row for row in self.rows if not row.holds)

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line: `PASSED: 12 rows hold, 1 extra row` / `FAILED: 2 of 12 rows ...`."""
        parts = [f"{len(self.rows) - len(self.failures)} of {len(self.rows)} rows hold"]
        if self.extra:
            parts.append(f"{len(self.extra)} extra row(s) not in the reference")
        if self.not_compared:
            parts.append(f"{len(self.not_compared)} reference row(s) not in the produced table (not compared)")
        return f"{'PASSED' if self.passed else 'FAILED'}: " + ", ".join(parts)


TableSource = pd.DataFrame | str | os.PathLike[str]


def _read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Every cell as text (an empty `setting` stays ""); an InputError naming the file when it is not a clean CSV.

    Stricter than `pd.read_csv`, which pads short rows and turns surplus leading cells into an index.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = [(number, row) for number, row in enumerate(csv.reader(f), start=1) if row]
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: cannot read as CSV ({err})") from None
    if not lines:
        raise InputError(f"{path}: cannot read as CSV (the file is empty)")
    header = lines[0][1]
    if len(set(header)) != len(header):
        raise InputError(f"{path}: cannot read as CSV (a column name repeats in the header: {','.join(header)})")
    for number, row in lines[1:]:
        if len(row) != len(header):
            raise InputError(f"{path}: cannot read as CSV (row {number} has {len(row)} cells, "
                             f"the header {len(header)})")
    return pd.DataFrame([row for _, row in lines[1:]], columns=header, dtype=object)


def _to_float(cell: object) -> float:
    """A cell as a float: "" or a missing value gives NaN; raises ValueError on anything else non-numeric."""
    if isinstance(cell, str):
        return float(cell.strip()) if cell.strip() else math.nan
    return math.nan if pd.isna(cell) else float(cell)  # type: ignore[arg-type]


def _label(source: TableSource, name: str) -> str:
    """How error messages name a table: its path, or `name` for a DataFrame."""
    return name if isinstance(source, pd.DataFrame) else str(source)


def load_table(source: TableSource, name: str, value_column: str = VALUE_COLUMN) -> dict[RowKey, float]:
    """Read a table CSV (or DataFrame) into {key: value}; `name` labels it in error messages.

    Raises InputError for an unreadable file, a missing key or value column, a non-numeric value,
    or a key that occurs twice.
    """
    return _load(source, name, value_column)[0]


def _load(source: TableSource, name: str, value_column: str = VALUE_COLUMN
          ) -> tuple[dict[RowKey, float], dict[str, dict[RowKey, str] | None]]:
    """({key: value}, {column: {key: its value} or None} for each of `RUN_SETTING_COLUMNS`); see `load_table`."""
    frame = source if isinstance(source, pd.DataFrame) else _read_csv(source)
    label = _label(source, name)
    missing = [c for c in KEY_COLUMNS + (value_column,) if c not in frame.columns]
    if missing:
        raise InputError(f"{label}: missing column(s) {', '.join(missing)} (needs {', '.join(KEY_COLUMNS)}, "
                         f"{value_column})")
    values: dict[RowKey, float] = {}
    first_line: dict[RowKey, int] = {}
    for line, record in enumerate(frame[list(KEY_COLUMNS) + [value_column]].itertuples(index=False), start=2):
        key = RowKey(*("" if pd.isna(cell) else str(cell) for cell in record[:-1]))
        if key in values:
            raise InputError(f"{label}: duplicate key {tuple(key)} (rows {first_line[key]} and {line})")
        try:
            values[key] = _to_float(record[-1])
        except (TypeError, ValueError):
            raise InputError(f"{label}: row {line}, column {value_column}: {record[-1]!r} is not a number") from None
        first_line[key] = line
    settings: dict[str, dict[RowKey, str] | None] = {}
    for column, absent in RUN_SETTING_COLUMNS.items():
        if column in frame.columns:
            settings[column] = {key: "" if pd.isna(s) else str(s) for key, s in zip(values, frame[column])}
        else:
            settings[column] = None if absent is None else dict.fromkeys(values, absent)
    return values, settings


def check_same_settings(produced: dict[RowKey, str] | None, reference: dict[RowKey, str] | None,
                        column: str = SCHEDULE_COLUMN) -> None:
    """InputError when a row both tables hold was produced under another `column` (schedule, precision) than the
    reference's."""
    if produced is None or reference is None:
        return
    for key, setting in reference.items():
        if key in produced and produced[key] != setting:
            raise InputError(f"reference rows use {column} {setting or '(none)'}, produced rows use "
                             f"{produced[key] or '(none)'} (first: {key.label()}); compare tables of one {column}")


def _valid_tolerance(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def _check_tolerances(tolerances: Mapping[str, float], default_tol: float, metrics: set[str]) -> None:
    """Validate up front: finite, >= 0, and every tolerance names a metric the reference has."""
    for name, tol in [("default tolerance", default_tol)] + [(f"tolerance of {m}", t) for m, t in tolerances.items()]:
        if not _valid_tolerance(tol):
            raise InputError(f"{name}: {tol!r} must be a finite number >= 0")
    unknown = sorted(set(tolerances) - metrics)
    if unknown:
        raise InputError(f"tolerance for {', '.join(unknown)}: no reference row has that metric "
                         f"(metrics: {', '.join(sorted(metrics))})")


def _exact(value: float) -> Decimal:
    """The shortest decimal that rounds to `value` (what a CSV written with repr shows)."""
    return Decimal(repr(value))


def check_row(key: RowKey, reference: float, produced: float | None, tolerance: float) -> RowCheck:
    """Compare one value: missing (`produced` None), not finite, outside or within the tolerance."""
    if produced is None:
        return RowCheck(key, reference, math.nan, math.nan, tolerance, Verdict.MISSING)
    if not (math.isfinite(reference) and math.isfinite(produced)):
        return RowCheck(key, reference, produced, math.nan, tolerance, Verdict.NOT_FINITE)
    delta = _exact(produced) - _exact(reference)
    verdict = Verdict.OK if abs(delta) <= _exact(tolerance) else Verdict.OUTSIDE
    return RowCheck(key, reference, produced, float(delta), tolerance, verdict)


def compare(
    produced: TableSource,
    reference: TableSource,
    tolerances: Mapping[str, float],
    default_tol: float,
    *,
    missing_fails: bool = True,
) -> CheckResult:
    """Compare PRODUCED's `reproduced` values with the reference's (a table CSV or DataFrame of the same format).

    `tolerances` maps a metric name to an absolute tolerance; other metrics use `default_tol`. With
    `missing_fails=False` reference rows absent from PRODUCED are listed in `not_compared` instead.
    Raises InputError for bad input (see `load_table`), an empty reference or a bad tolerance.
    """
    reference_values, reference_settings = _load(reference, "reference")
    if not reference_values:
        raise InputError(f"{_label(reference, 'reference')}: no rows to check against")
    produced_values, produced_settings = _load(produced, "produced")
    for column in RUN_SETTING_COLUMNS:
        check_same_settings(produced_settings[column], reference_settings[column], column)
    return _compare_values(produced_values, reference_values, tolerances, default_tol, missing_fails)


def _compare_values(
    produced: dict[RowKey, float],
    reference: dict[RowKey, float],
    tolerances: Mapping[str, float],
    default_tol: float,
    missing_fails: bool,
) -> CheckResult:
    _check_tolerances(tolerances, default_tol, {key.metric for key in reference})
    compared = [key for key in reference if missing_fails or key in produced]
    rows = tuple(check_row(k, reference[k], produced.get(k), tolerances.get(k.metric, default_tol)) for k in compared)
    extra = tuple(key for key in produced if key not in reference)
    not_compared = tuple(key for key in reference if key not in produced) if not missing_fails else ()
    return CheckResult(rows, extra, not_compared)


def paper_reference() -> dict[RowKey, float]:
    """The packaged paper numbers as {key: value}."""
    return load_table(paper_values(), "packaged paper_tables.csv", value_column="value")


def compare_with_paper(produced: TableSource, tolerances: Mapping[str, float], default_tol: float) -> CheckResult:
    """Compare PRODUCED's `reproduced` values with the paper's on the rows both have (see `compare`).

    Raises InputError when no produced row has a paper value, as nothing would be checked.
    """
    produced_values = load_table(produced, "produced")
    result = _compare_values(produced_values, paper_reference(), tolerances, default_tol, missing_fails=False)
    if not result.rows:
        raise InputError(f"{_label(produced, 'produced')}: no row matches a paper row on ({', '.join(KEY_COLUMNS)}); "
                         f"the paper's nets are {', '.join(sorted({key.net for key in result.not_compared}))}")
    return result


def tolerance_file(reference: str | os.PathLike[str]) -> Path:
    """Where the tolerances of a reference CSV live: `<stem>.tolerances.csv` beside it."""
    path = Path(reference)
    return path.with_name(path.stem + TOLERANCE_SUFFIX)


def read_tolerance_file(path: str | os.PathLike[str]) -> dict[str, float]:
    """{metric: tolerance} from a tolerance file; InputError naming the file on a bad column, value or metric."""
    frame = _read_csv(path)
    if "metric" not in frame.columns or "tolerance" not in frame.columns:
        raise InputError(f"{path}: a tolerance file needs the columns metric and tolerance")
    tolerances: dict[str, float] = {}
    for line, (metric, text) in enumerate(zip(frame["metric"], frame["tolerance"]), start=2):
        if metric in tolerances:
            raise InputError(f"{path}: row {line}: metric {metric} has a tolerance already")
        tolerances[metric] = parse_tolerance(text, f"{path}: row {line}, tolerance")
    return tolerances


def write_tolerance_file(reference: str | os.PathLike[str], rows: Sequence[tuple[str, float, float, str]]) -> Path:
    """Write (metric, tolerance, measured spread, basis) rows as the tolerance file of `reference`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TOLERANCE_COLUMNS)
    writer.writerows((metric, repr(float(tol)), repr(float(spread)), basis) for metric, tol, spread, basis in rows)
    path = tolerance_file(reference)
    write_text_atomic(path, buffer.getvalue())
    return path


def parse_tolerance(text: str, argument: str) -> float:
    """An absolute tolerance from the command line: a finite number >= 0, else an InputError naming `argument`."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{argument}: {text!r} is not a number") from None
    if not _valid_tolerance(value):
        raise InputError(f"{argument}: {text!r} must be a finite number >= 0")
    return value


def parse_tolerances(items: Sequence[str]) -> dict[str, float]:
    """`["voc07_cls_map=0.5", ...]` -> {"voc07_cls_map": 0.5}; each item `METRIC=ABS`, each metric once."""
    tolerances: dict[str, float] = {}
    for item in items:
        metric, sep, value = item.partition("=")
        argument = f"--tol {item}"
        if not sep or not metric.strip():
            raise InputError(f"{argument}: expected METRIC=ABS, e.g. voc07_cls_map=0.5")
        if metric.strip() in tolerances:
            raise InputError(f"{argument}: {metric.strip()} has a tolerance already")
        tolerances[metric.strip()] = parse_tolerance(value, argument)
    return tolerances


def check_table(produced: Path, reference: Path | None, tols: Sequence[str], default_tol: str
                ) -> tuple[CheckResult, str]:
    """`gwapbench check`: (result, title) of `produced` against `reference` under its tolerance file (a `--tol`
    naming a metric overrides it), or against the paper's numbers when `reference` is None."""
    tolerances = parse_tolerances(tols)
    default = parse_tolerance(default_tol, f"--default-tol {default_tol}")
    if reference is None:
        return (compare_with_paper(produced, tolerances, default),
                f"gwapbench check {produced} against the paper's numbers")
    measured = tolerance_file(reference)
    if measured.is_file():
        tolerances = read_tolerance_file(measured) | tolerances
    title = f"gwapbench check {produced} against {reference}"
    if measured.is_file():
        title += f" (tolerances: {measured}" + (", --tol overrides" if tols else "") + ")"
    return compare(produced, reference, tolerances, default), title
