"""`gwapbench check` and gwapbench.regression: matching, tolerances, failures, bad input, reports.

Expected verdicts are worked by hand, or computed independently with exact rational arithmetic
(`fractions.Fraction`) on the decimal strings the CSVs hold.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from gwapbench.cli import cli
from gwapbench.errors import InputError
from gwapbench.regression import RowKey, Verdict, compare, compare_with_paper, parse_tolerances

HEADER = ["table", "net", "method", "setting", "metric", "reproduced", "paper", "delta", "run_id"]
# (table, net, method, setting, metric, reproduced) of a small hand-made reference table
REFERENCE_ROWS = [
    ("table1", "tiny", "gap", "", "voc07_cls_map", "30.3"),
    ("table1", "tiny", "gwap", "", "voc07_cls_map", "31.5"),
    ("table2", "tiny", "gwap", "", "voc07_otsu_fmeasure", "0.3"),
    ("table4", "tiny", "gwap", "single-scale 224", "ilsvrc_top1_loc_error", "61.25"),
]


def write_table(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """A table CSV in the format of the table commands (paper, delta and run_id filled with placeholders)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow([*row, "", "", "run0"])
    return path


def with_value(rows: list[tuple[str, ...]], index: int, value: str) -> list[tuple[str, ...]]:
    return [(*row[:5], value) if i == index else row for i, row in enumerate(rows)]


def run_check(*args: str):
    return CliRunner().invoke(cli, ["check", *args])


@pytest.fixture
def reference(tmp_path) -> Path:
    return write_table(tmp_path / "reference.csv", REFERENCE_ROWS)


def test_identical_files_pass(tmp_path, reference):
    produced = write_table(tmp_path / "produced.csv", REFERENCE_ROWS)
    result = run_check(str(produced), "--reference", str(reference))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "PASSED: 4 of 4 rows hold"
    checked = compare(produced, reference, {}, 0.0)
    assert [row.verdict for row in checked.rows] == [Verdict.OK] * 4
    assert [row.delta for row in checked.rows] == [0.0] * 4
    assert checked.extra == () and checked.passed


@pytest.mark.parametrize(
    ("index", "produced", "tolerance", "holds"),
    [
        (2, "0.4", "0.1", True),  # exactly at the tolerance (0.4 - 0.3 is 0.10000000000000003 in binary)
        (2, "0.2", "0.1", True),  # exactly at the tolerance, below the reference
        (2, "0.4", "0.0999", False),
        (2, "0.4000000000000001", "0.1", False),  # the next float above 0.4 is past the tolerance
        (0, "30.4", "0.1", True),  # 30.4 - 30.3 is 0.09999999999999787 in binary: still exactly 0.1 in decimal
        (0, "30.41", "0.1", False),
        (0, "30.19", "0.1", False),
        (3, "61.25", "0", True),
        (3, "61.26", "0", False),
    ],
)
def test_tolerance_boundary_is_inclusive_on_the_decimal_values(tmp_path, reference, index, produced, tolerance, holds):
    path = write_table(tmp_path / "produced.csv", with_value(REFERENCE_ROWS, index, produced))
    metric = REFERENCE_ROWS[index][4]
    result = run_check(str(path), "--reference", str(reference), "--tol", f"{metric}={tolerance}")
    assert result.exit_code == (0 if holds else 1), result.output
    row = compare(path, reference, {metric: float(tolerance)}, 0.0).rows[index]
    assert row.verdict is (Verdict.OK if holds else Verdict.OUTSIDE)
    assert row.delta == float(Fraction(produced) - Fraction(REFERENCE_ROWS[index][5]))


STEP = Decimal("0.0001")


@settings(max_examples=300, deadline=None)
@given(reference_value=st.decimals(min_value=-1000, max_value=1000, places=4), offset=st.integers(-3000, 3000),
       shift=st.integers(-2, 2))
