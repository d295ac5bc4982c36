"""`gwapbench localize-error` end to end on the 50,000 ILSVRC2012 val images:
`python benchmarks/bench_localize_error.py [--quick]`.

A run is written into a temporary run store: config.json (an ILSVRC GoogLeNet-GWAP run) and
predictions.npz with seeded simulated logits (50,000 x 1000 float32, the true class on top for
about 70 % of the images) and 14x14 float16 weight maps, as a real run stores them. The timed
command is a fresh process: `gwapbench localize-error --run ID --wsol-metadata
../shared/data/ilsvrc2012_val_gt` (read the metadata, load the stored maps and logits, top-1/top-5
classification and localization error, GT-known accuracy, write CSV + JSON). Reference, in the
same run: the per-image loop of bench_localization (cv2.resize, scipy.ndimage.label, literal
IoU) on a 2,000-image prefix, extrapolated; the command's top-1 localization error on that
prefix must equal the loop's. A second row times the box step alone in-process
(`heatmaps_to_boxes` + `localization_error` on the same stored maps, as bench_localization), so
that command = box step + (process start, reading, the other metrics) can be read off.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, print_row, run_script  # noqa: E402
from bench_localization import ours_top1_error, reference_top1_error  # noqa: E402
from shared_data import shared_data  # noqa: E402

from gwapbench.config import DataConfig, RunConfig, data_fingerprint, run_id  # noqa: E402
from gwapbench.data.ilsvrc import read_synset_mapping, read_wsol_metadata  # noqa: E402
from gwapbench.config import ILSVRC_TASK  # noqa: E402
from gwapbench.engine.schedules import resolve_schedule  # noqa: E402
from gwapbench.engine.store import RunStore  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PREFIX = 2000


def write_run(store: RunStore, metadata: Path, samples: list, wnids: list[str], seed: int = 0) -> str:
    """A GoogLeNet-GWAP ILSVRC run holding simulated predictions; returns its id."""
    rng = np.random.default_rng(seed)
    labels = np.array([int(s.positive_classes[0]) for s in samples])
    logits = rng.normal(size=(len(samples), len(wnids))).astype(np.float32)
    right = rng.random(len(samples)) < 0.7
    logits[np.flatnonzero(right), labels[right]] += 5
    maps = (rng.random((len(samples), 1, 14, 14), dtype=np.float32) ** 3).astype(np.float16)
    data = DataConfig("ilsvrc", str(metadata), tuple(wnids), "train", "val")
    config = RunConfig(data=data, net="googlenet", method="gwap", schedule="ilsvrc_paper", image_size=224,
                       task=ILSVRC_TASK)
    fingerprint = data_fingerprint([("test", samples)])
    run = store.run(run_id(config, fingerprint))
    run.create(config, fingerprint, resolve_schedule("ilsvrc_paper"))
    run.save_predictions({"image_ids": np.array([s.image_id for s in samples]), "logits": logits, "maps": maps,
                          "map_names": np.array(["alpha"])})
    return run.id


def localize_error(runs: Path, identifier: str, metadata: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "gwapbench", "localize-error", "--run", identifier, "--runs-dir", str(runs),
               "--wsol-metadata", str(metadata), "--out", str(out)]
    subprocess.run(command, check=True, cwd=REPO, capture_output=True, env={"PYTHONPATH": str(REPO),
                                                                           "PATH": "/usr/bin:/bin"})
    return json.loads((out / "localize_error.json").read_text())


def run(quick: bool) -> None:
    metadata = shared_data("ilsvrc2012_val_gt")
    wnids = read_synset_mapping(shared_data("ilsvrc2012_val_mini") / "ILSVRC" / "LOC_synset_mapping.txt")
    samples = read_wsol_metadata(metadata)
    count = PREFIX if quick else len(samples)
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs")
        full = write_run(store, metadata, samples[:count], wnids)
        started = time.perf_counter()
        metrics = localize_error(store.root, full, metadata, Path(tmp) / "out")
        ours_s = time.perf_counter() - started
        prefix = write_run(store, metadata, samples[:PREFIX], wnids)  # same seed: the same first rows
        sub = samples[:PREFIX]
        prefix_metrics = localize_error(store.root, prefix, metadata, Path(tmp) / "out-prefix")
        predictions = store.run(prefix).load_predictions()
        maps = predictions["maps"][:, 0].astype(np.float32)
        reference_s, loc_only = best_time(lambda: reference_top1_error(maps, sub), repeat=1)
        all_maps = store.run(full).load_predictions()["maps"][:, 0].astype(np.float32)
        boxes_s, _ = best_time(lambda: ours_top1_error(all_maps, samples[:count]), repeat=1)
    labels = np.array([int(s.positive_classes[0]) for s in sub])
    classified = predictions["logits"].argmax(axis=1) == labels
    # the loop scores boxes only; an image counts as localized when its class is also right
    reference = 100 * (1 - np.mean(classified & ~_loop_misses(maps, sub)))
    if abs(prefix_metrics["top1_loc_error"] - reference) > 1e-9:
        raise SystemExit(f"top-1 loc error differs: command {prefix_metrics['top1_loc_error']} vs loop {reference}")
    scale = count / PREFIX
    print_row(f"localize-error end to end, {count} val images (ref x{scale:g})", ours_s, reference_s * scale,
              "cv2.resize + ndimage.label loop (loc only)")
    print_row(f"box step alone in-process, {count} val images", boxes_s, ours_s, "the whole command (row above)")
    print(f"top-1 loc error {metrics['top1_loc_error']:.3f} %, top-5 {metrics['top5_loc_error']:.3f} %, "
          f"GT-known {metrics['gt_known_loc_accuracy']:.3f} %, inside the command {metrics['seconds']} s; "
          f"box-only error of the loop on the prefix {100 * loc_only:.2f} %")


def _loop_misses(maps: np.ndarray, samples: list) -> np.ndarray:
    """(N,) bool: the loop's box misses every GT box (IoU < 0.5), image by image."""
    return np.array([reference_top1_error(maps[i : i + 1], samples[i : i + 1]) == 1.0 for i in range(len(samples))])


if __name__ == "__main__":
    run_script(run, __doc__, f"{PREFIX} images instead of 50,000")
