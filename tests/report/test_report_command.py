"""`gwapbench report`: every table and figure of --out on the page, the paper check of each row the paper reports
(recomputed here from ../shared/paper/paper_tables.csv), the environment lines, and the output rules."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gwapbench import __version__
from gwapbench.cli import cli
from gwapbench.tables.table import COLUMNS

# A Table I as `table1 --net googlenet --data voc07` writes it (values made up): which rows lie within 1 point
# of the paper is decided below from the shared paper file, not by gwapbench.
GOOGLENET_VALUES = {"gap": 84.2, "gwap_no_sigmoid": 79.0, "gwap_no_exp": 84.6, "gwap": 83.0, "gwap_gt": 86.5}


@pytest.fixture()
def out(tiny_store, tmp_path) -> Path:
    folder = tmp_path / "out"
    shutil.copytree(tiny_store / "out", folder)
    return folder


def _paper(shared_paper: Path) -> dict[tuple[str, str, str], float]:
    with (shared_paper / "paper_tables.csv").open(newline="") as f:
        return {(r["table"], r["net"], r["method"]): float(r["value"]) for r in csv.DictReader(f)
                if r["metric"] == "voc07_cls_map" and r["setting"] == ""}


def _write_googlenet_table(path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, restval="")
        writer.writeheader()
        for method, value in GOOGLENET_VALUES.items():
            writer.writerow({"table": "table1", "net": "googlenet", "method": method, "metric": "voc07_cls_map",
                             "reproduced": value, "schedule": "paper", "precision": "fp32"})


def _report(out: Path, runs: Path, *more: str):
    return CliRunner().invoke(cli, ["report", "--out", str(out), "--runs-dir", str(runs), *more])


def _table_rows(markdown: str, title: str) -> list[list[str]]:
    section = markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def test_report_shows_every_table_figure_run_and_the_environment(out, tiny_store):
    result = _report(out, tiny_store / "runs")
    assert result.exit_code == 0, result.output
    markdown = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    for name in ("table1.csv", "table2.csv"):
        assert f"## {name}" in markdown and f"<h2>{name}</h2>" in page
    assert "table1_per_class.csv" not in markdown  # not a table of the paper's format
    for title, source in (("table1.csv", out / "table1.csv"), ("table2.csv", out / "table2.csv")):
        with source.open(newline="") as f:
            expected = [(r["method"], f"{float(r['reproduced']):.4g}", r["paper_ref_source"])
                        for r in csv.DictReader(f)]
        assert [(r[0], r[4], r[9]) for r in _table_rows(markdown, title)] == expected
    png = base64.b64encode((out / "fig7.png").read_bytes()).decode()
    assert f'src="data:image/png;base64,{png}"' in page and "](fig7.png)" in markdown
    assert "<img" in page and 'src="fig7.png"' not in page  # self-contained
    run_ids = sorted(p.name for p in (tiny_store / "runs").iterdir())
    assert all(run_id in markdown for run_id in run_ids)
    with (out / "table1.csv").open(newline="") as f:
        first = next(csv.DictReader(f))
    assert f"- **schedule**: {first['schedule']}" in markdown and "- **net**: tiny" in markdown
    assert f"- **precision**: {first['precision']}" in markdown and first["precision"] == "fp32"
    root = json.loads(next((tiny_store / "runs").glob("*/config.json")).read_text())["config"]["data"]["root"]
    assert f"- **data**: voc ({Path(root).name})" in markdown
    trained = sum(float(s) for run_id in run_ids for s in re.findall(
        r"trained in ([0-9.]+) s", (tiny_store / "runs" / run_id / "log.txt").read_text()))
    assert f"- **runtime**: {trained:.1f} s training" in markdown
    assert f"- **gwapbench**: {__version__}" in markdown and f"- **torch**: {torch.__version__}" in markdown
    assert f"- **CUDA**: {torch.version.cuda or 'none'}" in markdown
    assert f"- **torch threads**: {torch.get_num_threads()} " in markdown
    assert re.search(r"- \*\*(CPU|GPU)\*\*: \S", markdown)
    assert "No row is one the paper reports" in markdown  # tiny on VOC-layout data: nothing checked


def test_rows_outside_the_paper_tolerance_are_flagged(out, tiny_store, shared_paper):
    paper = _paper(shared_paper)
    _write_googlenet_table(out / "table1_googlenet.csv")
    outside = {m for m, v in GOOGLENET_VALUES.items() if abs(v - paper["table1", "googlenet", m]) > 1.0}
    assert outside and outside != set(GOOGLENET_VALUES)  # the made-up values straddle the tolerance
    result = _report(out, tiny_store / "runs")
    assert result.exit_code == 0, result.output
    markdown = (out / "report.md").read_text()
    rows = _table_rows(markdown, "table1_googlenet.csv")
    assert {r[0] for r in rows if r[7].startswith("**OUTSIDE tolerance 1")} == outside
    assert {r[0] for r in rows if r[7] == "ok (within 1)"} == set(GOOGLENET_VALUES) - outside
    assert [float(r[5]) for r in rows] == [paper["table1", "googlenet", m] for m in GOOGLENET_VALUES]
    page = (out / "report.html").read_text()
    assert page.count('<td class="outside">') == len(outside)
    assert f"{len(outside)} outside tolerance" in markdown
    assert "voc07_cls_map 1," in markdown  # the tolerance used is stated
    loose = max(abs(v - paper["table1", "googlenet", m]) for m, v in GOOGLENET_VALUES.items())
    result = _report(out, tiny_store / "runs", "--tol", f"voc07_cls_map={loose}")
    assert result.exit_code == 0 and "OUTSIDE" not in (out / "report.md").read_text()


def test_bad_input_and_foreign_files(tmp_path, tiny_store):
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (empty, tmp_path / "missing"):
        result = _report(folder, tiny_store / "runs")
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "missing").exists()
    user = tmp_path / "user"  # a folder gwapbench did not write, holding the user's own report.md
    user.mkdir()
    shutil.copy(tiny_store / "out" / "table1.csv", user / "table1.csv")
    (user / "report.md").write_text("my notes")
    result = _report(user, tiny_store / "runs")
    assert result.exit_code == 2 and "report.md" in result.output
    assert (user / "report.md").read_text() == "my notes" and not (user / "report.html").exists()
    result = _report(tiny_store / "out", tiny_store / "runs", "--tol", "synthetic_cls_map=1")
    assert result.exit_code == 2 and "not a metric of the paper" in result.output
