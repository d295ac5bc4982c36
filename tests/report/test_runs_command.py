"""`gwapbench runs list|show|rm` on a real run store: every cell recomputed here from the run's files, and rm's
refusals (a locked run, a folder gwapbench did not write, a foreign file in a run, an unknown id) remove nothing."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.config import DETECTION_TASK, ILSVRC_TASK, VOC_TASK
from gwapbench.report.catalog import run_tables


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture()
def store(tiny_store, tmp_path) -> Path:
    """A copy of the tiny store's runs: the two finished runs, plus one run per earlier state made from the gwap
    run by removing the files of the later stages (as a run killed at that stage leaves it)."""
    runs = tmp_path / "runs"
    shutil.copytree(tiny_store / "runs", runs)
    gwap = next(runs.glob("tiny-gwap-*"))
    for state, drop in (("training", ("metrics.json", "predictions.npz")), ("predicted", ("metrics.json",)),
                        ("created", ("metrics.json", "predictions.npz", "checkpoint.pt", "log.txt"))):
        copy = runs / f"tiny-gwap-{state}00000"
        shutil.copytree(gwap, copy)
        for name in drop:
            (copy / name).unlink()
    return runs


def _rows(output: str) -> dict[str, dict[str, str]]:
    lines = output.strip().splitlines()
    header = re.split(r"\s{2,}", lines[0])
    return {cells[0]: dict(zip(header, cells)) for cells in (re.split(r"\s{2,}", line) for line in lines[1:])}


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))}


def test_list_derives_every_column_from_the_store(store, tiny_store):
    with (tiny_store / "out" / "table1.csv").open(newline="") as f:
        schedule = {row["run_id"]: row["schedule"] for row in csv.DictReader(f)}  # what the table command wrote
    result = _invoke("runs", "list", "--runs-dir", str(store))
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    folders = sorted(p.name for p in store.iterdir() if (p / "config.json").is_file())
    assert sorted(rows) == folders and "_datasets" not in rows  # the cached dataset is no run
    for run_id, row in rows.items():
        folder = store / run_id
        config = json.loads((folder / "config.json").read_text())["config"]
        assert (row["net"], row["method"], row["data"]) == ("tiny", config["method"], "voc")
        assert row["tables"] == "table1,table2"
        assert row["schedule"] == schedule.get(run_id, schedule[next(iter(schedule))])  # one schedule for all
        size = sum(p.stat().st_size for p in folder.iterdir())
        assert row["size"] == f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
        assert re.fullmatch(r"\d+[smhd]", row["age"])
    for run_id in (r for r in rows if "0000" not in r):
        metrics = json.loads((store / run_id / "metrics.json").read_text())
        assert rows[run_id]["status"] == "evaluated"
        assert rows[run_id]["headline"] == f"mAP {metrics['cls_map']:.2f}"
    iteration = torch.load(store / "tiny-gwap-training00000" / "checkpoint.pt", weights_only=True)["iteration"]
    assert iteration == 4 and rows["tiny-gwap-training00000"]["status"] == "training 4/4"
    assert rows["tiny-gwap-predicted00000"]["status"] == "predicted"
    assert rows["tiny-gwap-created00000"]["status"] == "created"
    assert all(rows[r]["headline"] == "-" for r in rows if "0000" in r)


def test_list_filters(store):
    unfinished = _rows(_invoke("runs", "list", "--runs-dir", str(store), "--status", "unfinished").output)
    assert sorted(unfinished) == sorted(p.name for p in store.glob("*0000*"))
    assert list(_rows(_invoke("runs", "list", "--runs-dir", str(store), "--status", "predicted").output)) == [
        "tiny-gwap-predicted00000"]
    for option in (("--table", "table3"), ("--net", "googlenet")):
        result = _invoke("runs", "list", "--runs-dir", str(store), *option)
        assert result.exit_code == 0 and result.output.startswith("no runs in"), result.output
    (store / "tiny-gwap-created00000" / "lock").write_text(str(os.getpid()))
    running = _invoke("runs", "list", "--runs-dir", str(store), "--status", "running").output
    assert list(_rows(running)) == ["tiny-gwap-created00000"] and f"running (pid {os.getpid()})" in running
    (store / "tiny-gwap-created00000" / "lock").write_text("999999999@another-node.invalid")  # another node's
    running = _invoke("runs", "list", "--runs-dir", str(store), "--status", "running").output
    assert "running (pid 999999999 on another-node.invalid)" in running
    refused = _invoke("runs", "rm", "--runs-dir", str(store), "tiny-gwap-created00000")
    assert refused.exit_code == 2 and "in use by process 999999999 on host another-node.invalid" in refused.output
    assert (store / "tiny-gwap-created00000").is_dir()
    (store / "tiny-gwap-created00000" / "lock").write_text(str(os.getpid()))


def test_show_prints_config_log_tail_and_metrics(store):
    run_id = next(p.name for p in store.glob("tiny-gap-*"))
    result = _invoke("runs", "show", run_id, "--runs-dir", str(store), "--lines", "2")
    assert result.exit_code == 0, result.output
    log = (store / run_id / "log.txt").read_text().splitlines()
    assert "\n".join(log[-2:]) in result.output and log[0] not in result.output
    config_text = (store / run_id / "config.json").read_text().strip()
    metrics_text = (store / run_id / "metrics.json").read_text().strip()
    assert config_text in result.output and metrics_text in result.output
    missing = _invoke("runs", "show", "tiny-gap-000000000000", "--runs-dir", str(store))
    assert missing.exit_code == 2 and missing.output.count("\n") == 1 and "no such run" in missing.output


def test_rm_refuses_and_removes_nothing(store, tmp_path):
    finished = sorted(p.name for p in store.glob("tiny-*") if "0000" not in p.name)
    mine = store / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    stray = store / "tiny-gwap-predicted00000" / "my_analysis.csv"
    stray.write_text("mine")
    (store / finished[0] / "lock").write_text(str(os.getpid()))  # a live process (this one) holds the run
    before = _files(store)
    refusals = {"in use by process": [finished[0], finished[1]], "is not a run folder gwapbench wrote": ["mine"],
                "did not write": ["tiny-gwap-predicted00000"], "no such run": ["tiny-gwap-000000000000"]}
    for message, ids in refusals.items():
        result = _invoke("runs", "rm", "--runs-dir", str(store), *ids)
        assert result.exit_code == 2 and message in result.output, (ids, result.output)
        assert result.output.count("\n") == 1
    assert _files(store) == before


def test_dry_run_lists_and_removes_nothing_then_rm_removes(store):
    before = _files(store)
    result = _invoke("runs", "rm", "--runs-dir", str(store), "--unfinished", "--dry-run")
    assert result.exit_code == 0, result.output
    listed = sorted(re.findall(r"would remove \S*/(\S+) ", result.output))
    assert listed == sorted(p.name for p in store.glob("*0000*")) and _files(store) == before
    (store / "tiny-gwap-created00000" / "lock").write_text(str(os.getpid()))
    result = _invoke("runs", "rm", "--runs-dir", str(store), "--unfinished")
    assert result.exit_code == 0, result.output
    assert "refused tiny-gwap-created00000" in result.output and "in use" in result.output
    assert sorted(p.name for p in store.glob("*0000*")) == ["tiny-gwap-created00000"]
    assert len(list(store.glob("tiny-*"))) == 3  # the two finished runs stay
    run_id = next(p.name for p in store.glob("tiny-gap-*"))
    result = _invoke("runs", "rm", "--runs-dir", str(store), run_id)
    assert result.exit_code == 0 and f"removing {store / run_id}" in result.output
    assert not (store / run_id).exists() and len(list(store.glob("tiny-*"))) == 2


def test_run_tables_agree_with_the_table_specs():
    from gwapbench.tables.ilsvrc import TABLE3, TABLE4
    from gwapbench.tables.voc import TABLE1, TABLE2
    from gwapbench.tables.table5 import TABLE5

    for spec, task in ((TABLE1, VOC_TASK), (TABLE2, VOC_TASK), (TABLE3, ILSVRC_TASK), (TABLE4, ILSVRC_TASK),
                       (TABLE5, DETECTION_TASK)):
        for method in spec.methods:
            assert spec.name in run_tables(task, method), (spec.name, method)
    assert run_tables(ILSVRC_TASK, "original") == ("table3",) and run_tables(ILSVRC_TASK, "backprop") == ("table4",)
    assert run_tables(VOC_TASK, "lse") == ()


def test_a_damaged_run_is_listed_as_such_and_a_missing_store_refused(store, tmp_path):
    run_id = next(p.name for p in store.glob("tiny-gap-*"))
    (store / run_id / "metrics.json").write_text('{"cls_map": 250}')
    result = _invoke("runs", "list", "--runs-dir", str(store))
    assert result.exit_code == 0, result.output
    row = _rows(result.output)[run_id]
    assert row["status"] == "damaged" and row["headline"].startswith("metrics.json is damaged: ")
    missing = _invoke("runs", "list", "--runs-dir", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "no such folder" in missing.output