def test_verdict_matches_exact_rational_arithmetic(reference_value, offset, shift):
    """Around the boundary (tolerance = |offset| + shift steps), the verdict is |p - r| <= tol in exact rationals."""
    produced_value = reference_value + offset * STEP
    tolerance = max(0, abs(offset) + shift) * STEP
    key = ["table1", "tiny", "gap", "", "voc07_cls_map"]
    produced = pd.DataFrame([key + [str(produced_value)]], columns=HEADER[:6])
    reference = pd.DataFrame([key + [str(reference_value)]], columns=HEADER[:6])
    row = compare(produced, reference, {}, float(tolerance)).rows[0]
    assert row.holds == (abs(Fraction(produced_value) - Fraction(reference_value)) <= Fraction(tolerance))


def test_missing_row_fails_and_extra_row_is_listed(tmp_path, reference):
    produced_rows = REFERENCE_ROWS[:1] + REFERENCE_ROWS[2:] + [("table1", "tiny", "gwap_gt", "", "voc07_cls_map", "33")]
    produced = write_table(tmp_path / "produced.csv", produced_rows)
    result = run_check(str(produced), "--reference", str(reference))
    assert result.exit_code == 1
    assert "FAIL: missing from produced" in result.output
    assert "  table1 tiny gwap_gt voc07_cls_map" in result.output.splitlines()
    assert result.output.splitlines()[-1] == "FAILED: 3 of 4 rows hold, 1 extra row(s) not in the reference"
    checked = compare(produced, reference, {}, 0.0)
    assert [row.key.method for row in checked.failures] == ["gwap"]
    assert checked.extra == (RowKey("table1", "tiny", "gwap_gt", "", "voc07_cls_map"),)


def test_extra_row_alone_passes(tmp_path, reference):
    produced = write_table(tmp_path / "produced.csv", REFERENCE_ROWS + [("table9", "tiny", "lse", "r=5", "m", "1")])
    result = run_check(str(produced), "--reference", str(reference))
    assert result.exit_code == 0
    assert "  table9 tiny lse [r=5] m" in result.output.splitlines()


@pytest.mark.parametrize(("side", "value"), [("produced", "nan"), ("produced", ""), ("produced", "inf"),
                                             ("reference", "NaN")])
def test_nan_or_infinity_fails_even_under_a_huge_tolerance(tmp_path, side, value):
    changed = with_value(REFERENCE_ROWS, 1, value)
    produced = write_table(tmp_path / "produced.csv", changed if side == "produced" else REFERENCE_ROWS)
    reference = write_table(tmp_path / "reference.csv", changed if side == "reference" else REFERENCE_ROWS)
    result = run_check(str(produced), "--reference", str(reference), "--default-tol", "1e300")
    assert result.exit_code == 1
    checked = compare(produced, reference, {}, 1e300)
    assert [(row.key.method, row.verdict) for row in checked.failures] == [("gwap", Verdict.NOT_FINITE)]


def test_per_metric_tolerance_and_default(tmp_path, reference):
    produced = write_table(tmp_path / "produced.csv", with_value(with_value(REFERENCE_ROWS, 0, "30.8"), 2, "0.35"))
    # voc07_cls_map moved by 0.5, the F-measure by 0.05
    assert run_check(str(produced), "--reference", str(reference), "--tol", "voc07_cls_map=0.5",
                     "--default-tol", "0.05").exit_code == 0
    assert run_check(str(produced), "--reference", str(reference), "--tol", "voc07_cls_map=0.5").exit_code == 1
    assert run_check(str(produced), "--reference", str(reference), "--default-tol", "0.05").exit_code == 1
    tolerances = [row.tolerance for row in compare(produced, reference, {"voc07_cls_map": 0.5}, 0.05).rows]
    assert tolerances == [0.5, 0.5, 0.05, 0.05]


def test_dataframes_with_missing_settings_match_empty_settings(reference):
    frame = pd.read_csv(reference)  # pandas' default reading turns the empty settings into NaN
    assert frame["setting"].isna().sum() == 3
    assert compare(frame, reference, {}, 0.0).passed


