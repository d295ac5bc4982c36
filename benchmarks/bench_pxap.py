"""PxAP speed and memory: `python benchmarks/bench_pxap.py [--quick | --full]`.

OpenImages-size inputs: 224x224 CAM-like float32 maps (14x14 cubed noise upsampled, as
bench_localization) with foreground masks (a random ellipse per image) and ignore masks (a random box
minus the foreground), 30,000 of them as in OpenImages30k's test split, made in batches of 1,000 (not
timed). Ours: the `PxAP` accumulator with ignore masks. Reference: wsolevaluation's own
`MaskEvaluator.accumulate` and `compute`, run from its source (../shared/reference/wsolevaluation or
$WSOLEVALUATION_DIR) with its `get_mask` answering from the same in-memory masks, so both sides time the
metric, not PNG decoding. The reference runs on a prefix (1,000 maps; 200 with --quick) and is
extrapolated linearly to 30,000; ours runs on 10,000 maps (3,000 with --quick) and is extrapolated, or on
all 30,000 with --full (measured). PxAP on the prefix must agree to 1e-12 before timing is printed.
Memory: the process's peak RSS after the first and after the last batch (flat when the accumulator keeps
only histograms).

End to end (last rows): the same kind of images written in wsolevaluation's OpenImages layout
(metadata, one float64 .npy score map per image, a foreground PNG and an ignore PNG each): 320x240 gray PNGs
for 1,000 images (200 with --quick), and 1600x1066 1-bit foreground and RGB ignore PNGs, the modes and size
of the real OpenImages masks in ../shared/data/openimages_masks_sample, for 200 images (30 with --quick);
`gwapbench evaluate --wsol-metadata ... --mask-root ...` (in process) against wsolevaluation's
MaskEvaluator over its own CamDataset loader and PNG reading; both extrapolated to 30,000, equal PxAP
required.
"""

from __future__ import annotations

import contextlib
import io
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wsolevaluation_source  # noqa: E402
from _timing import cpu_and_wall, print_row, run_script  # noqa: E402
from bench_localization import smooth_224_maps  # noqa: E402

from gwapbench.metrics import PxAP  # noqa: E402

MAPS = 30_000  # OpenImages30k test images
BATCH = 1_000


