"""`gwapbench report`: one page (report.md, and report.html with the figures embedded) of every table CSV and
figure PNG in an output folder, each table beside the paper's numbers.

A table row whose key the paper reports is compared with the paper's number by `gwapbench.regression`
(`compare_with_paper`, the check of `gwapbench check --against-paper`): it holds when
|reproduced - paper| <= the metric's tolerance, and is flagged otherwise. The default tolerance is 1 point
for the paper's percentages and 0.01 for its fractions (Table II's F-measure); `--tol METRIC=ABS` replaces
one. Rows on other data or nets carry the paper's number as a reference only (`paper_ref_value`), never flagged.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gwapbench.atomic import write_text_atomic
from gwapbench.engine.schedules import schedule_label
from gwapbench.engine.store import Run
from gwapbench.errors import InputError
from gwapbench.outdir import REPORT_MARKER, prepare_output_folder
from gwapbench.regression import (
    KEY_COLUMNS,
    RowCheck,
    RowKey,
    Verdict,
    compare_with_paper,
    load_table,
    paper_reference,
    parse_tolerances,
)
from gwapbench.report.catalog import is_run_folder, runtime
from gwapbench.tables.paper import paper_values
from gwapbench.tables.render import markdown_table

REPORT_FILES = ("report.md", "report.html")
DEFAULT_TOLERANCE = {"percent": 1.0, "fraction": 0.01}  # by the paper number's unit
SHOWN_COLUMNS = ("method", "net", "setting", "metric", "reproduced", "paper", "delta", "check", "paper_ref_value",
                 "paper_ref_source")


def paper_tolerances(overrides: Mapping[str, float]) -> dict[str, float]:
    """{paper metric: tolerance}: DEFAULT_TOLERANCE by unit, then `overrides` (each must name a paper metric)."""
    units = dict(zip(paper_values()["metric"], paper_values()["unit"]))
    unknown = sorted(set(overrides) - set(units))
    if unknown:
        raise InputError(f"--tol {', '.join(unknown)}: not a metric of the paper's tables "
                         f"(choose from {', '.join(sorted(units))})")
    return {metric: DEFAULT_TOLERANCE[unit] for metric, unit in units.items()} | dict(overrides)


@dataclass(frozen=True)
class TableSection:
    """One table CSV: its rows (every cell as text) and the paper check of each row the paper reports."""

    path: Path
    rows: tuple[dict[str, str], ...]
    checks: Mapping[RowKey, RowCheck]

    def check_text(self, row: Mapping[str, str]) -> str:
        check = self.checks.get(RowKey(*(row.get(c, "") for c in KEY_COLUMNS)))
        if check is None:
            return ""
        if check.holds:
            return f"ok (within {check.tolerance:g})"
        if check.verdict is Verdict.OUTSIDE:
            return f"OUTSIDE tolerance {check.tolerance:g}"
        return check.verdict.value


    def summary(self) -> str:
        """How the table compares with the paper, in one sentence."""
        if not self.checks:
            return ("No row is one the paper reports (other data or net): nothing is checked; paper_ref_value is the "
                    "paper's number for the same method on the net and data of paper_ref_source, for its ordering.")
        outside = [c for c in self.checks.values() if not c.holds]
        return (f"{len(self.checks)} of {len(self.rows)} rows are the paper's; {len(outside)} outside tolerance"
                + (": " + ", ".join(c.key.label() for c in outside) if outside else "") + ".")


def _is_table_csv(path: Path) -> bool:
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    return all(c in header for c in (*KEY_COLUMNS, "reproduced"))


def read_table(path: Path, tolerances: Mapping[str, float]) -> TableSection:
    """A table CSV and its rows' checks against the paper (InputError naming the file when it does not read)."""
    produced = load_table(path, str(path))
    checks: dict[RowKey, RowCheck] = {}
    if produced.keys() & paper_reference().keys():  # the paper's table parsed once, not once per row
        checks = {row.key: row for row in compare_with_paper(path, tolerances, 0.0).rows}
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = tuple(csv.DictReader(f))
    return TableSection(path, rows, checks)


@dataclass(frozen=True)
class RunLine:
    run_id: str
    net: str
    method: str
    data: str
    schedule: str
    device: str
    train_seconds: float | None
    evaluate_seconds: float | None