def assert_bad_input(result, *fragments: str) -> None:
    """Exit code 2 and a single `error: ...` line on stderr naming the file or argument."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_input_exits_2_with_one_line(tmp_path, reference):
    good = write_table(tmp_path / "produced.csv", REFERENCE_ROWS)
    malformed = tmp_path / "malformed.csv"
    malformed.write_text(",".join(HEADER) + "\ntable1,tiny,gap,,voc07_cls_map,30.3,,,run0,surplus,cells\n")
    assert_bad_input(run_check(str(malformed), "--reference", str(reference)), str(malformed), "cannot read as CSV")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81table\x00")
    assert_bad_input(run_check(str(binary), "--reference", str(reference)), str(binary))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_bad_input(run_check(str(good), "--reference", str(empty)), str(empty), "cannot read as CSV")
    header_only = write_table(tmp_path / "header_only.csv", [])
    assert_bad_input(run_check(str(good), "--reference", str(header_only)), str(header_only), "no rows")
    assert_bad_input(run_check(str(tmp_path / "absent.csv"), "--reference", str(reference)), "absent.csv", "not found")
    assert_bad_input(run_check(str(tmp_path), "--reference", str(reference)), str(tmp_path))

    no_metric = tmp_path / "no_metric.csv"
    pd.read_csv(good, dtype=str, keep_default_na=False).drop(columns=["metric"]).to_csv(no_metric, index=False)
    assert_bad_input(run_check(str(no_metric), "--reference", str(reference)), str(no_metric), "metric")

    duplicated = write_table(tmp_path / "duplicated.csv", REFERENCE_ROWS + [REFERENCE_ROWS[1]])
    assert_bad_input(run_check(str(good), "--reference", str(duplicated)), str(duplicated), "duplicate key",
                     "rows 3 and 6")
    text_value = write_table(tmp_path / "text_value.csv", with_value(REFERENCE_ROWS, 0, "30.3%"))
    assert_bad_input(run_check(str(text_value), "--reference", str(reference)), str(text_value), "row 2",
                     "'30.3%' is not a number")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--tol", "voc07_cls_map"], "--tol voc07_cls_map"),
        (["--tol", "=0.5"], "--tol =0.5"),
        (["--tol", "voc07_cls_map=half"], "--tol voc07_cls_map=half"),
        (["--tol", "voc07_cls_map=-0.1"], "--tol voc07_cls_map=-0.1"),
        (["--tol", "voc07_cls_map=nan"], "--tol voc07_cls_map=nan"),
        (["--tol", "voc07_cls_map=0.1", "--tol", "voc07_cls_map=0.2"], "has a tolerance already"),
        (["--tol", "voc07_cls_mAP=0.1"], "voc07_cls_mAP: no reference row has that metric"),
        (["--default-tol", "x"], "--default-tol x"),
        (["--default-tol", "inf"], "--default-tol inf"),
    ],
)
def test_bad_tolerance_exits_2(tmp_path, reference, args, fragment):
    produced = write_table(tmp_path / "produced.csv", REFERENCE_ROWS)
    assert_bad_input(run_check(str(produced), "--reference", str(reference), *args), fragment)


def test_parse_tolerances():
    assert parse_tolerances(["voc07_cls_map=0.5", "ilsvrc_top1_loc_error=1e-3"]) == {
        "voc07_cls_map": 0.5, "ilsvrc_top1_loc_error": 0.001}
    with pytest.raises(InputError, match="expected METRIC=ABS"):
        parse_tolerances(["0.5"])


def test_reference_xor_against_paper(tmp_path, reference):
    produced = write_table(tmp_path / "produced.csv", REFERENCE_ROWS)
    assert_bad_input(run_check(str(produced)), "--reference", "--against-paper")
    assert_bad_input(run_check(str(produced), "--reference", str(reference), "--against-paper"), "exactly one")


def test_report_paths_are_checked_before_anything_is_written(tmp_path, reference):
    produced = write_table(tmp_path / "produced.csv", REFERENCE_ROWS)
    folder = tmp_path / "reports"
    folder.mkdir()
    assert_bad_input(run_check(str(produced), "--reference", str(reference), "--markdown", str(folder)),
                     f"--markdown {folder}: is a folder")
    before = reference.read_bytes()
    assert_bad_input(run_check(str(produced), "--reference", str(reference), "--junit", str(reference)),
                     "is an input file")
    assert reference.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["produced.csv", "reference.csv", "reports"]


def markdown_table(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in rows]


def test_markdown_and_junit_reports(tmp_path, reference):
    rows = with_value(REFERENCE_ROWS, 0, "30.9")  # 0.6 past the reference: outside 0.5
    rows = with_value(rows, 2, "nan")
    extra = ("table1", "tiny", "a<b&c", "", "voc07_cls_map", "1")
    produced = write_table(tmp_path / "produced.csv", rows[:3] + [extra])
    markdown, junit = tmp_path / "out" / "summary.md", tmp_path / "out" / "check.xml"
    result = run_check(str(produced), "--reference", str(reference), "--tol", "voc07_cls_map=0.5",
                       "--markdown", str(markdown), "--junit", str(junit))
    assert result.exit_code == 1

    table = markdown_table(markdown.read_text())
    assert table[0] == ["table", "net", "method", "setting", "metric", "reference", "produced", "delta",
                        "tolerance", "verdict"]
    assert table[2] == ["table1", "tiny", "gap", "", "voc07_cls_map", "30.3", "30.9", "+0.6", "0.5",
                        "**FAIL: outside tolerance**"]
    assert table[3][-1] == "ok" and table[3][7] == "+0.0"
    assert [r[-1] for r in table[4:]] == ["**FAIL: not a finite number**", "**FAIL: missing from produced**"]
    assert "**FAILED: 1 of 4 rows hold, 1 extra row(s) not in the reference**" in markdown.read_text()
    assert "- `table1 tiny a<b&c voc07_cls_map`" in markdown.read_text()

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = suites[0].findall("testcase")
    assert len(cases) == 5  # four reference rows and one extra row
    for element in (root, suites[0]):
        assert (element.get("tests"), element.get("failures"), element.get("errors"), element.get("skipped")) == \
            ("5", "3", "0", "1")
    failed = [case.get("name") for case in cases if case.find("failure") is not None]
    assert failed == ["tiny gap voc07_cls_map", "tiny gwap voc07_otsu_fmeasure",
                      "tiny gwap [single-scale 224] ilsvrc_top1_loc_error"]
    assert [case.get("classname") for case in cases] == ["gwapbench.check.table1"] * 2 + [
        "gwapbench.check.table2", "gwapbench.check.table4", "gwapbench.check.table1"]
    assert cases[0].find("failure").get("message").startswith("outside tolerance: reference 30.3, produced 30.9")
    assert [case.get("name") for case in cases if case.find("skipped") is not None] == ["tiny a<b&c voc07_cls_map"]
    assert sorted(p.name for p in markdown.parent.iterdir()) == ["check.xml", "summary.md"]  # no temporary left


def test_passing_junit_has_no_failure(tmp_path, reference):
    produced = write_table(tmp_path / "produced.csv", REFERENCE_ROWS)
    junit = tmp_path / "check.xml"
    assert run_check(str(produced), "--reference", str(reference), "--junit", str(junit)).exit_code == 0
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0"
    assert len(list(root.iter("testcase"))) == 4 and not list(root.iter("failure"))


# Paper values typed from the paper's tables (Table I, II, IV), independent of the packaged CSV loader.
PAPER_ROWS = [
    ("table1", "caffenet", "gwap", "", "voc07_cls_map", "70.0"),  # paper 70.4: delta -0.4
    ("table2", "caffenet", "gap", "", "voc07_otsu_fmeasure", "0.30"),  # paper 0.3517: delta -0.0517
    ("table4", "googlenet", "gwap", "single-scale 224", "ilsvrc_top1_loc_error", "55.0"),  # paper 54.99: +0.01
    ("table1", "tiny", "gwap", "", "voc07_cls_map", "31.5"),  # no paper value: extra
]


def test_against_paper(tmp_path):
    produced = write_table(tmp_path / "produced.csv", PAPER_ROWS)
    tolerances = ["--tol", "voc07_cls_map=0.4", "--tol", "ilsvrc_top1_loc_error=0.01"]
    result = run_check(str(produced), "--against-paper", *tolerances, "--default-tol", "0.05")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"gwapbench check {produced} against the paper's numbers"
    assert [line.split()[:3] for line in lines[3:6]] == [["table1", "caffenet", "gwap"], ["table2", "caffenet", "gap"],
                                                        ["table4", "googlenet", "gwap"]]
    assert [line.rsplit("  ", 1)[-1] for line in lines[3:6]] == ["ok", "FAIL: outside tolerance", "ok"]
    checked = compare_with_paper(produced, {"voc07_cls_map": 0.4, "ilsvrc_top1_loc_error": 0.01}, 0.05)
    assert [(row.reference, row.produced, row.delta) for row in checked.rows] == [
        (70.4, 70.0, -0.4), (0.3517, 0.30, -0.0517), (54.99, 55.0, 0.01)]
    assert "  table1 tiny gwap voc07_cls_map" in lines
    assert lines[-1] == ("FAILED: 2 of 3 rows hold, 1 extra row(s) not in the reference, "
                         "63 reference row(s) not in the produced table (not compared)")
    # 0.0517 from the paper's F-measure is within 0.06
    assert run_check(str(produced), "--against-paper", *tolerances, "--default-tol", "0.06").exit_code == 0


def test_against_paper_without_a_matching_row_exits_2(tmp_path):
    produced = write_table(tmp_path / "produced.csv", PAPER_ROWS[3:])
    assert_bad_input(run_check(str(produced), "--against-paper"), str(produced), "no row matches a paper row")


def test_help_does_not_import_pandas():
    code = ("import sys\nfrom gwapbench.cli import cli\n"
            "try:\n    cli(['check', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert "Example:" in out and "gwapbench check out/table1.csv" in out
    assert out.splitlines()[-1] == "False"


def write_scheduled(path: Path, schedules: list[str], values: list[str] | None = None) -> Path:
    """REFERENCE_ROWS with a `schedule` column (one schedule per row) and optionally other values."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*HEADER, "schedule"])
        for i, (row, schedule) in enumerate(zip(REFERENCE_ROWS, schedules)):
            writer.writerow([*row[:5], values[i] if values else row[5], "", "", "run0", schedule])
    return path


