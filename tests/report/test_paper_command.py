"""`gwapbench paper`: each table printed with the paper's own rows, columns, names and decimals, compared with the
tab-separated tables of ../shared/paper/gwap-paper.md (the paper's text) and the values of its paper_tables.csv."""

from __future__ import annotations

import csv
import re

import pytest
from click.testing import CliRunner

from gwapbench.cli import cli

HEADINGS = {"table1": "TABLE I", "table2": "TABLE II", "table3": "TABLE III", "table4": "TABLE IV", "table5": "TABLE V"}


def _paper_markdown_table(text: str, heading: str) -> list[list[str]]:
    """The tab-separated lines under `heading` in gwap-paper.md, bold marks removed, $\\sigma$ as σ."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    first = next(i for i in range(start, len(lines)) if "\t" in lines[i])
    end = next(i for i in range(first, len(lines)) if "\t" not in lines[i])
    clean = lambda cell: re.sub(r"\s+", " ", cell.replace("<b>", "").replace("</b>", "")  # noqa: E731
                                .replace("$\\sigma$", "σ")).strip()
    return [[clean(cell) for cell in line.split("\t")] for line in lines[first:end]]


def _printed_table(output: str) -> list[list[str]]:
    """The aligned block of `gwapbench paper TABLE` (between the caption and the footnote)."""
    block = output.split("\n\n")[1]
    return [re.split(r"\s{2,}", line.strip()) for line in block.splitlines()]


@pytest.mark.parametrize("table", sorted(HEADINGS))
def test_printed_as_the_paper_shows_it(table, shared_paper):
    result = CliRunner().invoke(cli, ["paper", table])
    assert result.exit_code == 0, result.output
    expected = _paper_markdown_table((shared_paper / "gwap-paper.md").read_text(encoding="utf-8"), HEADINGS[table])
    assert _printed_table(result.output) == expected
    assert result.output.startswith(HEADINGS[table] + ":")


def test_values_equal_the_shared_paper_file(shared_paper):
    with (shared_paper / "paper_tables.csv").open(newline="") as f:
        values = [(r["table"], r["value"]) for r in csv.DictReader(f)]
    output = CliRunner().invoke(cli, ["paper"]).output
    printed = {name: sum((row[1:] for row in _printed_table(part)[1:]), [])
               for name, part in zip(sorted(HEADINGS), output.split("TABLE ")[1:])}
    for name in HEADINGS:
        expected = sorted(v for t, v in values if t == name)
        numbers = sorted(cell for cell in printed[name] if re.fullmatch(r"[0-9.]+", cell))
        assert numbers == expected, name


def test_unknown_table_is_refused():
    result = CliRunner().invoke(cli, ["paper", "table9"])
    assert result.exit_code == 2 and "table9" in result.output
