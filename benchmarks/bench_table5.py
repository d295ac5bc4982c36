"""Table V's `ci` run by stage, 1 intra-op thread vs torch's default: `python benchmarks/bench_table5.py [--quick]`.

One (method, proportion) run of `table5 --net tiny --data synthetic --schedule ci --proportions 0.1`
(`rfcn_gwap_gap`, the costliest row) on the synthetic set in a temporary runs folder, each stage
timed in process CPU time (all threads) and wall time: generating the synthetic set (once),
decoding the 300 test images, training (60 iterations of 4 images at 128 px), predicting the 300
test images, evaluating. Rows: the run with `torch.set_num_threads(1)` (ours) against the same run
with torch's default thread count (the reference, measured in the same process right after), so
the ratio is reference CPU / ours CPU: what the intra-op threads cost on these tiny kernels. One
more row times decoding straight to uint8 against the float32 round trip it replaced.
`--quick`: 10 iterations, 40 test images.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import cpu_and_wall, print_row, run_script  # noqa: E402

from gwapbench.data.decode import load_image  # noqa: E402
from gwapbench.engine import detection  # noqa: E402
from gwapbench.engine.detection_data import DetectionDataset, split_boxes  # noqa: E402
from gwapbench.engine.detection_schedules import resolve_detection_schedule  # noqa: E402
from gwapbench.engine.detection_sources import read_detection_splits, resolve_detection_source  # noqa: E402
from gwapbench.engine.inputs import EngineOptions  # noqa: E402
from gwapbench.engine.store import RunStore  # noqa: E402
from gwapbench.tables.table import TableOptions  # noqa: E402
from gwapbench.tables.table5 import run_config  # noqa: E402

METHOD = "rfcn_gwap_gap"
PROPORTION = 0.1


def stage_times(runs: Path, source, train: list, test: list, threads: int, quick: bool
                ) -> dict[str, tuple[float, float]]:
    """CPU and wall seconds of each stage of one run with `threads` intra-op threads."""
    torch.set_num_threads(threads)
    test = test[:40] if quick else test
    overrides = (("iterations", 10),) if quick else ()
    schedule, head = resolve_detection_schedule("ci", len(train), overrides)
    config = run_config(TableOptions(net="tiny", data=source, runs_dir=runs, schedule="ci", overrides=overrides),
                        METHOD, PROPORTION, schedule.image_size)
    run = RunStore(runs).run(f"bench-{threads}")
    shutil.rmtree(run.folder, ignore_errors=True)
    run.create(config, "bench", schedule)
    torch.manual_seed(0)
    task = detection.build_detection_task(config, len(source.classes), head)
    samples = detection.training_samples(task, split_boxes(train, PROPORTION, config.seed))
    device = torch.device("cpu")
    times = {}
    *times["decode test images"], _ = cpu_and_wall(lambda: DetectionDataset(test))
    *times["train"], _ = cpu_and_wall(lambda: detection.train_detection(
        run, task, config, schedule, samples, device, EngineOptions(device="cpu", workers=0, progress=False)))
    *times["predict"], predictions = cpu_and_wall(lambda: detection.predict_detections(task, test, device, 0))
    *times["evaluate"], _ = cpu_and_wall(lambda: detection.evaluate_detections(predictions, test, source.classes))
    return times


def float_round_trip(samples) -> list[torch.Tensor]:
    """The decoding this replaced: float32 in [0, 1], then back to uint8."""
    return [load_image(s.image_path).mul_(255).round_().to(torch.uint8) for s in samples]


def run(quick: bool = False) -> None:
    default_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder)
        cpu, wall, source = cpu_and_wall(lambda: resolve_detection_source("synthetic", runs, None, None))
        print(f"synthetic set generated in {cpu:.1f} s CPU, {wall:.1f} s wall (once per runs folder)")
        train, test, _ = read_detection_splits(source)
        ours = stage_times(runs, source, train, test, 1, quick)
        reference = stage_times(runs, source, train, test, default_threads, quick)
        for stage in ours:
            print_row(f"{stage}, CPU s (1 thread vs {default_threads})", ours[stage][0], reference[stage][0],
                      f"{default_threads} threads")
        for stage in ours:
            print_row(f"{stage}, wall s (1 thread vs {default_threads})", ours[stage][1], reference[stage][1],
                      f"{default_threads} threads")
        torch.set_num_threads(1)
        uint8_cpu, _, _ = cpu_and_wall(lambda: DetectionDataset(test))
        float_cpu, _, _ = cpu_and_wall(lambda: float_round_trip(test))
        print_row(f"decode {len(test)} test images to uint8, CPU s, 1 thread", uint8_cpu, float_cpu,
                  "float32 round trip")
        print(f"totals CPU s: 1 thread {sum(c for c, _ in ours.values()):.1f}, "
              f"{default_threads} threads {sum(c for c, _ in reference.values()):.1f}")


if __name__ == "__main__":
    run_script(run, __doc__.splitlines()[0], "10 iterations, 40 test images")
