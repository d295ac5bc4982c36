"""The run store: ids follow config and data, a killed run resumes to identical weights, maps are the
documented ones, and undecodable images give one-line errors (or are skipped) before training."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.config import DataConfig, RunConfig, data_fingerprint, run_id
from gwapbench.data.voc import read_voc
from gwapbench.engine.batches import Batch, ImageLabelDataset, TrainBatches, collate, epoch_keys
from gwapbench.engine.models import build_task
from gwapbench.errors import InputError
from reference_models.pooling import box_coverage
from tests.engine.conftest import table_args

REPO = Path(__file__).resolve().parents[2]


def test_run_id_follows_config_and_data_not_location(small_voc):
    samples = read_voc(small_voc, "test", _classes(small_voc)).samples
    data = DataConfig("voc", str(small_voc), tuple(_classes(small_voc)))
    config = RunConfig(data=data, net="tiny", method="gap", schedule="ci")
    fingerprint = data_fingerprint([("test", samples)])
    assert run_id(config, fingerprint) == run_id(config, data_fingerprint([("test", list(samples))]))
    moved = replace(config, data=replace(data, root="elsewhere/VOC"))
    assert run_id(moved, fingerprint) == run_id(config, fingerprint)
    for changed in (replace(config, seed=1), replace(config, method="gwap"), replace(config, overrides=(("lr", 1),))):
        assert run_id(changed, fingerprint) != run_id(config, fingerprint)
    boxes = samples[0].boxes.copy()
    boxes[0, 2] -= 1
    edited = [replace(samples[0], boxes=boxes), *samples[1:]]
    assert run_id(config, data_fingerprint([("test", edited)])) != run_id(config, fingerprint)
    relabelled = [replace(samples[0], labels=-samples[0].labels), *samples[1:]]
    assert run_id(config, data_fingerprint([("test", relabelled)])) != run_id(config, fingerprint)
    assert RunConfig.from_dict(config.to_dict()) == config


def _classes(root: Path) -> list[str]:
    return sorted(p.name[: -len("_test.txt")] for p in (root / "ImageSets" / "Main").glob("*_test.txt"))


def test_train_batches_shard_one_global_order():
    single = list(TrainBatches(20, 4, seed=3, flip_probability=0.5, start=0, stop=12))
    halves = [list(TrainBatches(20, 4, 3, 0.5, 0, 12, rank=r, world_size=2)) for r in range(2)]
    for it, batch in enumerate(single):
        assert sorted(halves[0][it] + halves[1][it]) == sorted(batch)
    resumed = list(TrainBatches(20, 4, 3, 0.5, start=7, stop=12))
    assert resumed == single[7:]
    keys = epoch_keys(3, 1, 20, 0.5)
    assert single[5] == keys[0:4]  # iteration 5 = epoch 1 (5 batches per epoch), first batch
    assert sorted(i for i, _ in keys) == list(range(20))


def _train_command(voc_root: Path, runs: Path, out: Path) -> list[str]:
    args = table_args("table1", voc_root, runs, out, "--methods", "gwap")
    args[args.index("iterations=4")] = "iterations=40"
    return [sys.executable, "-m", "gwapbench", *args]


def _checkpoint_iteration(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["iteration"]) if path.is_file() else 0


def test_killed_run_resumes_to_identical_weights_and_metrics(small_voc, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    straight = subprocess.run(_train_command(small_voc, tmp_path / "a", tmp_path / "out_a"), env=env,
                              capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr
    (run_a,) = (tmp_path / "a").glob("tiny-gwap-*")

    process = subprocess.Popen(_train_command(small_voc, tmp_path / "b", tmp_path / "out_b"), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "b" / run_a.name / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while _checkpoint_iteration(checkpoint) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _checkpoint_iteration(checkpoint)
    assert 4 <= killed_at < 40, f"the kill landed at iteration {killed_at}: nothing to resume"
    assert not (checkpoint.parent / "metrics.json").exists()
    resumed = subprocess.run(_train_command(small_voc, tmp_path / "b", tmp_path / "out_b"), env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"training from iteration {killed_at} to 40" in (checkpoint.parent / "log.txt").read_text()
    state_a = torch.load(run_a / "checkpoint.pt", weights_only=True)
    state_b = torch.load(checkpoint, weights_only=True)
    assert state_a["iteration"] == state_b["iteration"] == 40
    for key, tensor in state_a["model"].items():
        assert torch.equal(tensor, state_b["model"][key]), key
    assert (run_a / "metrics.json").read_text().split('"seconds"')[0] == \
        (checkpoint.parent / "metrics.json").read_text().split('"seconds"')[0]
    with np.load(run_a / "predictions.npz") as a, np.load(checkpoint.parent / "predictions.npz") as b:
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key


def _batch(samples, size: int) -> Batch:
    dataset = ImageLabelDataset(samples, size)
    return collate([dataset[(i, False)] for i in range(len(samples))])


def test_predicted_maps_are_the_documented_ones(small_voc):
    samples = read_voc(small_voc, "test", _classes(small_voc)).samples[:4]
    batch = _batch(samples, 48)
    images = batch.images.float() / 255
    torch.manual_seed(0)
    oracle = build_task("tiny", "gwap_gt", 10, 48, weights=None).eval()
    _, maps = oracle.predict(batch, images)
    for i, boxes in enumerate(batch.boxes):
        coverage = box_coverage(boxes, (48, 48), oracle.feature_size)
        assert torch.allclose(maps[i, 0], coverage / coverage.sum())
    cam_task = build_task("tiny", "gap", 10, 48, weights=None).eval()
    logits, maps = cam_task.predict(batch, images)
    assert maps.shape == (4, 3, *cam_task.feature_size)
    features = cam_task.classifier.backbone(images)
    weight = cam_task.classifier.classifier.weight
    for i in range(4):
        cams = [torch.einsum("k,khw->hw", weight[c], features[i]) for c in range(10)]
        chosen = [c for c in range(10) if torch.sigmoid(logits[i, c]) > 0.5] or [int(logits[i].argmax())]
        present = [c for c in range(10) if samples[i].labels[c] != -1]
        for k, classes in enumerate((chosen, present, [int(logits[i].argmax())])):
            expected = torch.stack([cams[c] for c in classes]).amax(dim=0)
            assert torch.allclose(maps[i, k], expected, atol=1e-5), (i, k)


def _corrupt_copy(small_voc: Path, tmp_path: Path) -> tuple[Path, Path]:
    import shutil

    root = tmp_path / "voc"
    shutil.copytree(small_voc, root)
    first_train = (root / "ImageSets" / "Main" / "trainval.txt").read_text().split()[3]
    image = root / "JPEGImages" / f"{first_train}.jpg"
    image.write_bytes(image.read_bytes()[:300])  # the header reads; the pixels do not
    return root, image


def test_corrupt_training_image_fails_in_one_line_or_is_skipped(small_voc, tmp_path):
    root, image = _corrupt_copy(small_voc, tmp_path)
    result = CliRunner().invoke(cli, table_args("table1", root, tmp_path / "runs", tmp_path / "out", "--methods",
                                                "gap"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith(f"error: {image}")
    assert not list((tmp_path / "runs").glob("*/metrics.json"))
    assert not (tmp_path / "out").exists()  # the --out folder it created held nothing: removed
    result = CliRunner().invoke(cli, table_args("table1", root, tmp_path / "runs", tmp_path / "out2", "--methods",
                                                "gap", "--on-bad-file", "skip"))
    assert result.exit_code == 0, result.output
    assert f"skipped {image}" in result.output


def test_undecodable_image_reaches_the_main_process_whole(small_voc, tmp_path):
    root, image = _corrupt_copy(small_voc, tmp_path)
    samples = read_voc(root, "trainval", _classes(root)).samples
    dataset = ImageLabelDataset(samples, 48, cache_bytes=0)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=[[(i, False) for i in range(8)]], collate_fn=collate,
                                         num_workers=1)
    (error,) = list(loader)
    assert isinstance(error, InputError) and str(error).startswith(str(image)) and "\n" not in str(error)
    with pytest.raises(InputError, match="cannot decode"):
        ImageLabelDataset(samples, 48)  # small enough to cache: decoded up front


def test_a_run_in_use_by_a_live_process_or_another_host_is_refused_and_a_stale_lock_taken_over(small_voc, tmp_path):
    args = table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out", "--methods", "gap")
    result = CliRunner().invoke(cli, [*args, "--override", "iterations=1"])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").glob("tiny-gap-*")
    (run / "metrics.json").unlink()
    (run / "lock").write_text(str(os.getppid()))  # a live process that is not this one
    result = CliRunner().invoke(cli, [*args, "--override", "iterations=1"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: run {run.name} is in use by process {os.getppid()} ({run / 'lock'}): wait for it to finish"]
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run / "lock").write_text(f"{gone.stdout.strip()}@another-node.invalid")  # another node: cannot be asked
    result = CliRunner().invoke(cli, [*args, "--override", "iterations=1"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: run {run.name} is in use by process {gone.stdout.strip()} on host another-node.invalid "
        f"({run / 'lock'}): wait for it to finish; if that process is gone, delete {run / 'lock'}"]
    (run / "lock").write_text(gone.stdout.strip())  # a process of this host that has exited
    result = CliRunner().invoke(cli, [*args, "--override", "iterations=1"])
    assert result.exit_code == 0, result.output
    assert (run / "metrics.json").is_file() and not (run / "lock").exists()


def test_data_voc_takes_the_class_list_of_the_devkit(small_voc, tmp_path):
    from gwapbench.engine.sources import resolve_data

    listed = tuple((small_voc / "classes.txt").read_text().split())
    assert resolve_data("voc", tmp_path, small_voc).classes == listed
    assert sorted(listed) == _classes(small_voc)
    bare = tmp_path / "bare"
    (bare / "ImageSets" / "Main").mkdir(parents=True)
    (bare / "ImageSets" / "Main" / "trainval.txt").write_text("000001\n")
    with pytest.raises(InputError, match="needs the class names"):
        resolve_data("voc", tmp_path, bare)
    assert resolve_data("voc", tmp_path, bare, ["a", "b"]).classes == ("a", "b")


def test_sigterm_cleans_up_like_ctrl_c(small_voc, tmp_path):
    """A SIGTERM while training: exit 143, the run's lock released, and the new --out (holding only the marker,
    the table is not written yet) removed; the checkpoint stays, so a rerun resumes."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "new" / "out"
    process = subprocess.Popen(_train_command(small_voc, tmp_path / "runs", out), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    locks: list[Path] = []
    while not locks and process.poll() is None and time.monotonic() < deadline:
        locks = list((tmp_path / "runs").glob("tiny-gwap-*/lock"))
        time.sleep(0.02)
    assert locks, "the run never started"
    while _checkpoint_iteration(locks[0].parent / "checkpoint.pt") < 2 and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert not locks[0].exists()
    assert not (tmp_path / "new").exists()
    assert (locks[0].parent / "checkpoint.pt").is_file() and not (locks[0].parent / "metrics.json").exists()


def test_metrics_seconds_count_prediction_and_evaluation_not_training(small_voc, tmp_path, monkeypatch):
    """metrics.json's `seconds` (the report's "prediction and evaluation" time) leaves the training stage out:
    a training stage slowed by 3 s does not show in it (small_voc's prediction and evaluation take well under
    a second)."""
    from gwapbench.engine.runner import RunTask

    train = RunTask.train

    def slow_train(self, *args, **kwargs):
        time.sleep(3.0)
        return train(self, *args, **kwargs)

    monkeypatch.setattr(RunTask, "train", slow_train)
    args = table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out", "--methods", "gap")
    result = CliRunner().invoke(cli, [*args, "--override", "iterations=1"])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").glob("tiny-gap-*")
    assert re.search(r"trained in [0-9.]+ s", (run / "log.txt").read_text())
    assert json.loads((run / "metrics.json").read_text())["seconds"] < 2.0


def test_the_weights_of_a_tables_runs_are_checked_once_per_backbone(monkeypatch, small_voc, tmp_path):
    """Table I's methods share one backbone: its weights are resolved once before training, not once per method
    (a VGG16 state dict is read whole); ILSVRC's pretrained rows need their own check."""
    from gwapbench.engine import runner

    calls = []
    monkeypatch.setattr(runner.RunTask, "check_weights", lambda self, config: calls.append(config.method))
    args = table_args("table1", small_voc, tmp_path / "runs", tmp_path / "out", "--methods", "gap,gwap,gwap_no_exp")
    result = CliRunner().invoke(cli, [*args, "--override", "iterations=1"])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
    ilsvrc = runner.task_of(RunConfig(DataConfig("synthetic", "r", ("a",)), "tiny", "gap", "ci",
                                      task="ilsvrc_classification"))
    keys = {ilsvrc.weights_key(RunConfig(DataConfig("synthetic", "r", ("a",)), "googlenet", method, "ci",
                                         task="ilsvrc_classification")) for method in ("gap", "gmp", "original")}
    assert len(keys) == 2
