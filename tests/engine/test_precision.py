"""--precision: the resolution rule (CUDA branches with torch.cuda mocked), the autocast and loss scaler of each
precision, fp16's skipped steps, run ids, the table column, and a bf16 CPU table run end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import gwapbench.engine.precision as precision_module
from gwapbench.cli import cli
from gwapbench.config import DataConfig, RunConfig, run_id
from gwapbench.data.voc import read_voc
from gwapbench.engine.batches import ImageLabelDataset, collate
from gwapbench.engine.loop import train
from gwapbench.engine.models import build_task
from gwapbench.engine.precision import autocast, loss_scaler, resolve_precision
from gwapbench.engine.predict import predict
from gwapbench.engine.schedules import SCHEDULES
from gwapbench.engine.store import Run
from gwapbench.errors import InputError
from tests.engine.conftest import table_args


def _gpu(monkeypatch, native: bool, emulated: bool, available: bool = True) -> None:
    """torch.cuda as on a GPU with native bfloat16 (Ampere+), with emulated bfloat16 only (V100, T4), or none."""
    monkeypatch.setattr(precision_module, "cuda_possible", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: native or (including_emulation and emulated))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Mock GPU")


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_cpu_resolves_auto_to_fp32_and_keeps_explicit_names(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [resolve_precision(name, device) for name in ("auto", "fp32", "bf16", "fp16")] == \
        ["fp32", "fp32", "bf16", "fp16"]


@pytest.mark.parametrize("device", ["auto", "cuda", "cuda:1"])
def test_cuda_auto_is_bf16_only_where_the_gpu_has_it_natively(monkeypatch, device):
    _gpu(monkeypatch, native=True, emulated=True)
    assert resolve_precision("auto", device) == "bf16"
    _gpu(monkeypatch, native=False, emulated=True)  # V100 / T4: bfloat16 only emulated
    assert resolve_precision("auto", device) == "fp16"
    assert resolve_precision("bf16", device) == "bf16"  # asked for explicitly: emulated, but it runs
    assert resolve_precision("fp32", device) == "fp32"
    _gpu(monkeypatch, native=False, emulated=False)
    assert resolve_precision("auto", device) == "fp16"
    with pytest.raises(InputError, match="--precision bf16: Mock GPU has no bfloat16 support"):
        resolve_precision("bf16", device)


def test_torch_without_the_emulation_argument_reports_native_support(monkeypatch):
    def old_is_bf16_supported():  # torch < 2.4: no including_emulation; True only for native bfloat16
        return False

    monkeypatch.setattr(precision_module, "cuda_possible", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", old_is_bf16_supported)
    assert resolve_precision("auto", "cuda") == "fp16"


def test_cuda_is_ruled_out_only_without_a_gpu_driver(monkeypatch):
    present: set[str] = set()
    monkeypatch.setattr(os.path, "exists", lambda path: path in present)
    monkeypatch.setattr(sys, "platform", "linux")
    assert not precision_module.cuda_possible()
    for device_file in ("/dev/nvidiactl", "/dev/dxg", "/dev/kfd"):  # NVIDIA, WSL2, ROCm
        present.clear()
        present.add(device_file)
        assert precision_module.cuda_possible(), device_file
    present.clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not precision_module.cuda_possible()
    monkeypatch.setattr(sys, "platform", "win32")
    assert precision_module.cuda_possible()  # only torch can tell


def test_auto_resolves_without_importing_torch_where_no_gpu_driver_is(monkeypatch):
    if precision_module.cuda_possible():
        pytest.skip("this machine has a GPU driver's device file: only torch can tell whether CUDA works")
    code = ("import sys\nfrom gwapbench.engine.precision import resolve_precision\n"
            "print(resolve_precision('auto', 'auto'), resolve_precision('fp32', 'auto'), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.split() == ["fp32", "fp32", "False"]


def test_unknown_precision_is_an_input_error():
    with pytest.raises(InputError, match="--precision 'fp8'"):
        resolve_precision("fp8", "cpu")


def test_autocast_and_scaler_of_each_precision():
    conv, cpu = torch.nn.Conv2d(3, 4, 3), torch.device("cpu")
    outputs = {}
    for name in ("fp32", "bf16", "fp16"):
        with autocast(name, cpu):
            outputs[name] = conv(torch.randn(2, 3, 8, 8)).dtype
    assert outputs == {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    assert [loss_scaler(name, cpu).is_enabled() for name in ("fp32", "bf16", "fp16")] == [False, False, True]


def _small_batches(small_voc: Path, size: int = 32, count: int = 8):
    classes = sorted(p.name[: -len("_test.txt")] for p in (small_voc / "ImageSets" / "Main").glob("*_test.txt"))
    samples = read_voc(small_voc, "test", classes).samples[:count]
    dataset = ImageLabelDataset(samples, size)
    batch = collate([dataset[(i, False)] for i in range(len(samples))])
    return samples, classes, batch


def _task(classes, size: int = 32):
    torch.manual_seed(0)
    return build_task("tiny", "gwap", len(classes), size, weights=None)


def test_fp32_training_steps_exactly_as_plain_backward_and_sgd(small_voc):
    """The disabled scaler of fp32 changes nothing: one iteration equals loss.backward(); optimizer.step()."""
    _, classes, batch = _small_batches(small_voc)
    schedule = replace(SCHEDULES["ci"], iterations=1)
    prepare = lambda b: b.images.float() / 255  # noqa: E731
    looped, literal = _task(classes), _task(classes)
    optimizers = [torch.optim.SGD(m.parameters(), lr=schedule.lr, momentum=0.9) for m in (looped, literal)]
    train(looped, [batch], optimizers[0], schedule, 0, prepare, precision="fp32")
    literal.train()
    for group in optimizers[1].param_groups:
        group["lr"] = schedule.lr_at(0)
    sum(literal(batch, prepare(batch)).values()).backward()
    optimizers[1].step()
    for (name, a), b in zip(looped.state_dict().items(), literal.state_dict().values()):
        assert torch.equal(a, b), name


def test_fp16_skips_a_step_whose_gradients_overflow_and_halves_the_scale(small_voc):
    _, classes, batch = _small_batches(small_voc)
    schedule = replace(SCHEDULES["ci"], iterations=1)
    prepare = lambda b: b.images.float() / 255  # noqa: E731
    task = _task(classes)
    before = {k: v.clone() for k, v in task.state_dict().items()}
    scaler = torch.amp.GradScaler("cpu", init_scale=float(np.finfo(np.float32).max))  # scaled loss overflows
    train(task, [batch], torch.optim.SGD(task.parameters(), lr=0.05), schedule, 0, prepare, precision="fp16",
          scaler=scaler)
    assert scaler.get_scale() == pytest.approx(float(np.finfo(np.float32).max) / 2)
    assert all(torch.equal(before[k], v) for k, v in task.state_dict().items() if v.is_floating_point()
               and "running" not in k)
    trained = _task(classes)
    train(trained, [batch], torch.optim.SGD(trained.parameters(), lr=0.05), schedule, 0, prepare, precision="fp16")
    changed = [k for k, v in trained.state_dict().items() if v.is_floating_point() and not torch.equal(before[k], v)]
    assert any("weight" in k and "running" not in k for k in changed)


def test_bf16_prediction_is_close_to_fp32_but_not_identical(small_voc):
    """Prediction runs under the run's autocast: bfloat16 (8-bit mantissa) moves the logits by ~1e-2, not more."""
    samples, classes, batch = _small_batches(small_voc)
    task = _task(classes).eval()
    prepare = lambda b: b.images.float() / 255  # noqa: E731
    ids = [s.image_id for s in samples]
    full = predict(task, [batch], prepare, ids, len(ids), precision="fp32")
    half = predict(task, [batch], prepare, ids, len(ids), precision="bf16")
    assert full["logits"].dtype == half["logits"].dtype == np.float32
    assert not np.array_equal(full["logits"], half["logits"])
    scale = np.abs(full["logits"]).max()
    assert np.abs(full["logits"] - half["logits"]).max() <= 0.05 * scale + 0.05


