"""What the commands read back from the run store is validated once, in the store's readers: a damaged
metrics.json, predictions.npz, checkpoint.pt or config.json is one line on stderr (exit 2) naming the file
and saying how to repair it (delete it and rerun), never a traceback, a blank cell or a wrong number."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.data.synthetic import make_synthetic_ilsvrc
from gwapbench.engine.store import Run
from gwapbench.errors import InputError
from tests.engine.conftest import FAST, table_args

ILSVRC_FAST = tuple(a.replace("iterations=4", "iterations=2") for a in FAST)


@pytest.fixture(scope="module")
def finished(small_voc, tmp_path_factory) -> dict:
    """A finished VOC run (table1 gap) and a finished ILSVRC run (table3 gap) in one store."""
    base = tmp_path_factory.mktemp("store_reads")
    ilsvrc = base / "ilsvrc"
    make_synthetic_ilsvrc(ilsvrc, train_per_class=2, val_per_class=1, size=64)
    runs = base / "runs"
    voc = CliRunner().invoke(cli, table_args("table1", small_voc, runs, base / "out", "--methods", "gap"))
    assert voc.exit_code == 0, voc.output
    before = {p.name for p in runs.iterdir()}
    imagenet = CliRunner().invoke(cli, ["table3", "--net", "tiny", "--imagenet-root", str(ilsvrc), "--runs-dir",
                                        str(runs), "--methods", "gap", "--out", str(base / "out3"), *ILSVRC_FAST])
    assert imagenet.exit_code == 0, imagenet.output
    (ilsvrc_id,) = [p.name for p in runs.iterdir() if p.name not in before and p.name.startswith("tiny-")]
    (voc_id,) = [p.name for p in runs.iterdir() if p.name.startswith("tiny-gap") and p.name != ilsvrc_id]
    return {"runs": runs, "voc_root": small_voc, "ilsvrc_root": ilsvrc, "voc": voc_id, "ilsvrc": ilsvrc_id}


def _copy(finished: dict, tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    shutil.copytree(finished["runs"], runs)
    return runs


def _assert_damaged(result, path: Path) -> None:
    """Exit 2 and one line on stderr naming `path` and the repair."""
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and "delete" in lines[0] and "rerun" in lines[0], lines[0]


def _table1(finished: dict, runs: Path, tmp_path: Path, command: str = "table1") -> list[str]:
    return table_args(command, finished["voc_root"], runs, tmp_path / "out", "--methods", "gap")


def _metrics_text(original: str, case: str) -> str:
    payload = json.loads(original)
    if case == "nan":
        payload["cls_map"] = float("nan")
    elif case == "negative":
        payload["cls_map"] = -523.5
    elif case == "above_100":
        payload["cls_map"] = 100.5
    elif case == "string":
        payload["cls_map"] = str(payload["cls_map"])
    elif case == "missing":
        del payload["cls_map"]
    elif case == "fmeasure_range":
        payload["otsu_fmeasure"]["top1"] = 1.5
    elif case == "duplicate":
        return original.replace('"cls_map"', '"cls_map": 99.0, "cls_map"', 1)
    elif case == "both_names":
        return original.replace('"cls_map"', '"voc07_cls_map": 99.0, "cls_map"', 1)
    elif case == "truncated":
        return original[: len(original) // 2]
    elif case == "empty":
        return ""
    elif case == "list":
        return "[1, 2]"
    return json.dumps(payload)


@pytest.mark.parametrize("case", ["nan", "negative", "above_100", "string", "missing", "fmeasure_range",
                                  "duplicate", "both_names", "truncated", "empty", "list"])
def test_damaged_metrics_json_is_one_line_naming_the_file(finished, tmp_path, case):
    runs = _copy(finished, tmp_path)
    path = runs / finished["voc"] / "metrics.json"
    path.write_text(_metrics_text(path.read_text(), case))
    command = "table2" if case == "fmeasure_range" else "table1"
    _assert_damaged(CliRunner().invoke(cli, _table1(finished, runs, tmp_path, command)), path)
    assert not (tmp_path / "out" / f"{command}.csv").exists()


def test_a_valid_metrics_json_still_renders(finished, tmp_path):
    runs = _copy(finished, tmp_path)
    path = runs / finished["voc"] / "metrics.json"
    payload = json.loads(path.read_text())
    payload["cls_map"] = 43.99999999999999  # in range: read back as stored, printed rounded
    path.write_text(json.dumps(payload))
    result = CliRunner().invoke(cli, _table1(finished, runs, tmp_path))
    assert result.exit_code == 0, result.output
    assert "| 44 |" in result.stdout and "43.99" not in result.stdout
    assert "43.99999999999999" in (tmp_path / "out" / "table1.csv").read_text()


def test_metrics_json_of_the_previous_version_still_renders(finished, tmp_path):
    """Runs evaluated before the key was renamed hold voc07_cls_map (whatever the data): read as cls_map."""
    runs = _copy(finished, tmp_path)
    path = runs / finished["voc"] / "metrics.json"
    payload = json.loads(path.read_text())
    del payload["cls_map"]
    payload["voc07_cls_map"] = 43.99999999999999
    path.write_text(json.dumps(payload))
    assert Run(path.parent, finished["voc"]).metrics()["cls_map"] == 43.99999999999999
    result = CliRunner().invoke(cli, _table1(finished, runs, tmp_path))
    assert result.exit_code == 0, result.output
    assert "43.99999999999999" in (tmp_path / "out" / "table1.csv").read_text()


def _predictions_bytes(path: Path, case: str) -> bytes:
    raw = path.read_bytes()
    if case == "truncated":
        return raw[: len(raw) // 2]
    if case == "text":
        return b"these are not predictions\n"
    if case == "empty":
        return b""
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    if case == "short_logits":
        arrays["logits"] = arrays["logits"][:-1]
    elif case == "nan_maps":
        arrays["maps"] = arrays["maps"].copy()
        arrays["maps"][0, 0, 0, 0] = np.nan
    elif case == "no_maps":
        del arrays["maps"]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["truncated", "text", "empty", "short_logits", "nan_maps", "no_maps"])
def test_damaged_predictions_npz_is_one_line_naming_the_file(finished, tmp_path, case):
    """table1 re-evaluates stored predictions when metrics.json is gone; localize-error reads them too."""
    runs = _copy(finished, tmp_path)
    path = runs / finished["voc"] / "predictions.npz"
    path.write_bytes(_predictions_bytes(path, case))
    (runs / finished["voc"] / "metrics.json").unlink()
    _assert_damaged(CliRunner().invoke(cli, _table1(finished, runs, tmp_path)), path)

    ilsvrc = runs / finished["ilsvrc"] / "predictions.npz"
    ilsvrc.write_bytes(_predictions_bytes(ilsvrc, case))
    result = CliRunner().invoke(cli, ["localize-error", "--run", finished["ilsvrc"], "--runs-dir", str(runs),
                                      "--out", str(tmp_path / "loc"), "--device", "cpu", "--workers", "0"])
    _assert_damaged(result, ilsvrc)


@pytest.mark.parametrize("case", ["truncated", "empty", "not_a_checkpoint"])
def test_damaged_checkpoint_is_one_line_naming_the_file(finished, tmp_path, case):
    """With predictions and metrics gone the run resumes from its checkpoint."""
    runs = _copy(finished, tmp_path)
    folder = runs / finished["voc"]
    path = folder / "checkpoint.pt"
    raw = path.read_bytes()
    if case == "not_a_checkpoint":
        import torch

        buffer = io.BytesIO()
        torch.save({"weights": torch.zeros(2)}, buffer)
        raw = buffer.getvalue()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "empty": b""}.get(case, raw))
    (folder / "metrics.json").unlink()
    (folder / "predictions.npz").unlink()
    _assert_damaged(CliRunner().invoke(cli, _table1(finished, runs, tmp_path)), path)
    assert not (folder / "lock").exists()


@pytest.mark.parametrize("case", ["truncated", "list", "no_config", "bad_field"])
def test_damaged_config_json_is_one_line_naming_the_file(finished, tmp_path, case):
    runs = _copy(finished, tmp_path)
    path = runs / finished["ilsvrc"] / "config.json"
    payload = json.loads(path.read_text())
    if case == "no_config":
        del payload["config"]
    elif case == "bad_field":
        payload["config"]["overrides"] = [["lr", "fast"]]
    text = {"truncated": path.read_text()[:40], "list": "[]"}.get(case, json.dumps(payload))
    path.write_text(text)
    result = CliRunner().invoke(cli, ["localize-error", "--run", finished["ilsvrc"], "--runs-dir", str(runs),
                                      "--out", str(tmp_path / "loc")])
    _assert_damaged(result, path)


def test_localize_error_on_a_voc_run_says_it_needs_an_ilsvrc_run(finished, tmp_path):
    result = CliRunner().invoke(cli, ["localize-error", "--run", finished["voc"], "--runs-dir", str(finished["runs"]),
                                      "--out", str(tmp_path / "loc")])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert finished["voc"] in line and "VOC" in line and "table3" in line and "imagenet-root" not in line, line


def test_metrics_of_every_task_are_checked_by_the_store(tmp_path):
    """Hand-written metrics.json files: the detection task may store NaN per-class AP (a class without boxes),
    never a NaN headline; ILSVRC errors are percentages."""
    def metrics_of(task: str, metrics: str) -> Run:
        folder = tmp_path / task
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text(json.dumps({"config": {"task": task}}))
        (folder / "metrics.json").write_text(metrics)
        return Run(folder, task)

    detection = ('{"det_map": 12.5, "det_map_py_faster_rcnn": 12.0, "per_class_ap": {"a": 25.0, "b": NaN}, '
                 '"per_class_ap_py_faster_rcnn": {"a": 24.0, "b": NaN}, "test_images": 3, "seconds": 1.5}')
    assert metrics_of("voc_detection", detection).metrics()["det_map"] == 12.5
    with pytest.raises(InputError, match="det_map"):
        metrics_of("voc_detection", detection.replace("12.5", "NaN")).metrics()
    ilsvrc = '{"top1_cls_error": 44.0, "top5_cls_error": 4.0, "top1_loc_error": 50.0, "test_images": 5, "seconds": 0}'
    assert metrics_of("ilsvrc_classification", ilsvrc).metrics()["top5_cls_error"] == 4.0
    for bad in (ilsvrc.replace("44.0", "144.0"), ilsvrc.replace('"test_images": 5', '"test_images": 5.5'),
                ilsvrc.replace('"top1_cls_error": 44.0, ', ""), ilsvrc.replace("50.0", "true")):
        with pytest.raises(InputError, match="metrics.json"):
            metrics_of("ilsvrc_classification", bad).metrics()


@pytest.mark.parametrize("content, reason", [(b"", "empty file (0 bytes)"), (b"not an archive\n", "not an .npz")])
def test_localize_error_names_an_unreadable_heatmaps_file(finished, tmp_path, content, reason):
    path = tmp_path / "empty.npz"
    path.write_bytes(content)
    result = CliRunner().invoke(cli, ["localize-error", "--heatmaps", str(path), "--imagenet-root",
                                      str(finished["ilsvrc_root"]), "--out", str(tmp_path / "loc")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --heatmaps {path}: {reason}"), result.stderr


def test_logged_metrics_are_rounded_and_stored_in_full(finished):
    """What is printed (the run's log line) is rounded to 4 significant digits; metrics.json keeps full precision."""
    import re

    folder = finished["runs"] / finished["voc"]
    (line,) = [ln for ln in (folder / "log.txt").read_text().splitlines() if " evaluated: " in ln]
    assert not re.search(r"\d\.\d{5,}|\d{5,}\.\d", line.split(" evaluated: ")[1]), line
    stored = json.loads((folder / "metrics.json").read_text())["cls_map"]
    assert f"cls_map {stored:.4g}," in line


def test_top_k_error_gives_a_top_k_example(finished, tmp_path):
    result = CliRunner().invoke(cli, ["localize-error", "--run", finished["ilsvrc"], "--runs-dir",
                                      str(finished["runs"]), "--top-k", "0,5", "--out", str(tmp_path / "loc")])
    assert result.exit_code == 2
    assert "--top-k '0,5'" in result.stderr and "e.g. 1,5" in result.stderr and "224" not in result.stderr