@dataclass(frozen=True)
class Report:
    title: str
    tables: tuple[TableSection, ...]
    figures: tuple[Path, ...]
    runs: tuple[RunLine, ...]
    missing_runs: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    tolerances: Mapping[str, float]
    out: Path
    runs_dir: Path

    def used(self, column: str) -> list[str]:
        """The distinct non-empty values of a column over every table row, in first-seen order."""
        return list(dict.fromkeys(r[column] for t in self.tables for r in t.rows if r.get(column)))


def _run_lines(runs_dir: Path, run_ids: Sequence[str]) -> tuple[list[RunLine], list[str]]:
    lines, missing = [], []
    for run_id in run_ids:
        folder = runs_dir / run_id
        if not is_run_folder(folder):
            missing.append(run_id)
            continue
        config = Run(folder, run_id).config()
        timing = runtime(folder)
        lines.append(RunLine(run_id, config.net, config.method, f"{config.data.kind} ({Path(config.data.root).name})",
                             schedule_label(config.schedule, config.overrides), timing.device, timing.train_seconds,
                             timing.evaluate_seconds))
    return lines, missing


def build_report(out: Path, runs_dir: Path, tolerances: Mapping[str, float],
                 environment: Sequence[tuple[str, str]]) -> Report:
    """Everything the page shows: the table CSVs and PNGs in `out`, the runs they name (from `runs_dir`)."""
    if not out.is_dir():
        raise InputError(f"--out {out}: no such folder (give the --out of your table and figure commands)")
    tables = tuple(read_table(p, tolerances) for p in sorted(out.glob("*.csv")) if _is_table_csv(p))
    figures = tuple(p for p in sorted(out.rglob("*.png")) if not any(part.startswith(".") for part in p.parts[-2:]))
    if not tables and not figures:
        raise InputError(f"--out {out}: holds no table CSV (table*.csv) and no figure PNG to report")
    run_ids = list(dict.fromkeys(r["run_id"] for t in tables for r in t.rows if r.get("run_id")))
    runs, missing = _run_lines(runs_dir, run_ids)
    title = f"gwapbench report of {out.name or out}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    return Report(title, tables, figures, tuple(runs), tuple(missing), tuple(environment), dict(tolerances), out,
                  runs_dir)


