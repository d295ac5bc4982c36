"""cam_legacy (the CAM release's dt_box box) on maps at ILSVRC val image sizes:
`python benchmarks/bench_cam_legacy.py [--quick]`.

Maps: per image of the real ILSVRC2012 val metadata (image sizes in val order), a seeded 14x14
cubed-uniform field (CAM-like, peaky) upsampled bilinearly to the image size, float32. Maps are
generated chunk by chunk (all 50,000 at once would need 46 GB); only the box calls are timed.
Default: the first 5,000 images, ours and the reference times extrapolated linearly to 50,000;
`--full`: all 50,000 images.
Ours: `cam_legacy_box_batch` (threads), and `cam_legacy_box` map by map on one thread.
Reference: the per-image OpenCV port of dt_box in tests/metrics/test_cam_legacy.py (cv2.threshold,
cv2.distanceTransform exact L2, cv2.findContours RETR_CCOMP on the frame-zeroed mask, Python sort and
merge), run on a prefix of the maps and extrapolated linearly to the full count (the row says so).
Boxes are checked identical on that prefix before any time is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "metrics"))

from _timing import cpu_and_wall, print_row, run_script  # noqa: E402
from shared_data import shared_data  # noqa: E402
from test_cam_legacy import port_boxes, port_gray  # noqa: E402  (the OpenCV port lives in the test file)

from gwapbench.data.ilsvrc import read_wsol_metadata  # noqa: E402
from gwapbench.metrics.cam_legacy import NO_CONTOUR_BOX, cam_legacy_box, cam_legacy_box_batch  # noqa: E402

FULL = 50_000
CHUNK = 250


def image_size_maps(sizes: list[tuple[int, int]], seed: int) -> list[np.ndarray]:
    """One float32 map per (height, width): seeded 14x14 cubed uniform field, bilinear to the size."""
    rng = np.random.default_rng(seed)
    maps = []
    for height, width in sizes:
        field = torch.from_numpy(rng.random((1, 1, 14, 14), dtype=np.float32) ** 3)
        up = torch.nn.functional.interpolate(field, size=(height, width), mode="bilinear", align_corners=False)
        maps.append(up[0, 0].numpy())
    return maps


def opencv_port_box(heatmap: np.ndarray) -> tuple[int, int, int, int]:
    boxes = port_boxes(port_gray(heatmap))
    return boxes[0] if boxes else NO_CONTOUR_BOX


def run(quick: bool, full_run: bool = False) -> None:
    import cv2

    samples = read_wsol_metadata(shared_data("ilsvrc2012_val_gt"))
    count = 500 if quick else (FULL if full_run else 5000)
    subset = 100 if quick else 500
    sizes = [(s.height, s.width) for s in samples[:count]]
    cam_legacy_box_batch(image_size_maps(sizes[:2], seed=0))  # compile (numba cache) before timing

    batch_s, single_s, reference_s = np.zeros(2), np.zeros(2), np.zeros(2)  # (wall, CPU) seconds
    for start in range(0, count, CHUNK):
        maps = image_size_maps(sizes[start : start + CHUNK], seed=start)
        cpu, wall, boxes = cpu_and_wall(lambda: cam_legacy_box_batch(maps))
        batch_s += (wall, cpu)
        if start < subset:
            cpu, wall, single = cpu_and_wall(lambda: [cam_legacy_box(m) for m in maps])
            single_s += (wall, cpu)
            cpu, wall, reference = cpu_and_wall(lambda: [opencv_port_box(m) for m in maps])
            reference_s += (wall, cpu)
            if boxes.tolist() != [list(b) for b in reference] or single != reference:
                raise SystemExit(f"cam_legacy boxes differ from the OpenCV port in maps {start}..{start + CHUNK}")
    full, to_full = FULL / subset, FULL / count
    pixels = sum(h * w for h, w in sizes) / count
    print(f"# {count} maps, mean {pixels / 1e3:.0f} kpx; OpenCV threads {cv2.getNumThreads()}; reference on "
          f"{subset} maps; identical boxes on those; all times extrapolated to {FULL} maps")
    reference = f"per-image OpenCV port of dt_box, {subset} maps x{full:g}"
    print_row(f"cam_legacy_box_batch, {count} maps x{to_full:g}", batch_s[0] * to_full, reference_s[0] * full,
              reference)
    print_row(f"cam_legacy_box, 1 thread, {subset} maps x{full:g}", single_s[0] * full, reference_s[0] * full,
              reference)
    print_row("  same, CPU time (all threads), not wall", single_s[1] * full, reference_s[1] * full, reference)


if __name__ == "__main__":
    run_script(run, __doc__, "500 maps (reference on 100) instead of 5,000 (on 500)", "all 50,000 maps")
