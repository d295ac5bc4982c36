"""Top-1 localization speed on the 50,000 ILSVRC2012 val images: `python benchmarks/bench_localization.py [--quick]`.

Seeded 14x14 simulated maps upsampled (bilinear) to each image's size, box of the largest
8-connected component above 0.2 * max (`heatmaps_to_boxes` with image_sizes: the compiled path, no
per-pixel work), vs a per-image loop (cv2.resize, scipy.ndimage.label, np.nonzero box, literal
eval_clsloc IoU loop) on a prefix, extrapolated (the row says so). Values are checked to agree
before timing is printed. OpenCV (opencv-python-headless, a test/bench extra) is needed for the
reference. MaxBoxAcc: bench_max_box_acc.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, optional_reference, print_row, run_script  # noqa: E402
from shared_data import shared_data  # noqa: E402

from gwapbench.data.ilsvrc import read_wsol_metadata  # noqa: E402
from gwapbench.metrics.localization import heatmaps_to_boxes, localization_error  # noqa: E402

FULL = 50_000
THRESHOLDS = np.arange(0.0, 1.0, 0.01)


def coarse_maps(count: int, size: int, seed: int) -> np.ndarray:
    """Seeded (count, size, size) float32 maps: cubed uniform noise, a CAM-like peaky field."""
    return np.random.default_rng(seed).random((count, size, size), dtype=np.float32) ** 3


def ours_top1_error(maps: np.ndarray, samples: list) -> float:
    boxes = heatmaps_to_boxes(maps, 0.2, image_sizes=[(s.height, s.width) for s in samples])
    labels = np.array([int(np.flatnonzero(s.labels == 1)[0]) for s in samples])
    return localization_error(labels[:, None], boxes[:, None], labels, [s.boxes for s in samples])


def reference_iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - iw * ih)


def reference_top1_error(maps: np.ndarray, samples: list) -> float:
    """Per image: cv2.resize, label > 0.2 max, largest label's box; correct if IoU >= 0.5 with a GT box."""
    import cv2

    errors = 0
    for heatmap, sample in zip(maps, samples):
        resized = cv2.resize(heatmap, (sample.width, sample.height), interpolation=cv2.INTER_LINEAR)
        labels, count = ndimage.label(resized > 0.2 * resized.max(), structure=np.ones((3, 3)))
        sizes = np.bincount(labels.ravel())[1:]
        rows, cols = np.nonzero(labels == 1 + int(np.argmax(sizes)))
        box = (cols.min(), rows.min(), cols.max(), rows.max())
        errors += not any(reference_iou(box, g) >= 0.5 for g in sample.boxes)
    return errors / len(samples)


def smooth_224_maps(count: int, seed: int) -> np.ndarray:
    field = torch.from_numpy(coarse_maps(count, 14, seed)[:, None])
    maps = torch.nn.functional.interpolate(field, size=(224, 224), mode="bilinear", align_corners=False)[:, 0]
    maps = maps.numpy()
    low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / (high - low)


def scaled_gt(samples: list, size: int = 224) -> list[np.ndarray]:
    """GT boxes mapped into the 224x224 map frame: x' = floor(x * 224 / width), as wsolevaluation."""
    return [
        np.floor(s.boxes * np.array([size / s.width, size / s.height] * 2)).clip(0, size - 1) for s in samples
    ]


def run(quick: bool) -> None:
    if optional_reference("cv2", "the localization rows (OpenCV references)") is None:
        return
    samples = read_wsol_metadata(shared_data("ilsvrc2012_val_gt"))
    count = 2000 if quick else FULL
    samples_used = samples[:count]
    maps = coarse_maps(count, 14, seed=0)
    repeats = 1 if not quick else 2
    cpu_started = time.process_time()
    ours_s, ours = best_time(lambda: ours_top1_error(maps, samples_used), repeat=repeats)
    ours_cpu = (time.process_time() - cpu_started) / repeats
    subset = 1000 if quick else 2000
    cpu_started = time.process_time()
    reference_s, reference = best_time(lambda: reference_top1_error(maps[:subset], samples_used[:subset]), repeat=1)
    reference_cpu = time.process_time() - cpu_started
    ours_subset = ours_top1_error(maps[:subset], samples_used[:subset])
    if ours_subset != reference:
        raise SystemExit(f"top-1 localization error differs: ours {ours_subset} vs reference {reference}")
    scale = count / subset
    print_row(f"top-1 loc error {count} ILSVRC val (ref x{scale:g} extrap.)", ours_s, reference_s * scale,
              "cv2.resize + ndimage.label loop")
    print(f"CPU time, all threads: ours {ours_cpu:.1f} s, reference loop {reference_cpu:.1f} s on {subset} images "
          f"(x{scale:g}: {reference_cpu * scale:.0f} s), ratio {reference_cpu * scale / ours_cpu:.1f}x")


if __name__ == "__main__":
    run_script(run, __doc__, "2000 images / 100 maps instead of 50,000 / 500")
