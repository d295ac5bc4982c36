"""A prepared check of every CUDA path, at most 8 minutes on one GPU:
`python benchmarks/gpu_check.py [--device cuda] [--work DIR] [--budget-s 480]`.

Steps, each on small synthetic sets written first into `--work` (where `--data synthetic` looks for
them, so no download and no dataset generation at the default size):

1. throughput: GoogLeNet-GWAP at 600x600, the paper's batch of 4, random weights, under each precision
   (fp32, bf16, fp16; engine/precision.py): `engine.loop.train` and `engine.predict.predict` on batches
   already on the device, timed after warm-up iterations (CUDA synchronized): training and prediction
   images/s = images / seconds, and the peak GPU memory of each precision;
2. table1 --net googlenet at 600 px, a few iterations (gwap and gap), once per precision: the whole
   command through the run store, as a user runs it;
3. table5 --net resnet50 (R-FCN with the dilated ResNet-50), a few iterations, --precision auto;
4. table3 --net googlenet (an ILSVRC gwap run), then localize-error --checkpoint at a second scale,
   which predicts from the run's checkpoint;
5. torchrun --nproc_per_node 1 table1 (the launcher path), and the NCCL backend (gloo on CPU) of a
   one-process group running the collectives engine/distributed.py uses (broadcast_object_list,
   gather_object, all_reduce, barrier). With one GPU NCCL cannot hold two ranks, and a one-process
   torchrun never starts a process group, so that is as far as one GPU goes.

`--dry-run --device cpu`: the same steps with the tiny net at 48 px (seconds; tests/test_gpu_check.py runs it
in CI). Every weight is random (`--weights none`): nothing is downloaded. Steps that would start after
`--budget-s` are skipped and listed.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's gwapbench, not an installed one

from gwapbench.cli import cli  # noqa: E402
from gwapbench.data.synthetic import make_synthetic_ilsvrc, make_synthetic_voc  # noqa: E402
from gwapbench.engine.batches import Batch  # noqa: E402
from gwapbench.engine.loop import train  # noqa: E402
from gwapbench.engine.models import build_task  # noqa: E402
from gwapbench.engine.precision import PRECISIONS, loss_scaler, resolve_precision  # noqa: E402
from gwapbench.engine.predict import predict  # noqa: E402
from gwapbench.engine.schedules import SCHEDULES  # noqa: E402
from gwapbench.engine.ilsvrc_sources import SYNTHETIC_ILSVRC_FOLDER  # noqa: E402
from gwapbench.engine.sources import SYNTHETIC_FOLDER  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """What each step runs: nets, input sizes, batches, iterations."""

    classifier: str  # table1 / table3 / throughput net
    detector: str  # table5 net
    image_size: int  # table1 and throughput input
    batch_size: int
    warmup: int  # throughput iterations before timing
    timed: int  # throughput iterations (training) and batches (prediction) timed
    iterations: int  # table commands' training iterations
    ilsvrc_size: int  # table3 input; localize-error adds twice that
    detection_size: int
    voc_counts: dict[str, int]
    image_px: int  # size of the generated images (resized to image_size by the engine)


FULL = Sizes("googlenet", "resnet50", 600, 4, 3, 20, 10, 224, 600, {"train": 24, "val": 8, "test": 32}, 160)
LR = 0.001  # random weights at the ci schedule's lr of 0.05 may diverge in a few iterations
DRY = Sizes("tiny", "tiny", 48, 2, 1, 2, 2, 48, 64, {"train": 6, "val": 2, "test": 4}, 64)


@dataclass
class Row:
    step: str
    precision: str
    seconds: float
    train_images_s: float = math.nan
    predict_images_s: float = math.nan
    peak_mib: float = math.nan
    note: str = ""


def images_per_second(images: int, seconds: float) -> float:
    """images / seconds (NaN for a zero time)."""
    return images / seconds if seconds > 0 else math.nan


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reset (CUDA); the process's peak resident memory on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # Linux: KiB


def _random_batch(sizes: Sizes, classes: int, device: torch.device) -> Batch:
    generator = torch.Generator().manual_seed(0)
    n, s = sizes.batch_size, sizes.image_size
    images = torch.rand(n, 3, s, s, generator=generator).to(device)
    targets = (torch.rand(n, classes, generator=generator) > 0.7).float()
    boxes = [torch.tensor([[s * 0.2, s * 0.2, s * 0.7, s * 0.8]]) for _ in range(n)]
    return Batch(images, targets, torch.ones(n, classes, dtype=torch.bool), boxes, torch.arange(n))


def throughput(sizes: Sizes, precision: str, device: torch.device) -> Row:
    """Training and prediction images/s of `sizes.classifier`-GWAP under `precision`, batches on the device."""
    classes = 20
    torch.manual_seed(0)
    task = build_task(sizes.classifier, "gwap", classes, sizes.image_size, weights="none").to(device)
    batch = _random_batch(sizes, classes, device)
    prepare = lambda b: b.images  # noqa: E731
    optimizer = torch.optim.SGD(task.parameters(), lr=1e-4, momentum=0.9)
    scaler = loss_scaler(precision, device)
    _reset_peak(device)
    started = time.perf_counter()

    def run_training(iterations: int) -> float:
        schedule = replace(SCHEDULES["ci"], iterations=iterations, lr=1e-4, lr_step=10**9)
        _synchronize(device)
        start = time.perf_counter()
        train(task, [batch] * iterations, optimizer, schedule, 0, prepare, precision=precision, scaler=scaler)
        _synchronize(device)
        return time.perf_counter() - start

    run_training(sizes.warmup)
    train_s = run_training(sizes.timed)
    ids = [str(i) for i in range(sizes.batch_size)]

    def run_prediction(batches: int) -> float:
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(batches):
            predict(task, [batch], prepare, ids, sizes.batch_size, precision=precision)
        _synchronize(device)
        return time.perf_counter() - start

    run_prediction(sizes.warmup)
    predict_s = run_prediction(sizes.timed)
    images = sizes.timed * sizes.batch_size
    return Row(f"throughput {sizes.classifier}-gwap {sizes.image_size}px batch {sizes.batch_size}", precision,
               time.perf_counter() - started, images_per_second(images, train_s),
               images_per_second(images, predict_s), _peak_mib(device),
               f"{images} images timed after {sizes.warmup} warm-up iterations")


def _command(args: list[str]) -> None:
    """A gwapbench command in this process; SystemExit with a non-zero code (an InputError) stops the check."""
    try:
        cli.main(args, standalone_mode=False)
    except SystemExit as done:
        if done.code:
            raise


TRAINED = re.compile(r"trained in [\d.]+ s \(([\d.]+) images/s\)")


def logged_training_rate(table_csv: Path, runs: Path) -> float:
    """The mean images/s the runs of a written table logged for their training (NaN when none trained)."""
    with table_csv.open(newline="") as f:
        ids = {row["run_id"] for row in csv.DictReader(f) if row["run_id"]}
    rates = [float(match[-1]) for run in sorted(ids)
             if (match := TRAINED.findall((runs / run / "log.txt").read_text()))]
    return sum(rates) / len(rates) if rates else math.nan


def _timed_command(step: str, precision: str, device: torch.device, args: list[str]) -> Row:
    _reset_peak(device)
    started = time.perf_counter()
    _command(args)
    _synchronize(device)
    seconds = time.perf_counter() - started
    out, runs = Path(args[args.index("--out") + 1]), Path(args[args.index("--runs-dir") + 1])
    return Row(step, precision, seconds, logged_training_rate(out / f"{args[0]}.csv", runs), peak_mib=_peak_mib(device))


def _common(sizes: Sizes, device: str, runs: Path, out: Path) -> list[str]:
    return ["--device", device, "--workers", "0", "--weights", "none", "--runs-dir", str(runs), "--out", str(out)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_group_check(device: torch.device) -> Row:
    """A one-process group (NCCL on CUDA, gloo on CPU) running the collectives engine/distributed.py uses."""
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    started = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.set_device(device.index or 0)  # as engine.distributed.init does for each rank
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        box = [{"rank": 0}]
        dist.broadcast_object_list(box, src=0)
        gathered: list = [None]
        dist.gather_object([1, 2], gathered, dst=0)
        total = torch.tensor(2.5, dtype=torch.float64, device=device)
        dist.all_reduce(total)
        dist.barrier()
        if box[0] != {"rank": 0} or gathered != [[1, 2]] or float(total) != 2.5:
            raise RuntimeError(f"{backend} collectives returned {box}, {gathered}, {float(total)}")
    finally:
        dist.destroy_process_group()
    return Row(f"process group {backend}, 1 rank: broadcast/gather/all_reduce/barrier", "-",
               time.perf_counter() - started)


def torchrun_table1(sizes: Sizes, device: str, runs: Path, out: Path, voc_args: list[str]) -> Row:
    """`torchrun --standalone --nproc_per_node 1 -m gwapbench table1 ...` in a child process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m",
               "gwapbench", "table1", *voc_args, "--methods", "gwap", "--seed", "1",  # a run of its own: it trains
               *_common(sizes, device, runs, out)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun table1 failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return Row("torchrun --nproc_per_node 1 table1", "auto", time.perf_counter() - started,
               logged_training_rate(out / "table1.csv", runs))