def test_precision_is_part_of_the_run_id_and_fp32_keeps_the_old_ids():
    config = RunConfig(DataConfig("voc07", "somewhere", ("a", "b")), "tiny", "gap", "quick")
    assert "precision" not in config.identity()  # the id an fp32 run had before the field (test_ilsvrc_data pins it)
    ids = {run_id(replace(config, precision=p), "fp") for p in ("fp32", "bf16", "fp16")}
    assert len(ids) == 3
    old = config.to_dict()
    del old["precision"]  # a config.json written before the field
    assert RunConfig.from_dict(old).precision == "fp32"


def _old_run(tmp_path: Path, device: str) -> Run:
    run = Run(tmp_path / device, "tiny-gap-000000000000")
    run.folder.mkdir()
    config = RunConfig(DataConfig("voc07", "somewhere", ("a", "b")), "tiny", "gap", "quick").to_dict()
    del config["precision"]
    (run.folder / "config.json").write_text(json.dumps({"config": config}))
    run.log(f"training from iteration 0 to 160 on {device}")
    return run


def test_a_cuda_run_of_an_older_gwapbench_is_not_reused_as_fp32(tmp_path):
    """Before --precision, CUDA runs trained under bfloat16 autocast; their config.json has no precision field."""
    with pytest.raises(InputError, match="trained on CUDA by a gwapbench older than --precision"):
        _old_run(tmp_path, "cuda:0").config()
    assert _old_run(tmp_path, "cpu").config().precision == "fp32"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_bf16_table_run_on_cpu_has_its_own_id_and_column(small_voc, tmp_path):
    runs = tmp_path / "runs"
    results = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        result = CliRunner().invoke(cli, table_args("table1", small_voc, runs, out, "--methods", "gwap",
                                                    "--precision", precision))
        assert result.exit_code == 0, result.output
        results[precision] = _rows(out / "table1.csv")[0]
    assert [results[p]["precision"] for p in ("fp32", "bf16")] == ["fp32", "bf16"]
    assert results["fp32"]["run_id"] != results["bf16"]["run_id"]
    bf16_run = runs / results["bf16"]["run_id"]
    assert json.loads((bf16_run / "config.json").read_text())["config"]["precision"] == "bf16"
    assert "on cpu in bf16" in (bf16_run / "log.txt").read_text()
    with np.load(runs / results["fp32"]["run_id"] / "predictions.npz") as a, np.load(bf16_run / "predictions.npz") as b:
        assert np.isfinite(b["logits"]).all() and not np.array_equal(a["logits"], b["logits"])
    auto = CliRunner().invoke(cli, table_args("table1", small_voc, runs, tmp_path / "auto", "--methods", "gwap"))
    assert auto.exit_code == 0 and "finished in" not in auto.output  # auto on CPU = the fp32 run