def test_rows_of_another_schedule_are_refused_in_one_line(tmp_path):
    reference = write_scheduled(tmp_path / "reference.csv", ["ci"] * 4)
    quick = write_scheduled(tmp_path / "quick.csv", ["ci", "quick", "ci", "ci"])
    assert_bad_input(run_check(str(quick), "--reference", str(reference), "--default-tol", "100"),
                     "reference rows use schedule ci, produced rows use quick", "tiny gwap voc07_cls_map")
    overridden = write_scheduled(tmp_path / "overridden.csv", ["ci+iterations=4"] * 4)
    assert_bad_input(run_check(str(overridden), "--reference", str(reference)), "produced rows use ci+iterations=4")
    same = write_scheduled(tmp_path / "same.csv", ["ci"] * 4)
    assert run_check(str(same), "--reference", str(reference)).exit_code == 0


def test_a_table_without_a_schedule_column_is_compared_as_before(tmp_path, reference):
    produced = write_scheduled(tmp_path / "produced.csv", ["quick"] * 4)
    assert run_check(str(produced), "--reference", str(reference)).exit_code == 0


def test_the_tolerance_file_beside_the_reference_applies_and_tol_overrides_it(tmp_path, reference):
    moved = write_table(tmp_path / "moved.csv", with_value(REFERENCE_ROWS, 1, "31.9"))  # gwap +0.4
    assert run_check(str(moved), "--reference", str(reference)).exit_code == 1  # no file: tolerance 0
    (tmp_path / "reference.tolerances.csv").write_text(
        "metric,tolerance,measured_spread,basis\nvoc07_cls_map,0.5,0.25,hand-written\n")
    result = run_check(str(moved), "--reference", str(reference))
    assert result.exit_code == 0 and "reference.tolerances.csv" in result.output, result.output
    assert run_check(str(moved), "--reference", str(reference), "--tol", "voc07_cls_map=0.3").exit_code == 1
    (tmp_path / "reference.tolerances.csv").write_text("metric,tolerance\nvoc07_cls_map,-1\n")
    assert_bad_input(run_check(str(moved), "--reference", str(reference)), "reference.tolerances.csv", "-1")
    (tmp_path / "reference.tolerances.csv").write_text("metric,tolerance\nvoc07_cls_mAP,0.5\n")
    assert_bad_input(run_check(str(moved), "--reference", str(reference)), "voc07_cls_mAP")