def write_datasets(sizes: Sizes, runs: Path) -> None:
    """Small synthetic VOC and ILSVRC sets where `--data synthetic` finds them (used instead of the defaults)."""
    make_synthetic_voc(runs / SYNTHETIC_FOLDER, sizes.voc_counts, size=sizes.image_px)
    make_synthetic_ilsvrc(runs / SYNTHETIC_ILSVRC_FOLDER, train_per_class=2, val_per_class=1, size=sizes.image_px)


def _device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def plan(sizes: Sizes, device_spec: str, work: Path) -> list[tuple[str, Callable[[], Row]]]:
    """The steps in order: (name, a call returning its row)."""
    device = _device(device_spec)
    runs = work / "runs"
    fast = ["--schedule", "ci", "--override", f"iterations={sizes.iterations}", "--override",
            f"batch_size={sizes.batch_size}", "--override", "checkpoint_every=5", "--override", f"lr={LR}"]
    voc = ["--net", sizes.classifier, "--data", "synthetic", *fast, "--override", f"image_size={sizes.image_size}"]
    steps: list[tuple[str, Callable[[], Row]]] = []
    for precision in PRECISIONS:
        steps.append((f"throughput {precision}", lambda p=precision: throughput(sizes, p, device)))
    for precision in PRECISIONS:
        steps.append((f"table1 {precision}", lambda p=precision: _timed_command(
            f"table1 {sizes.classifier} {sizes.image_size}px gwap,gap", p, device,
            ["table1", *voc, "--methods", "gwap,gap", "--precision", p,
             *_common(sizes, device_spec, runs, work / f"table1-{p}")])))
    steps.append(("table5", lambda: _timed_command(
        f"table5 {sizes.detector} {sizes.detection_size}px rfcn_gwap", "auto", device,
        ["table5", "--net", sizes.detector, "--data", "synthetic", "--schedule", "ci", "--methods", "rfcn_gwap",
         "--proportions", "0.5", "--override", f"iterations={sizes.iterations}", "--override", "batch_size=2",
         "--override", f"image_size={sizes.detection_size}", "--override", "checkpoint_every=5",
         "--override", f"lr={LR}",
         *_common(sizes, device_spec, runs, work / "table5")])))
    steps.append(("table3 + localize-error", lambda: _table3_and_localize(sizes, device_spec, device, runs, work)))
    steps.append(("process group", lambda: process_group_check(device)))
    steps.append(("torchrun", lambda: torchrun_table1(sizes, device_spec, runs, work / "torchrun", voc)))
    return steps


