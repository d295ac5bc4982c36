"""table1 / table2 / figures fig7 end to end on a small synthetic set: files, columns, run reuse, bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.tables.spec import COLUMNS
from gwapbench.tables.table1 import TABLE1_METHODS
from tests.engine.conftest import table_args
from tests.oracle import runs as oracle


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def produced(small_voc, tmp_path_factory):
    """table1 then table2 then fig7 on the same runs; returns (folder, outputs of each invocation)."""
    base = tmp_path_factory.mktemp("tables")
    runner = CliRunner()
    outputs = {}
    for command in ("table1", "table2", "table1-again"):
        args = table_args(command.split("-")[0], small_voc, base / "runs", base / "out")
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        outputs[command] = result.output
    args = table_args("fig7", small_voc, base / "runs", base / "out", "--images", "2")
    result = runner.invoke(cli, ["figures", *args])
    assert result.exit_code == 0, result.output
    outputs["fig7"] = result.output
    return base, outputs


def test_table1_csv_columns_rows_and_per_class(produced):
    base, outputs = produced
    rows = _rows(base / "out" / "table1.csv")
    assert tuple(rows[0]) == COLUMNS
    assert [r["method"] for r in rows] == list(TABLE1_METHODS)
    per_class = _rows(base / "out" / "table1_per_class.csv")
    assert len(per_class) == len(TABLE1_METHODS) * 10
    for row in rows:
        assert row["paper"] == row["delta"] == ""  # the paper has no tiny net and no synthetic data
        metrics = json.loads((base / "runs" / row["run_id"] / "metrics.json").read_text())
        assert float(row["reproduced"]) == metrics["voc07_cls_map"]
        expected, expected_per_class = oracle.table1(base / "runs", row["run_id"])  # the devkit's VOCevalcls loop
        assert float(row["reproduced"]) == pytest.approx(expected, rel=oracle.REL), row["method"]
        printed = {r["class"]: float(r["reproduced"]) for r in per_class if r["run_id"] == row["run_id"]}
        assert printed == pytest.approx(expected_per_class, rel=oracle.REL, nan_ok=True), row["method"]
    assert "| gap |" in outputs["table1"]


def test_table2_reuses_table1_runs_and_adds_the_centre_prior(produced):
    base, outputs = produced
    rows = _rows(base / "out" / "table2.csv")
    assert [r["method"] for r in rows] == [*TABLE1_METHODS, "centre_prior"]
    assert rows[-1]["run_id"] == ""
    table1_ids = [r["run_id"] for r in _rows(base / "out" / "table1.csv")]
    assert [r["run_id"] for r in rows[:-1]] == table1_ids
    assert "finished in" in outputs["table1"]
    assert "finished in" not in outputs["table2"]  # nothing trained again
    assert "finished in" not in outputs["table1-again"]
    for row in rows:  # Otsu F over the union of boxes (tests/oracle), the centre prior from its definition
        runs = base / "runs"
        expected = (oracle.centre_prior(runs, rows[0]["run_id"]) if row["method"] == "centre_prior"
                    else oracle.table2(runs, row["run_id"]))
        assert float(row["reproduced"]) == pytest.approx(expected, rel=oracle.REL), row["method"]


def test_a_finished_table_re_renders_without_torch(produced, small_voc, tmp_path):
    """All runs finished: the rows come from metrics.json alone, in a process that never imports torch."""
    base, _ = produced
    args = table_args("table1", small_voc, base / "runs", tmp_path / "out")
    code = ("import sys\nfrom gwapbench.cli import cli\n"
            f"try:\n    cli({args!r})\nexcept SystemExit as done:\n    assert done.code == 0, done.code\n"
            "print('torch imported' if 'torch' in sys.modules else 'no torch')\n")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo, check=True)
    assert done.stdout.strip().splitlines()[-1] == "no torch"
    assert "finished in" not in done.stdout
    assert _rows(tmp_path / "out" / "table1.csv") == _rows(base / "out" / "table1.csv")


def test_fig7_is_a_png(produced):
    base, outputs = produced
    png = (base / "out" / "fig7.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_missing_dataset_says_where_it_looked(tmp_path):
    result = CliRunner().invoke(cli, ["table1", "--net", "tiny", "--data", "voc07", "--voc-root",
                                      str(tmp_path / "nowhere"), "--runs-dir", str(tmp_path / "runs"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "nowhere" in lines[0] and "--data synthetic" in lines[0]
    assert not (tmp_path / "out").exists()  # created after the --out check, removed when the command failed


def test_a_failed_table_command_keeps_an_existing_out_folder(tmp_path):
    empty, user = tmp_path / "empty", tmp_path / "user"
    empty.mkdir()
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    for out in (empty, user, tmp_path / "new" / "nested"):
        result = CliRunner().invoke(cli, ["table1", "--net", "tiny", "--data", "voc", "--voc-root",
                                          str(tmp_path / "nowhere"), "--runs-dir", str(tmp_path / "runs"),
                                          "--out", str(out)])
        assert result.exit_code == 2, result.output
    assert empty.is_dir() and (user / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt"]  # a user's folder gets no marker
    assert not (tmp_path / "new").exists()


def test_bad_arguments_exit_2_before_anything_is_written(small_voc, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cases = {
        "--out": table_args("table1", small_voc, tmp_path / "runs", blocker / "sub"),
        "--methods": table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out", "--methods", "gap,nope"),
        "--override": table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out", "--override", "lr"),
        "schedule field": table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out",
                                     "--override", "warmup=3"),
    }
    for name, args in cases.items():
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, (name, result.output)
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("tiny-*")), name
    result = CliRunner().invoke(cli, ["table1", "--net", "resnet18", "--data", "synthetic"])
    assert result.exit_code == 2 and "resnet18" in result.output


def test_missing_imagenet_weights_fail_in_one_line_before_training(small_voc, tmp_path, monkeypatch):
    import torch

    def no_network(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    args = table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out")
    args[args.index("tiny")] = "caffenet"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "alexnet-owt-7be5be79.pth" in line and str(tmp_path / "hub") in line
    assert not list((tmp_path / "runs").glob("*/checkpoint.pt"))