def test_cpu_precision_that_this_torch_cannot_autocast_is_refused(monkeypatch):
    """Older torch versions disable CPU autocast for float16 (with a warning) instead of computing in it."""
    monkeypatch.setattr(precision_module, "cpu_autocast_computes", lambda name: name != "fp16")
    with pytest.raises(InputError, match="--precision fp16: this torch's CPU autocast does not compute in it"):
        resolve_precision("fp16", "cpu")
    assert resolve_precision("bf16", "cpu") == "bf16"


def test_an_fp16_checkpoint_keeps_the_gradient_scale_and_resuming_restores_it(small_voc, tmp_path, monkeypatch):
    from gwapbench.engine import runner
    from gwapbench.engine.distributed import Dist
    from gwapbench.engine.inputs import EngineOptions

    _, classes, batch = _small_batches(small_voc)
    run = Run(tmp_path / "run", "tiny-gwap-000000000000")
    run.folder.mkdir()
    task = _task(classes)
    optimizer = torch.optim.SGD(task.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    runner.save_checkpoint(run, task, optimizer, 3, scaler)
    assert torch.load(run.checkpoint_path, weights_only=True)["scaler"]["scale"] == 1024.0
    seen = {}
    monkeypatch.setattr(runner, "train", lambda *args: seen.update(start=args[4], scaler=args[-1]))
    schedule = replace(SCHEDULES["ci"], iterations=5)
    runner.resume_and_train(run, _task(classes), schedule, torch.device("cpu"),
                            EngineOptions(device="cpu", workers=0, progress=False), Dist(), lambda start: [batch],
                            lambda b: b.images.float() / 255, precision="fp16")
    assert seen["start"] == 3 and seen["scaler"].get_scale() == 1024.0
    runner.save_checkpoint(run, task, optimizer, 3, torch.amp.GradScaler("cpu", enabled=False))
    assert "scaler" not in torch.load(run.checkpoint_path, weights_only=True)  # fp32 / bf16 checkpoints as before


@pytest.mark.parametrize("requested", ["auto", "bf16", "fp16"])
def test_cuda_asked_for_on_a_machine_without_it_is_one_line(monkeypatch, requested):
    """--device cuda on a machine without CUDA: the device's one-line error, not a traceback from a CUDA query."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: (_ for _ in ()).throw(RuntimeError("no GPU")))
    with pytest.raises(InputError, match=r"^--device cuda:1: CUDA is not available on this machine"):
        resolve_precision(requested, "cuda:1")
