"""Every number of Tables I-IV, as the golden ci commands print it, and every number and box `localize-error`
prints for those runs, equals the literal computation of tests/oracle (runs.py, literal.py) from the stored
predictions and the dataset's own annotation files.

The runs are the session's golden store (tests/conftest.py: `golden_store`), trained once for the golden
checks too; the oracle imports nothing from gwapbench.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.golden.golden import golden_table
from tests.oracle import runs as oracle

REL = oracle.REL


def test_table1_map_and_every_class_ap_equal_the_devkit_vocevalcls_loop(golden_store):
    rows = oracle.csv_rows(golden_store / "out" / "table1.csv")
    per_class = oracle.csv_rows(golden_store / "out" / "table1_per_class.csv")
    assert len(rows) == 5
    for row in rows:
        expected, expected_per_class = oracle.table1(golden_store / "runs", row["run_id"])
        assert float(row["reproduced"]) == pytest.approx(expected, rel=REL), row["method"]
        printed = {r["class"]: float(r["reproduced"]) for r in per_class if r["run_id"] == row["run_id"]}
        assert printed == pytest.approx(expected_per_class, rel=REL, nan_ok=True), row["method"]
        assert 0 < expected < 100  # a degenerate mAP would need its own explanation


@pytest.fixture(scope="module")
def table2_by_cam_map(golden_store, tmp_path_factory) -> dict[str, Path]:
    """table2.csv for each --cam-map: the golden one (predicted, the default) and the table re-rendered from
    the same runs with --cam-map gt and top1 (evaluation only, nothing trained)."""
    from gwapbench.cli import cli

    tables = {"predicted": golden_store / "out" / "table2.csv"}
    for cam_map in ("gt", "top1"):
        out = tmp_path_factory.mktemp(f"table2-{cam_map}")
        result = CliRunner().invoke(cli, golden_table("table2").table_args(golden_store / "runs", out,
                                                                           "--cam-map", cam_map))
        assert result.exit_code == 0, result.output
        assert "finished in" not in result.output  # table1's runs, evaluated only
        tables[cam_map] = out / "table2.csv"
    return tables


@pytest.mark.parametrize("cam_map", ["predicted", "gt", "top1"])
def test_table2_fmeasures_and_centre_prior_equal_otsu_over_box_unions(golden_store, table2_by_cam_map, cam_map):
    rows = oracle.csv_rows(table2_by_cam_map[cam_map])
    assert [r["method"] for r in rows][-1] == "centre_prior" and len(rows) == 6
    runs = golden_store / "runs"
    for row in rows:
        if row["method"] == "centre_prior":
            expected = oracle.centre_prior(runs, rows[0]["run_id"])
        else:
            expected = oracle.table2(runs, row["run_id"], cam_map)
        assert float(row["reproduced"]) == pytest.approx(expected, rel=REL), (cam_map, row["method"])
        assert 0 < expected < 1
    gap = {name: float(next(r for r in oracle.csv_rows(path) if r["method"] == "gap")["reproduced"])
           for name, path in table2_by_cam_map.items()}
    assert len(set(gap.values())) == 3  # --cam-map changes the CAM row: the three maps differ


def test_table3_errors_equal_top_k_by_sorting(golden_store):
    rows = oracle.csv_rows(golden_store / "out" / "table3.csv")
    assert [(r["method"], r["metric"].split("_")[-3]) for r in rows] == [
        (m, k) for m in ("gap", "gmp", "gwap") for k in ("top1", "top5")]
    for row in rows:
        expected = oracle.table3(golden_store / "runs", row["run_id"], 1 if "_top1_" in row["metric"] else 5)
        assert float(row["reproduced"]) == pytest.approx(expected, rel=REL), (row["method"], row["metric"])
        assert 0 < expected < 100


@pytest.mark.parametrize("method", ["gap", "gmp", "gwap"])
def test_table4_errors_equal_the_papers_box_rule_and_eval_clsloc(golden_store, method):
    """GWAP's rows follow the paper's normalization of alpha to [0, 1] before the 20 % threshold."""
    rows = [r for r in oracle.csv_rows(golden_store / "out" / "table4.csv") if r["method"] == method]
    assert [r["setting"].split()[0] for r in rows] == ["single-scale", "multi-scale"]
    for row in rows:
        expected = oracle.localization(golden_store / "runs", row["run_id"], oracle.setting_sizes(row["setting"]))
        assert len({box for _, box in expected["top1_boxes"]}) > 1, row["setting"]  # not every box alike
        # degenerate-number guard: the raw 0.2 x max rule made every GWAP box the whole image (alpha <= e x min)
        assert expected["whole_image_top1_boxes"] < expected["test_images"], row["setting"]
        assert float(row["reproduced"]) == pytest.approx(expected["top1_loc_error"], rel=REL), row["setting"]


_CASES = [(m, s, 0.2) for m in ("gap", "gmp", "gwap") for s in ([64], [64, 128])] + [("gap", [64], 0.5),
                                                                                   ("gwap", [64], 0.5)]
LOCALIZE_CASES = [pytest.param(method, sizes, threshold, id=f"{method}-{'+'.join(map(str, sizes))}-t{threshold}")
                  for method, sizes, threshold in _CASES]


@pytest.mark.parametrize(("method", "sizes", "threshold"), LOCALIZE_CASES)
def test_localize_error_numbers_and_boxes_equal_the_oracle(golden_store, tmp_path, method, sizes, threshold):
    """`localize-error --run` on the golden ILSVRC runs: every number of localize_error.json and every top-1
    box of boxes.csv."""
    from gwapbench.cli import cli

    run_id = next(r["run_id"] for r in oracle.csv_rows(golden_store / "out" / "table4.csv") if r["method"] == method)
    result = CliRunner().invoke(cli, [
        "localize-error", "--run", run_id, "--runs-dir", str(golden_store / "runs"), "--scales",
        ",".join(map(str, sizes)), "--threshold", str(threshold), "--boxes-csv", "--out", str(tmp_path),
        "--device", "cpu", "--workers", "0"])
    assert result.exit_code == 0, result.output
    oracle.assert_localize_error_output(tmp_path, oracle.localization(golden_store / "runs", run_id, sizes, threshold))



def test_the_oracle_modules_import_nothing_from_gwapbench():
    """The literal loops stay independent of the code they check (reference_models is out of bounds too)."""
    import ast

    for name in ("literal.py", "runs.py"):
        tree = ast.parse((Path(__file__).parent / name).read_text())
        modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        modules += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [m for m in modules if m.split(".")[0] in ("gwapbench", "reference_models")], (name, modules)