def test_tolerance_files_round_trip(tmp_path):
    from gwapbench.regression import read_tolerance_file, tolerance_file, write_tolerance_file

    path = write_tolerance_file(tmp_path / "table9.csv", [("a_metric", 0.25, 0.1, "max-min over x"),
                                                          ("b_metric", 6.0, 3.0, "max-min over y")])
    assert path == tolerance_file(tmp_path / "table9.csv") == tmp_path / "table9.tolerances.csv"
    assert read_tolerance_file(path) == {"a_metric": 0.25, "b_metric": 6.0}


@pytest.mark.parametrize("option", ["--markdown", "--junit"])
def test_a_report_never_overwrites_a_file_gwapbench_did_not_write(tmp_path, reference, option):
    produced = write_table(tmp_path / "produced.csv", REFERENCE_ROWS)
    notes = tmp_path / "notes.md"
    notes.write_text("# my notes\n\nwritten by me\n")
    result = run_check(str(produced), "--reference", str(reference), option, str(notes))
    assert_bad_input(result, f"{option} {notes}", "did not write")
    assert notes.read_text() == "# my notes\n\nwritten by me\n"
    assert "PASSED" not in result.output  # checked before comparing


@pytest.mark.parametrize("option", ["--markdown", "--junit"])
def test_a_rerun_replaces_the_report_it_wrote(tmp_path, reference, option):
    report = tmp_path / "reports" / "check.out"
    first = write_table(tmp_path / "first.csv", REFERENCE_ROWS)
    assert run_check(str(first), "--reference", str(reference), option, str(report)).exit_code == 0
    second = write_table(tmp_path / "second.csv", with_value(REFERENCE_ROWS, 0, "99"))
    assert run_check(str(second), "--reference", str(reference), option, str(report)).exit_code == 1
    assert "99" in report.read_text()  # the second check's report replaced the first's
    assert sorted(p.name for p in report.parent.iterdir()) == ["check.out"]


