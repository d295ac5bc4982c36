"""MaxBoxAcc speed: `WSOLEVALUATION_DIR=<checkout> python benchmarks/bench_max_box_acc.py [--quick]`.

The checkout is one of github.com/clovaai/wsolevaluation.

MaxBoxAcc (IoU 0.5, largest contour) and MaxBoxAccV2 (IoU 0.3/0.5/0.7, every contour) with 100
CAM thresholds on 224x224 float64 maps, CAM-like (14x14 cubed noise upsampled) and noisy
(uniform), against wsolevaluation's own `compute_bboxes_from_scoremaps` + `calculate_multiple_iou`
run from its source (`wsolevaluation_source`). Each side runs on a prefix of the maps and its time
is extrapolated linearly to 50,000 maps; our hits under the wsolevaluation convention must equal
wsolevaluation's on the maps it ran before timing is printed. GT boxes: the first ILSVRC val
images' boxes scaled to 224 (../shared/data).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wsolevaluation_source  # noqa: E402
from _timing import best_time, print_row, run_script  # noqa: E402
from bench_localization import FULL, THRESHOLDS, scaled_gt, smooth_224_maps  # noqa: E402
from shared_data import shared_data  # noqa: E402

from gwapbench.data.ilsvrc import read_wsol_metadata  # noqa: E402
from gwapbench.metrics.localization import MaxBoxAccOptions, box_hit_counts  # noqa: E402


def noisy_224_maps(count: int, seed: int) -> np.ndarray:
    """Uniform noise: thousands of components and holes per threshold, OpenCV's worst case."""
    return np.random.default_rng(seed).random((count, 224, 224))


def run(quick: bool) -> None:
    """MaxBoxAcc (V1: IoU 0.5, largest contour) and MaxBoxAccV2 (IoU 0.3/0.5/0.7, every contour) with
    100 thresholds on 224x224 float64 maps, against wsolevaluation's box evaluation run from its
    source; our hits must equal its hits (wsolevaluation convention) before timing is printed."""
    folder = wsolevaluation_source.source_dir()
    if folder is None:
        print(f"MaxBoxAcc rows skipped: set ${wsolevaluation_source.ENV} to a clovaai/wsolevaluation checkout")
        return
    functions = wsolevaluation_source.load(folder)
    samples = read_wsol_metadata(shared_data("ilsvrc2012_val_gt"))
    box_hit_counts(np.zeros((1, 8, 8)), [np.zeros((1, 4))])  # compile or load the cached kernels first
    for kind, make, ours_count, reference_count in (
        ("CAM-like", smooth_224_maps, 100 if quick else 2000, 20 if quick else 200),
        ("noisy", noisy_224_maps, 40 if quick else 400, 2 if quick else 10),
    ):
        maps = make(ours_count, seed=1).astype(np.float64)
        gt = scaled_gt(samples[:ours_count])
        for name, options in (("V1", MaxBoxAccOptions(THRESHOLDS, (0.5,), False, "wsolevaluation")),
                              ("V2", MaxBoxAccOptions.v2(THRESHOLDS, "wsolevaluation"))):
            ious = np.array(options.iou_thresholds)
            reference_s, reference = best_time(lambda: wsolevaluation_source.best_ious(
                functions, maps[:reference_count], gt[:reference_count], THRESHOLDS, options.multi_contour), repeat=1)
            reference_hits = (reference[None] >= ious[:, None, None]).sum(axis=1)
            ours_hits = box_hit_counts(maps[:reference_count], gt[:reference_count], options)
            if not np.array_equal(ours_hits, reference_hits):
                raise SystemExit(f"MaxBoxAcc{name} hits differ from wsolevaluation's on {kind} maps")
            ours_s, wsol_hits = best_time(lambda: box_hit_counts(maps, gt, options), repeat=1)
            print_row(f"MaxBoxAcc{name} {kind} 224px, per 50,000 maps", ours_s * FULL / ours_count,
                      reference_s * FULL / reference_count, f"wsolevaluation source ({reference_count} maps)")
            if not options.multi_contour:  # V2 ranks nothing: the fast mode is the same computation
                fast = MaxBoxAccOptions(THRESHOLDS, options.iou_thresholds, False, "wsolevaluation_fast")
                fast_s, _ = best_time(lambda: box_hit_counts(maps, gt, fast), repeat=1)
                print_row("  same, wsolevaluation_fast convention", fast_s * FULL / ours_count,
                          reference_s * FULL / reference_count, f"wsolevaluation source ({reference_count} maps)")
            components = MaxBoxAccOptions(THRESHOLDS, options.iou_thresholds, options.multi_contour)
            components_s, components_hits = best_time(lambda: box_hit_counts(maps, gt, components), repeat=1)
            print_row("  same, components convention", components_s * FULL / ours_count,
                      reference_s * FULL / reference_count, f"wsolevaluation source ({reference_count} maps)")
            maxima = [(hits.max(axis=1) / ours_count).mean() * 100 for hits in (wsol_hits, components_hits)]
            print(f"  MaxBoxAcc{name} on the {ours_count} maps: wsolevaluation {maxima[0]:.2f}, components "
                  f"{maxima[1]:.2f} (points)")


if __name__ == "__main__":
    run_script(run, __doc__, "fewer maps on each side (100/20 CAM-like, 40/2 noisy)")
