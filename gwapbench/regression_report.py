"""Renderings of a regression check (`gwapbench.regression.CheckResult`): plain text, Markdown, JUnit XML.

All three show every compared row as (key, reference, produced, delta, tolerance, verdict); the text
and Markdown forms then list the extra rows and end with the one-line summary. The JUnit XML holds
one testcase per compared row (a failure as `<failure>`) and one skipped testcase per extra row,
for CI systems that display test reports. The Markdown and XML files open with a comment holding
`gwapbench.outdir.REPORT_MARKER`, by which a rerun recognises a report it may replace.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from gwapbench.outdir import REPORT_MARKER
from gwapbench.regression import CheckResult, RowCheck, RowKey, Verdict

HEADER = ("table", "net", "method", "setting", "metric", "reference", "produced", "delta", "tolerance", "verdict")
NUMERIC = frozenset({"reference", "produced", "delta", "tolerance"})
SUITE_NAME = "gwapbench check"


def _number(value: float) -> str:
    """Shortest round-trip decimal (`70.4`, `nan`)."""
    return format(value, "")


def _produced_text(row: RowCheck) -> str:
    return "" if row.verdict is Verdict.MISSING else _number(row.produced)


def _delta_text(row: RowCheck) -> str:
    return "" if math.isnan(row.delta) else format(row.delta, "+")


def _verdict_text(row: RowCheck) -> str:
    return "ok" if row.holds else f"FAIL: {row.verdict.value}"


def _cells(row: RowCheck) -> tuple[str, ...]:
    return (*row.key, _number(row.reference), _produced_text(row), _delta_text(row),
            _number(row.tolerance), _verdict_text(row))


def render_text(result: CheckResult, title: str) -> str:
    """A fixed-width diff table, the extra rows, and the summary line."""
    body = [HEADER] + [_cells(row) for row in result.rows]
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADER))]
    lines = [title, ""]
    for line in body:
        cells = [cell.rjust(w) if name in NUMERIC else cell.ljust(w) for name, cell, w in zip(HEADER, line, widths)]
        lines.append("  ".join(cells).rstrip())
    if result.extra:
        lines += ["", "extra rows (in the produced table, not in the reference):"]
        lines += [f"  {key.label()}" for key in result.extra]
    lines += ["", result.summary()]
    return "\n".join(lines) + "\n"


def _markdown_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def render_markdown(result: CheckResult, title: str) -> str:
    """A Markdown section (for a CI job summary): title, summary in bold, the diff table, the extra rows."""
    align = ["---:" if name in NUMERIC else "---" for name in HEADER]
    lines = [f"<!-- {REPORT_MARKER} -->", f"### {_markdown_cell(title)}", "", f"**{result.summary()}**", "",
             "| " + " | ".join(HEADER) + " |", "| " + " | ".join(align) + " |"]
    for row in result.rows:
        cells = [_markdown_cell(c) for c in _cells(row)]
        if not row.holds:
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(cells) + " |")
    if result.extra:
        lines += ["", "Extra rows (in the produced table, not in the reference):", ""]
        lines += [f"- `{key.label()}`" for key in result.extra]
    return "\n".join(lines) + "\n"


def _testcase(suite: ET.Element, key: RowKey) -> ET.Element:
    name = RowKey("", *key[1:]).label().strip()
    return ET.SubElement(suite, "testcase", classname=f"gwapbench.check.{key.table}", name=name)


def render_junit(result: CheckResult, title: str) -> bytes:
    """JUnit XML (UTF-8, with declaration): one testcase per compared row, one skipped testcase per extra row."""
    counts = {"tests": str(len(result.rows) + len(result.extra)), "failures": str(len(result.failures)),
              "errors": "0", "skipped": str(len(result.extra))}
    root = ET.Element("testsuites", name=SUITE_NAME, **counts)
    suite = ET.SubElement(root, "testsuite", name=title, **counts)
    for row in result.rows:
        case = _testcase(suite, row.key)
        if not row.holds:
            message = (f"{row.verdict.value}: reference {_number(row.reference)}, "
                       f"produced {_produced_text(row) or '-'}, delta {_delta_text(row) or '-'}, "
                       f"tolerance {_number(row.tolerance)}")
            ET.SubElement(case, "failure", message=message, type=row.verdict.name.lower()).text = message
    for key in result.extra:
        ET.SubElement(_testcase(suite, key), "skipped", message="extra row: not in the reference")
    ET.indent(root)
    document = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    declaration, _, body = document.partition(b"\n")
    return declaration + f"\n<!-- {REPORT_MARKER} -->\n".encode() + body + b"\n"