@pytest.mark.parametrize("option", ["--markdown", "--junit"])
def test_a_report_under_a_file_is_refused_before_comparing(tmp_path, reference, option):
    produced = write_table(tmp_path / "produced.csv", REFERENCE_ROWS)
    blocker = tmp_path / "afile"
    blocker.write_text("mine")
    result = run_check(str(produced), "--reference", str(reference), option, str(blocker / "r.md"))
    assert_bad_input(result, f"{option} {blocker / 'r.md'}", f"{blocker} is a file")
    assert "PASSED" not in result.output and blocker.read_text() == "mine"


def write_with_precision(path: Path, precisions: list[str]) -> Path:
    """REFERENCE_ROWS with schedule ci and a `precision` column (one precision per row)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*HEADER, "schedule", "precision"])
        for row, precision in zip(REFERENCE_ROWS, precisions):
            writer.writerow([*row[:6], "", "", "run0", "ci", precision])
    return path


def test_a_reference_without_a_precision_column_is_fp32_and_other_precisions_are_refused(tmp_path):
    """CSVs made before the precision column were all fp32 (CPU runs): fp32 rows compare, bf16 rows are refused."""
    reference = write_scheduled(tmp_path / "reference.csv", ["ci"] * 4)
    fp32 = write_with_precision(tmp_path / "fp32.csv", ["fp32"] * 4)
    assert run_check(str(fp32), "--reference", str(reference)).exit_code == 0
    bf16 = write_with_precision(tmp_path / "bf16.csv", ["fp32", "bf16", "fp32", "fp32"])
    assert_bad_input(run_check(str(bf16), "--reference", str(reference), "--default-tol", "100"),
                     "reference rows use precision fp32, produced rows use bf16", "tiny gwap voc07_cls_map")
    assert_bad_input(run_check(str(reference), "--reference", str(bf16), "--default-tol", "100"),
                     "reference rows use precision bf16, produced rows use fp32")