def _table3_and_localize(sizes: Sizes, device_spec: str, device: torch.device, runs: Path, work: Path) -> Row:
    table3 = _timed_command(f"table3 {sizes.classifier} {sizes.ilsvrc_size}px gwap", "auto", device,
                            ["table3", "--net", sizes.classifier, "--data", "synthetic", "--methods", "gwap",
                             "--schedule", "ci", "--override", f"iterations={sizes.iterations}", "--override",
                             f"batch_size={sizes.batch_size}", "--override", f"image_size={sizes.ilsvrc_size}",
                             "--override", f"lr={LR}",
                             *_common(sizes, device_spec, runs, work / "table3")])
    with (work / "table3" / "table3.csv").open(newline="") as f:
        run = next(row["run_id"] for row in csv.DictReader(f) if row["method"] == "gwap")
    checkpoint = runs / run / "checkpoint.pt"
    _reset_peak(device)
    started = time.perf_counter()
    _command(["localize-error", "--checkpoint", str(checkpoint), "--scales",
              f"{sizes.ilsvrc_size},{2 * sizes.ilsvrc_size}", "--device", device_spec, "--workers", "0",
              "--out", str(work / "localize")])
    _synchronize(device)
    return replace(table3, step=f"{table3.step}; localize-error --checkpoint at {2 * sizes.ilsvrc_size}px",
                   seconds=table3.seconds + time.perf_counter() - started,
                   peak_mib=max(table3.peak_mib, _peak_mib(device)))