def masks(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(foreground, ignore) bool masks (count, 224, 224): an ellipse, and a box minus the ellipse."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:224, 0:224]
    cy, cx = rng.uniform(40, 184, (2, count, 1, 1))
    ry, rx = rng.uniform(15, 70, (2, count, 1, 1))
    foreground = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
    top, left = rng.integers(0, 150, (2, count, 1, 1))
    ignore = (y >= top) & (y < top + 60) & (x >= left) & (x < left + 60) & ~foreground
    return foreground, ignore


def batches(count: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(maps float32, foreground, ignore) in batches of BATCH, seeded per batch."""
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        yield (smooth_224_maps(size, seed=start).astype(np.float32), *masks(size, seed=start + 1))


def ours(count: int) -> tuple[float, float, float, list[float]]:
    """(CPU s, wall s, PxAP, peak RSS in MB after each batch) of the accumulator over `count` maps."""
    metric, cpu, wall, peaks = PxAP(), 0.0, 0.0, []
    for maps, foreground, ignore in batches(count):
        spent_cpu, spent_wall, _ = cpu_and_wall(lambda: metric.update(list(maps), list(foreground), list(ignore)))
        cpu, wall = cpu + spent_cpu, wall + spent_wall
        peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return cpu, wall, float(metric.compute()), peaks


def reference(count: int) -> tuple[float, float]:
    """(wall s, PxAP) of wsolevaluation's MaskEvaluator over the first `count` maps, masks from memory."""
    from tests.wsol_reference import wsol_evaluation

    source = wsolevaluation_source.source_dir()
    if source is None:
        raise SystemExit("wsolevaluation's source not found: set WSOLEVALUATION_DIR or GWAPBENCH_SHARED_DATA")
    with wsol_evaluation(source) as evaluation:
        evaluator = object.__new__(evaluation.MaskEvaluator)  # its __init__ reads metadata files; set what
        evaluator.cam_threshold_list = list(np.arange(0, 1, 0.01))  # accumulate and compute use instead
        evaluator.num_bins = len(evaluator.cam_threshold_list) + 2
        evaluator.threshold_list_right_edge = np.append(evaluator.cam_threshold_list, [1.0, 2.0, 3.0])
        evaluator.gt_true_score_hist = np.zeros(evaluator.num_bins, dtype=float)
        evaluator.gt_false_score_hist = np.zeros(evaluator.num_bins, dtype=float)
        evaluator.mask_root, evaluator.mask_paths, evaluator.ignore_paths = "", {"image": []}, {"image": ""}
        evaluator.split = "test"  # compute prints it
        wall = 0.0
        for maps, foreground, ignore in batches(count):
            held = {}  # get_mask's result: 1 foreground, 255 ignore, 0 background (its uint8 convention)
            evaluation.get_mask = lambda root, paths, ignore_path: held["mask"]
            for scoremap, fg, ig in zip(maps.astype(np.float64), foreground, ignore):
                held["mask"] = np.where(fg, 1, np.where(ig, 255, 0)).astype(np.uint8)
                start = time.perf_counter()
                evaluator.accumulate(scoremap, "image")
                wall += time.perf_counter() - start
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(invalid="ignore"):  # it prints the AUC and
            # divides 0 / 0 at the empty top operating point, as it does in its own runs
            return wall, float(evaluator.compute()) / 100


MASK_FILES = {  # (width, height, foreground PNG mode, ignore PNG mode) of the end-to-end rows
    "320x240 gray PNGs": (320, 240, "L", "L"),
    "1600x1066 1-bit masks + RGB ignore PNGs, as the real OpenImages sample": (1600, 1066, "1", "RGB"),
}


def write_openimages_set(folder: Path, count: int, masks_as: tuple[int, int, str, str] = MASK_FILES["320x240 gray PNGs"]
                         ) -> list[str]:
    """`count` images in wsolevaluation's OpenImages layout under `folder` (metadata/, masks/, scoremaps/), the
    masks written at `masks_as` = (width, height, foreground mode, ignore mode) with nearest neighbour."""
    from PIL import Image

    width, height, *modes = masks_as

    ids, rows = [], []
    for maps, foreground, ignore in batches(count):
        for k in range(len(maps)):
            image = f"test/c{len(ids) % 10}/img{len(ids)}.jpg"
            stem = image.removesuffix(".jpg")
            for suffix, mask, mode in (("mask", foreground[k], modes[0]), ("ignore", ignore[k], modes[1])):
                path = folder / "masks" / f"{stem}_{suffix}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                resized = Image.fromarray(255 * mask.astype(np.uint8)).resize((width, height), Image.NEAREST)
                resized.convert(mode).save(path)
            score = folder / "scoremaps" / f"{image}.npy"
            score.parent.mkdir(parents=True, exist_ok=True)
            np.save(score, maps[k].astype(np.float64))
            ids.append(image)
            rows.append(f"{image},{stem}_mask.png,{stem}_ignore.png")
    metadata = folder / "metadata"
    metadata.mkdir()
    metadata.joinpath("image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    metadata.joinpath("class_labels.txt").write_text("".join(f"{i},{n % 10}\n" for n, i in enumerate(ids)))
    metadata.joinpath("image_sizes.txt").write_text("".join(f"{i},224,224\n" for i in ids))
    metadata.joinpath("localization.txt").write_text("\n".join(rows) + "\n")
    return ids


def end_to_end(count: int, masks_as: str) -> None:
    """One row: `gwapbench evaluate` against MaskEvaluator on `count` images written to disk (MASK_FILES[masks_as]),
    and the CPU time of both (ours decodes masks in NUMBA_NUM_THREADS threads)."""
    import json
    import tempfile

    from click.testing import CliRunner

    from gwapbench.cli import cli
    from tests.wsol_reference import mask_evaluator

    with tempfile.TemporaryDirectory(prefix="bench-pxap-") as tmp:
        folder = Path(tmp)
        ids = write_openimages_set(folder, count, MASK_FILES[masks_as])
        start, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(invalid="ignore"):
            reference_pxap = mask_evaluator(wsolevaluation_source.source_dir(), folder / "metadata",
                                            folder / "masks", folder / "scoremaps", ids)[0] / 100
        reference_s, reference_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        result = CliRunner().invoke(cli, ["evaluate", "--heatmaps", str(folder / "scoremaps"), "--wsol-metadata",
                                          str(folder / "metadata"), "--mask-root", str(folder / "masks"),
                                          "--out", str(folder / "out")])
        ours_s, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
        if result.exit_code != 0:
            raise SystemExit(result.output)
        ours_pxap = json.loads((folder / "out" / "metrics.json").read_text())["metrics"]["pxap"]
    if abs(ours_pxap - reference_pxap) > 1e-12:
        raise SystemExit(f"end to end: PxAP {ours_pxap} vs wsolevaluation's {reference_pxap}")
    print_row(f"evaluate end to end, .npy maps, {masks_as} ({count:,} maps, extrapolated)", ours_s * MAPS / count,
              reference_s * MAPS / count, "MaskEvaluator + CamDataset, same files")
    print(f"  CPU time of all threads per map: ours {1000 * ours_cpu / count:.2f} ms, "
          f"MaskEvaluator {1000 * reference_cpu / count:.2f} ms")


def run(quick: bool = False, full_run: bool = False) -> None:
    prefix = 200 if quick else 1_000
    ours_count = MAPS if full_run else (3_000 if quick else 10_000)
    reference_s, reference_pxap = reference(prefix)
    _, _, prefix_pxap, _ = ours(prefix)
    if abs(prefix_pxap - reference_pxap) > 1e-12:
        raise SystemExit(f"PxAP differs from wsolevaluation's on {prefix} maps: {prefix_pxap} vs {reference_pxap}")
    cpu, wall, value, peaks = ours(ours_count)
    scale = MAPS / ours_count
    kind = "measured" if ours_count == MAPS else f"{ours_count:,} maps, extrapolated"
    print_row(f"PxAP, {MAPS:,} maps 224x224 with ignore masks ({kind})", wall * scale,
              reference_s * MAPS / prefix, f"wsolevaluation MaskEvaluator ({prefix:,} maps, extrapolated)")
    print(f"  ours: {1000 * cpu / ours_count:.2f} ms CPU per map (all threads); PxAP {value:.4f}; peak RSS "
          f"{peaks[0]:.0f} MB after the first batch, {peaks[-1]:.0f} MB after map {ours_count:,}")
    end_to_end(200 if quick else 1_000, "320x240 gray PNGs")
    end_to_end(30 if quick else 200, "1600x1066 1-bit masks + RGB ignore PNGs, as the real OpenImages sample")


if __name__ == "__main__":
    run_script(run, __doc__.splitlines()[0], "200 reference maps, 3,000 of ours (extrapolated)",
               "all 30,000 maps of ours measured")