def _number(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text
    return "" if math.isnan(value) else f"{value:.4g}"


def _cells(section: TableSection, row: Mapping[str, str]) -> list[str]:
    values = {c: _number(row.get(c, "")) for c in ("reproduced", "paper", "delta", "paper_ref_value")}
    check = section.checks.get(RowKey(*(row.get(c, "") for c in KEY_COLUMNS)))
    if check is not None:  # the packaged paper number and the checked difference, whatever the CSV holds
        values |= {"paper": f"{check.reference:.4g}", "delta": _number(repr(check.delta))}
    return [values.get(c, row.get(c, "")) if c != "check" else section.check_text(row) for c in SHOWN_COLUMNS]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _facts(report: Report) -> list[tuple[str, str]]:
    """The summary lines: schedules, data, nets, runtimes, the tolerance rule."""
    train = sum(r.train_seconds or 0 for r in report.runs)
    evaluate = sum(r.evaluate_seconds or 0 for r in report.runs)
    tolerance = ", ".join(f"{m} {t:g}" for m, t in sorted(report.tolerances.items()))
    return [
        ("schedule", ", ".join(report.used("schedule")) or "-"),
        ("precision", ", ".join(report.used("precision")) or "-"),
        ("data", ", ".join(dict.fromkeys(r.data for r in report.runs)) or "-"),
        ("net", ", ".join(report.used("net")) or "-"),
        ("runtime", f"{train:.1f} s training, {evaluate:.1f} s prediction and evaluation over {len(report.runs)} runs "
                    f"(devices: {', '.join(dict.fromkeys(r.device for r in report.runs)) or '-'})"),
        ("paper check", "a row the paper reports is flagged when |reproduced - paper| > its tolerance "
                        f"(gwapbench.regression, as `gwapbench check --against-paper`): {tolerance}"),
    ]


RUN_COLUMNS = ("run", "net", "method", "data", "schedule", "device", "train s", "predict+evaluate s")


def _run_cells(run: RunLine) -> list[str]:
    return [run.run_id, run.net, run.method, run.data, run.schedule, run.device, _seconds(run.train_seconds),
            _seconds(run.evaluate_seconds)]


def render_markdown(report: Report) -> str:
    lines = [f"<!-- {REPORT_MARKER} -->", f"# {report.title}", ""]
    lines += [f"- **{name}**: {value}" for name, value in _facts(report)]
    lines += ["", "## Environment (of this report)", ""] + [f"- **{n}**: {v}" for n, v in report.environment]
    for section in report.tables:
        lines += ["", f"## {section.path.name}", "", section.summary(), ""]
        lines += markdown_table(SHOWN_COLUMNS, [[f"**{c}**" if c.startswith("OUTSIDE") else c for c in _cells(section, r)]
                                           for r in section.rows])
    if report.figures:
        lines += ["", "## Figures"]
        for figure in report.figures:
            relative = figure.relative_to(report.out).as_posix()
            lines += ["", f"### {relative}", "", f"![{relative}]({relative})"]
    lines += ["", "## Runs", ""] + markdown_table(RUN_COLUMNS, [_run_cells(r) for r in report.runs])
    if report.missing_runs:
        lines += ["", f"Not in {report.runs_dir}: {', '.join(report.missing_runs)} (no runtime or data shown)."]
    return "\n".join(lines) + "\n"


_STYLE = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}th,td{border:1px solid #bbb;padding:3px 8px}
th{background:#eee}td.outside{background:#f8c8c8;font-weight:bold}td.ok{background:#d8f0d8}
td.ref{color:#666}img{max-width:100%;border:1px solid #ddd}dt{font-weight:bold;float:left;width:9em}
dd{margin-left:10em}"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
    """`rows` of (cell text, css class)."""
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    body = ["<tr>" + "".join(f'<td class="{c}">{html.escape(t)}</td>' if c else f"<td>{html.escape(t)}</td>"
                             for t, c in row) + "</tr>" for row in rows]
    return ["<table>", head, *body, "</table>"]


def _css_class(column: str, text: str) -> str:
    if column == "check" and text:
        return "ok" if text.startswith("ok") else "outside"
    return "ref" if column.startswith("paper_ref") else ""


def render_html(report: Report) -> str:
    parts = ["<!DOCTYPE html>", f"<!-- {REPORT_MARKER} -->", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(report.title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(report.title)}</h1>", "<dl>"]
    parts += [f"<dt>{html.escape(n)}</dt><dd>{html.escape(v)}</dd>" for n, v in _facts(report)]
    parts += ["</dl>", "<h2>Environment (of this report)</h2>", "<dl>"]
    parts += [f"<dt>{html.escape(n)}</dt><dd>{html.escape(v)}</dd>" for n, v in report.environment]
    parts.append("</dl>")
    for section in report.tables:
        parts += [f"<h2>{html.escape(section.path.name)}</h2>", f"<p>{html.escape(section.summary())}</p>"]
        parts += _html_table(SHOWN_COLUMNS, [[(t, _css_class(c, t)) for c, t in zip(SHOWN_COLUMNS, _cells(section, r))]
                                             for r in section.rows])
    if report.figures:
        parts.append("<h2>Figures</h2>")
        for figure in report.figures:
            data = base64.b64encode(figure.read_bytes()).decode("ascii")
            name = html.escape(figure.relative_to(report.out).as_posix())
            parts += [f"<h3>{name}</h3>", f'<img alt="{name}" src="data:image/png;base64,{data}">']
    parts.append("<h2>Runs</h2>")
    parts += _html_table(RUN_COLUMNS, [[(c, "") for c in _run_cells(r)] for r in report.runs])
    if report.missing_runs:
        missing = ", ".join(report.missing_runs)
        where = html.escape(str(report.runs_dir))
        parts.append(f"<p>Not in {where}: {html.escape(missing)} (no runtime or data shown).</p>")
    return "\n".join(parts + ["</body></html>"]) + "\n"


def write_report(out: Path, runs_dir: Path, tol_items: Sequence[str], environment: Sequence[tuple[str, str]]
                 ) -> list[Path]:
    """Build the report of `out` and write report.md and report.html into it (atomically, never over a file
    gwapbench did not write); return their paths. `tol_items`: `--tol METRIC=ABS` arguments."""
    report = build_report(out, runs_dir, paper_tolerances(parse_tolerances(tol_items)), environment)
    prepare_output_folder(out, REPORT_FILES)
    paths = [out / name for name in REPORT_FILES]
    write_text_atomic(paths[0], render_markdown(report))
    write_text_atomic(paths[1], render_html(report))
    return paths