def _format(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def print_rows(rows: list[Row], device: torch.device) -> None:
    memory = ("the peak GPU memory allocated in the step" if device.type == "cuda"
              else "the process's peak resident memory so far (CPU)")
    print(f"train img/s of a table command: its runs' own measurement (log.txt, first iterations included); "
          f"peak MiB: {memory}")
    print(f"{'step':<66} {'precision':>9} {'wall s':>7} {'train img/s':>11} {'pred img/s':>10} {'peak MiB':>9}")
    for r in rows:
        print(f"{r.step:<66} {r.precision:>9} {r.seconds:>7.1f} {_format(r.train_images_s):>11} "
              f"{_format(r.predict_images_s):>10} {_format(r.peak_mib, 0):>9}" + (f"  {r.note}" if r.note else ""))


def describe(device_spec: str) -> str:
    """One line: device, torch and CUDA versions, what --precision auto resolves to."""
    if device_spec != "cpu" and torch.cuda.is_available():
        where = f"cuda ({torch.cuda.get_device_name()}), CUDA {torch.version.cuda}"
    else:
        where = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return (f"gpu_check on {where}, torch {torch.__version__}; --precision auto resolves to "
            f"{resolve_precision('auto', device_spec)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:INDEX")
    parser.add_argument("--dry-run", action="store_true", help="the tiny net at 48 px: every step in seconds")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for runs and outputs (default: a temporary one)")
    parser.add_argument("--budget-s", type=float, default=480.0, help="no step starts after this many seconds")
    args = parser.parse_args(argv)
    sizes = DRY if args.dry_run else FULL
    print(describe(args.device), flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        started = time.perf_counter()
        write_datasets(sizes, work / "runs")
        rows, skipped, failed = [], [], []
        for name, step in plan(sizes, args.device, work):
            if time.perf_counter() - started > args.budget_s:
                skipped.append(name)
                continue
            step_started = time.perf_counter()
            try:
                rows.append(step())
            except Exception as err:  # report it and go on: a GPU is lent for minutes, every step counts
                traceback.print_exc()
                failed.append(name)
                rows.append(Row(name, "-", time.perf_counter() - step_started,
                                note=f"FAILED: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"))
            print(f"done: {rows[-1].step} ({rows[-1].seconds:.1f} s)", flush=True)
        print_rows(rows, _device(args.device))
        print(f"total {time.perf_counter() - started:.1f} s"
              + (f"; skipped (budget): {', '.join(skipped)}" if skipped else "")
              + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if skipped or failed else 0


if __name__ == "__main__":
    sys.exit(main())
