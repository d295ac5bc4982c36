"""MaxBoxAcc speed: `WSOLEVALUATION_DIR=<checkout> python benchmarks/bench_max_box_acc.py [--quick | --full]`.

The checkout is one of github.com/clovaai/wsolevaluation.

MaxBoxAcc (IoU 0.5, largest contour) and MaxBoxAccV2 (IoU 0.3/0.5/0.7, every contour) with 100
CAM thresholds on 224x224 float64 maps, CAM-like (14x14 cubed noise upsampled) and noisy
(uniform), against wsolevaluation's own `compute_bboxes_from_scoremaps` + `calculate_multiple_iou`
run from its source (`wsolevaluation_source`, one map after another, as `BoxEvaluator` does).
wsolevaluation runs on a prefix of the maps (200 CAM-like, 10 noisy) and its time is extrapolated
linearly to 50,000 maps; ours runs on 2,000 CAM-like / 400 noisy maps and is extrapolated too,
except with `--full`: then all 50,000 CAM-like maps go through the `MaxBoxAcc` accumulator in
batches of 1,000 (map generation not timed) and the row is measured, not extrapolated. Our hits
under the wsolevaluation convention must equal wsolevaluation's on the maps it ran before timing
is printed. Each row also gives our CPU time per map (all threads). GT boxes: the ILSVRC val
images' boxes scaled to 224 (../shared/data), cycled when there are fewer than the maps.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wsolevaluation_source  # noqa: E402
from _timing import cpu_and_wall, print_row, run_script  # noqa: E402
from bench_localization import FULL, THRESHOLDS, scaled_gt, smooth_224_maps  # noqa: E402
from shared_data import shared_data  # noqa: E402

from gwapbench.data.ilsvrc import read_wsol_metadata  # noqa: E402
from gwapbench.metrics.localization import MaxBoxAcc, MaxBoxAccOptions, box_hit_counts  # noqa: E402

BATCH = 1000  # maps per accumulator update in the --full run


def noisy_224_maps(count: int, seed: int) -> np.ndarray:
    """Uniform noise: thousands of components and holes per threshold, OpenCV's worst case."""
    return np.random.default_rng(seed).random((count, 224, 224))


def rows_of() -> list[tuple[str, MaxBoxAccOptions]]:
    """(row name, options): V1 and V2 under the wsolevaluation convention, then under components."""
    rows = []
    for name, v1, v2 in (("wsolevaluation", MaxBoxAccOptions(THRESHOLDS, (0.5,), False, "wsolevaluation"),
                          MaxBoxAccOptions.v2(THRESHOLDS, "wsolevaluation")),
                         ("components", MaxBoxAccOptions(THRESHOLDS, (0.5,), False),
                          MaxBoxAccOptions.v2(THRESHOLDS))):
        rows += [(f"V1 {name}", v1), (f"V2 {name}", v2)]
    return rows


def batches(make: Callable[[int, int], np.ndarray], count: int, gt: list[np.ndarray]
            ) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """(maps, GT boxes) in batches of BATCH, seeded per batch; GT cycled over the available images."""
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        yield make(size, 1 + start // BATCH).astype(np.float64), [gt[i % len(gt)] for i in range(start, start + size)]


def time_ours(rows: list[tuple[str, MaxBoxAccOptions]], data: Iterator) -> dict[str, list[float]]:
    """Per row: [wall s, CPU s (all threads), MaxBoxAcc points] over all batches (accumulator updates)."""
    totals = {name: [0.0, 0.0, 0.0] for name, _ in rows}
    metrics = {name: MaxBoxAcc(options) for name, options in rows}
    for maps, gt in data:
        for name, _ in rows:
            cpu, wall, _ = cpu_and_wall(lambda: metrics[name].update(maps, gt))
            totals[name][0] += wall
            totals[name][1] += cpu
    for name, _ in rows:
        totals[name][2] = float(metrics[name].compute()[0].mean() * 100)
    return totals


def reference_check(functions: dict, maps: np.ndarray, gt: list[np.ndarray],
                    rows: list[tuple[str, MaxBoxAccOptions]]) -> dict[bool, float]:
    """wsolevaluation's wall time per map for V1 (False) and V2 (True), after checking that our hits
    under the rows' wsolevaluation convention equal its hits on these maps."""
    seconds = {}
    for options in (options for _, options in rows if options.box_convention == "wsolevaluation"):
        start = time.perf_counter()
        reference = wsolevaluation_source.best_ious(functions, maps, gt, THRESHOLDS, options.multi_contour)
        seconds[options.multi_contour] = (time.perf_counter() - start) / len(maps)
        hits = (reference[None] >= np.array(options.iou_thresholds)[:, None, None]).sum(axis=1)
        if not np.array_equal(box_hit_counts(maps, gt, options), hits):
            raise SystemExit(f"hits differ from wsolevaluation's (multi_contour={options.multi_contour})")
    return seconds


def run(quick: bool, full_run: bool = False) -> None:
    """Rows per map kind: ours per 50,000 maps (measured with --full on CAM-like maps, else
    extrapolated) vs wsolevaluation's source (extrapolated from its prefix), same run."""
    folder = wsolevaluation_source.source_dir()
    if folder is None:
        print(f"MaxBoxAcc rows skipped: no {wsolevaluation_source.shared_source_dir()}; set "
              f"${wsolevaluation_source.ENV} to a clovaai/wsolevaluation checkout")
        return
    functions = wsolevaluation_source.load(folder)
    gt = scaled_gt(read_wsol_metadata(shared_data("ilsvrc2012_val_gt")))
    box_hit_counts(np.zeros((1, 8, 8)), [np.zeros((1, 4))])  # compile or load the cached kernels first
    rows = rows_of()
    for kind, make, ours_count, reference_count in (
        ("CAM-like", smooth_224_maps, FULL if full_run else (100 if quick else 2000), 20 if quick else 200),
        ("noisy", noisy_224_maps, 40 if quick else 400, 2 if quick else 10),
    ):
        reference = reference_check(functions, make(reference_count, 1).astype(np.float64), gt[:reference_count], rows)
        totals = time_ours(rows, batches(make, ours_count, gt))
        how = "measured" if ours_count == FULL else f"{ours_count} maps x{FULL / ours_count:g}"
        for name, options in rows:
            wall, cpu, points = totals[name]
            print_row(f"MaxBoxAcc{name} {kind}, 50,000 maps ({how})", wall * FULL / ours_count,
                      reference[options.multi_contour] * FULL, f"wsolevaluation source ({reference_count} maps "
                      f"x{FULL / reference_count:g})")
            print(f"  CPU {1000 * cpu / ours_count:.2f} ms/map (all threads), MaxBoxAcc {points:.2f} points")


if __name__ == "__main__":
    run_script(run, __doc__, "fewer maps on each side (100/20 CAM-like, 40/2 noisy)", "all 50,000 CAM-like maps")
